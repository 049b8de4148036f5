# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small reader for the parts of ELF files that probing needs.

Function symbols (.symtab and .dynsym) and USDT notes (.note.stapsdt), with
the file offsets that uprobes take.  Pure Python, 64-bit little and big
endian; it never executes or maps the file.
"""

from __future__ import annotations

import struct

STT_FUNC = 2
STT_GNU_IFUNC = 10
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_DYNSYM = 11
PT_LOAD = 1
SHN_UNDEF = 0
NT_STAPSDT = 3
EM_X86_64 = 62
SHT_GNU_VERSYM = 0x6fffffff
VERSYM_HIDDEN = 0x8000


class ElfError(Exception):
    """The file is not an ELF file this reader understands."""


class Symbol(object):
    __slots__ = ('name', 'value', 'size', 'ifunc')

    def __init__(self, name, value, size, ifunc):
        self.name = name
        self.value = value
        self.size = size
        self.ifunc = ifunc


class Note(object):
    """One USDT probe location."""
    __slots__ = ('provider', 'name', 'pc', 'semaphore')

    def __init__(self, provider, name, pc, semaphore):
        self.provider = provider
        self.name = name
        self.pc = pc
        self.semaphore = semaphore


class ElfFile(object):
    def __init__(self, path):
        self.path = path
        try:
            with open(path, 'rb') as handle:
                self.data = handle.read()
        except OSError as exc:
            raise ElfError('cannot read %s: %s' % (path, exc.strerror))
        try:
            self._parse_headers(path)
        except (struct.error, IndexError, ValueError):
            raise ElfError('%s is a truncated or damaged ELF file' % path)

    def _parse_headers(self, path):
        data = self.data
        if len(data) < 64 or data[:4] != b'\x7fELF':
            raise ElfError('%s is not an ELF file' % path)
        if data[4] != 2:
            raise ElfError('%s is a 32-bit ELF file; only 64-bit files are supported' % path)
        self.end = '<' if data[5] == 1 else '>'
        (self.e_type, self.machine, _version, _entry, phoff, shoff, _flags, _ehsize,
         phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from(self.end + 'HHIQQQIHHHHHH', data, 16)
        self.segments = []
        for i in range(phnum):
            p_type, _pf, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = struct.unpack_from(
                self.end + 'IIQQQQQQ', data, phoff + i * phentsize)
            if p_type == PT_LOAD:
                self.segments.append((p_vaddr, p_memsz, p_offset, p_filesz))
        self.sections = []
        for i in range(shnum):
            self.sections.append(struct.unpack_from(self.end + 'IIQQQQIIQQ', data, shoff + i * shentsize))
        self.shstr = self.sections[shstrndx] if shstrndx < len(self.sections) else None

    def _cstr(self, offset):
        end = self.data.index(b'\0', offset)
        return self.data[offset:end].decode('utf-8', 'replace')

    def section_name(self, sec):
        return self._cstr(self.shstr[4] + sec[0]) if self.shstr else ''

    def section(self, name):
        for sec in self.sections:
            if self.section_name(sec) == name:
                return sec
        return None

    def first_bytes(self, offset, count=4):
        return bytes(self.data[offset:offset + count])

    def vaddr_to_offset(self, vaddr):
        for p_vaddr, p_memsz, p_offset, _filesz in self.segments:
            if p_vaddr <= vaddr < p_vaddr + p_memsz:
                return vaddr - p_vaddr + p_offset
        return None

    def functions(self):
        """Defined function symbols, one per name, from .symtab and .dynsym.

        A name with several symbol versions (memcpy@GLIBC_2.2.5 and memcpy@@GLIBC_2.14)
        resolves to the default version, the one programs link against."""
        try:
            return self._functions()
        except (struct.error, IndexError, ValueError):
            raise ElfError('%s has a damaged symbol table' % self.path)

    def _functions(self):
        found = {}
        hidden_names = set()
        versym = None
        for sec in self.sections:
            if sec[1] == SHT_GNU_VERSYM:
                versym = sec
        for sec in self.sections:
            if sec[1] not in (SHT_SYMTAB, SHT_DYNSYM):
                continue
            _name, _type, _flags, _addr, offset, size, link, _info, _align, entsize = sec
            if not entsize or link >= len(self.sections):
                continue
            strtab = self.sections[link][4]
            for number, pos in enumerate(range(offset, offset + size, entsize)):
                st_name, st_info, _other, st_shndx, st_value, st_size = struct.unpack_from(
                    self.end + 'IBBHQQ', self.data, pos)
                kind = st_info & 0xf
                if kind not in (STT_FUNC, STT_GNU_IFUNC) or st_shndx == SHN_UNDEF or not st_value:
                    continue
                name = self._cstr(strtab + st_name)
                if not name:
                    continue
                hidden = False
                if sec[1] == SHT_DYNSYM and versym is not None:
                    hidden = bool(struct.unpack_from(self.end + 'H', self.data, versym[4] + 2 * number)[0]
                                  & VERSYM_HIDDEN)
                if name in found and not (name in hidden_names and not hidden):
                    continue
                found[name] = Symbol(name, st_value, st_size, kind == STT_GNU_IFUNC)
                if hidden:
                    hidden_names.add(name)
                else:
                    hidden_names.discard(name)
        return found

    def usdt_notes(self):
        """USDT probe locations with pc and semaphore as virtual addresses, prelink-adjusted."""
        try:
            return self._usdt_notes()
        except (struct.error, IndexError, ValueError):
            raise ElfError('%s has damaged USDT notes' % self.path)

    def _usdt_notes(self):
        notes = []
        base_sec = self.section('.stapsdt.base')
        for sec in self.sections:
            if sec[1] != SHT_NOTE or self.section_name(sec) != '.note.stapsdt':
                continue
            pos, end = sec[4], sec[4] + sec[5]
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from(self.end + 'III', self.data, pos)
                name_off = pos + 12
                desc_off = name_off + ((namesz + 3) & ~3)
                pos = desc_off + ((descsz + 3) & ~3)
                if ntype != NT_STAPSDT or self.data[name_off:name_off + namesz].rstrip(b'\0') != b'stapsdt':
                    continue
                pc, base, sem = struct.unpack_from(self.end + 'QQQ', self.data, desc_off)
                strings = self.data[desc_off + 24:desc_off + descsz].split(b'\0')
                if len(strings) < 2:
                    continue
                if base_sec is not None and base:
                    delta = base_sec[3] - base
                    pc += delta
                    if sem:
                        sem += delta
                notes.append(Note(strings[0].decode('utf-8', 'replace'),
                                  strings[1].decode('utf-8', 'replace'), pc, sem))
        return notes
