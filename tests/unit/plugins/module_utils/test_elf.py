# SPDX-License-Identifier: GPL-3.0-or-later
"""The ELF reader on real files (checked against readelf) and on small files built here."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess

import pytest

from ansible_collections.ebpf.bcc.plugins.module_utils import _elf

LIBC = '/lib/x86_64-linux-gnu/libc.so.6'
PYTHON = '/usr/bin/python3.11'
X86_64 = os.uname().machine == 'x86_64'

needs_readelf = pytest.mark.skipif(not shutil.which('readelf'), reason='readelf (binutils) is the reference')
needs_libc = pytest.mark.skipif(not (X86_64 and os.path.isfile(LIBC)), reason='needs x86_64 glibc at ' + LIBC)
needs_python = pytest.mark.skipif(not os.path.isfile(PYTHON), reason='needs Debian python3.11 (built with USDT)')


def readelf(*args):
    return subprocess.run(['readelf', '-W'] + list(args), check=True, capture_output=True, text=True).stdout


def readelf_functions(path):
    """name -> [(value, is_ifunc, version, is_default)] for defined functions in .dynsym."""
    found = {}
    for line in readelf('--dyn-syms', path).splitlines():
        fields = line.split()
        if len(fields) < 8 or not fields[0].endswith(':') or fields[3] not in ('FUNC', 'IFUNC'):
            continue
        if fields[6] == 'UND' or int(fields[1], 16) == 0:
            continue
        match = re.match(r'([^@]+)(@@?)?(.*)', fields[7])
        found.setdefault(match.group(1), []).append(
            (int(fields[1], 16), fields[3] == 'IFUNC', match.group(3), match.group(2) in ('@@', None)))
    return found


# --- real files -----------------------------------------------------------------------

def test_bin_true():
    elf = _elf.ElfFile('/bin/true')
    assert elf.e_type == 3                      # a PIE is ET_DYN
    assert elf.end == '<'
    assert elf.functions() == {}                # stripped: only undefined imports in .dynsym
    assert elf.usdt_notes() == []
    entry = struct.unpack_from('<Q', elf.data, 24)[0]
    containing = [(vaddr, offset) for vaddr, memsz, offset, _filesz in elf.segments if vaddr <= entry < vaddr + memsz]
    assert len(containing) == 1
    vaddr, offset = containing[0]
    assert elf.vaddr_to_offset(entry) == entry - vaddr + offset


@needs_readelf
def test_segments_match_readelf():
    for path in ['/bin/true', PYTHON, LIBC]:
        if not os.path.isfile(path):
            continue
        loads = []
        for line in readelf('-l', path).splitlines():
            fields = line.split()
            if fields and fields[0] == 'LOAD':
                offset, vaddr, _paddr, filesz, memsz = (int(x, 16) for x in fields[1:6])
                loads.append((vaddr, memsz, offset, filesz))
        assert _elf.ElfFile(path).segments == loads, path


def test_vaddr_to_offset_in_a_segment_whose_offset_differs():
    elf = _elf.ElfFile('/bin/true')
    differs = [s for s in elf.segments if s[0] != s[2]]
    if not differs:
        pytest.skip('every PT_LOAD of /bin/true has vaddr == offset')
    vaddr, memsz, offset, _filesz = differs[0]
    assert elf.vaddr_to_offset(vaddr) == offset
    assert elf.vaddr_to_offset(vaddr + 8) == offset + 8
    assert elf.vaddr_to_offset(vaddr + memsz - 1) == offset + memsz - 1


def test_vaddr_to_offset_outside_every_segment():
    elf = _elf.ElfFile('/bin/true')
    end = max(v + m for v, m, _o, _f in elf.segments)
    assert elf.vaddr_to_offset(end + 0x100000) is None
    assert elf.vaddr_to_offset(2 ** 63) is None


@needs_libc
def test_libc_functions():
    elf = _elf.ElfFile(LIBC)
    functions = elf.functions()
    assert {'malloc', 'free', 'strlen', 'memset', 'open', 'read'} <= set(functions)
    assert functions['strlen'].ifunc is True
    assert functions['malloc'].ifunc is False
    assert functions['free'].ifunc is False
    assert functions['malloc'].name == 'malloc'
    assert functions['malloc'].size > 0
    assert 'stdout' not in functions             # an object, not a function
    for name in ('malloc', 'free', 'strlen'):
        offset = elf.vaddr_to_offset(functions[name].value)
        text = [s for s in elf.segments if s[0] <= functions[name].value < s[0] + s[3]]
        assert len(text) == 1
        assert offset == functions[name].value - text[0][0] + text[0][2]


@needs_libc
@needs_readelf
def test_libc_functions_with_one_version_match_readelf():
    functions = _elf.ElfFile(LIBC).functions()
    reference = readelf_functions(LIBC)
    single = {name: entries[0] for name, entries in reference.items() if len(entries) == 1}
    assert len(single) > 2000
    assert {name: (functions[name].value, functions[name].ifunc) for name in single if name in functions} == {
        name: (value, ifunc) for name, (value, ifunc, _ver, _default) in single.items()}


@needs_libc
@needs_readelf
def test_libc_functions_with_several_versions_use_the_default_version():
    # memcpy@GLIBC_2.2.5 is a compat FUNC; programs linked since glibc 2.14 call memcpy@@GLIBC_2.14, an IFUNC
    functions = _elf.ElfFile(LIBC).functions()
    reference = readelf_functions(LIBC)
    wrong = {}
    for name, entries in reference.items():
        defaults = [(value, ifunc) for value, ifunc, _ver, is_default in entries if is_default]
        if len(entries) > 1 and len(defaults) == 1 and name in functions:
            if (functions[name].value, functions[name].ifunc) != defaults[0]:
                wrong[name] = (hex(functions[name].value), [hex(d[0]) for d in defaults])
    assert wrong == {}
    functions_memcpy = functions['memcpy']
    assert functions_memcpy.ifunc is True


@needs_python
def test_python_usdt_notes():
    notes = _elf.ElfFile(PYTHON).usdt_notes()
    by_name = {(n.provider, n.name): n for n in notes}
    assert ('python', 'gc__start') in by_name
    assert ('python', 'function__entry') in by_name
    gc_start = by_name[('python', 'gc__start')]
    assert gc_start.semaphore != 0
    elf = _elf.ElfFile(PYTHON)
    probes = elf.section('.probes')
    assert probes is not None
    assert probes[3] <= gc_start.semaphore < probes[3] + probes[5]     # the semaphore lives in .probes
    assert elf.vaddr_to_offset(gc_start.pc) is not None
    assert elf.vaddr_to_offset(gc_start.semaphore) is not None


@needs_python
@needs_readelf
def test_python_usdt_notes_match_readelf():
    expected = []
    provider = name = None
    # without -W: with it, readelf puts "Provider:" on the line of the note header
    text = subprocess.run(['readelf', '-n', PYTHON], check=True, capture_output=True, text=True).stdout
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('Provider:'):
            provider = line.split(None, 1)[1]
        elif line.startswith('Name:'):
            name = line.split(None, 1)[1]
        elif line.startswith('Location:'):
            values = dict(part.strip().split(': ') for part in line.split(', '))
            # no prelinking: the base in the note is the address of .stapsdt.base
            expected.append((provider, name, int(values['Location'], 16), int(values['Semaphore'], 16)))
    got = [(n.provider, n.name, n.pc, n.semaphore) for n in _elf.ElfFile(PYTHON).usdt_notes()]
    assert got == expected
    assert len(got) >= 8


# --- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize('content,message', [
    (b'', '%s is not an ELF file'),
    (b'#!/bin/sh\necho hello, this is a script of at least sixty-four bytes in length\n', '%s is not an ELF file'),
    (b'\x7fELF\x02\x01\x01' + b'\0' * 20, '%s is not an ELF file'),          # shorter than a header
    (b'\x7fELF\x01\x01\x01' + b'\0' * 57, '%s is a 32-bit ELF file; only 64-bit files are supported'),
    (b'\x7fELF\x00\x01\x01' + b'\0' * 57, '%s is a 32-bit ELF file; only 64-bit files are supported'),
])
def test_elf_error(tmp_path, content, message):
    path = tmp_path / 'file'
    path.write_bytes(content)
    with pytest.raises(_elf.ElfError) as info:
        _elf.ElfFile(str(path))
    assert str(info.value) == message % path


def test_elf_error_missing_file(tmp_path):
    with pytest.raises(_elf.ElfError) as info:
        _elf.ElfFile(str(tmp_path / 'missing'))
    assert str(info.value) == 'cannot read %s: No such file or directory' % (tmp_path / 'missing')


def test_elf_error_directory(tmp_path):
    with pytest.raises(_elf.ElfError) as info:
        _elf.ElfFile(str(tmp_path))
    assert str(info.value) == 'cannot read %s: Is a directory' % tmp_path


def test_elf_error_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip('root reads every file')
    path = tmp_path / 'secret'
    path.write_bytes(b'\x7fELF')
    path.chmod(0)
    with pytest.raises(_elf.ElfError) as info:
        _elf.ElfFile(str(path))
    assert str(info.value) == 'cannot read %s: Permission denied' % path


@pytest.mark.parametrize('field', ['phoff', 'shoff'])
def test_truncated_elf_is_an_elf_error(tmp_path, field):
    header = bytearray(build_elf())
    struct.pack_into('<Q', header, 32 if field == 'phoff' else 40, 1 << 20)
    path = tmp_path / 'truncated'
    path.write_bytes(bytes(header))
    with pytest.raises(_elf.ElfError) as info:
        _elf.ElfFile(str(path))
    assert str(info.value) == '%s is a truncated or damaged ELF file' % path


def test_damaged_symbol_table_is_an_elf_error(tmp_path):
    data = bytearray(build_elf(symbols=SYMBOLS))
    elf = _elf.ElfFile(_write(tmp_path, data))
    dynsym_header = elf.sections[1]
    # .dynsym claims to run far past the end of the file
    shoff = struct.unpack_from('<Q', data, 40)[0]
    struct.pack_into('<Q', data, shoff + 64 + 32, dynsym_header[5] + (1 << 20))
    path = _write(tmp_path, data)
    with pytest.raises(_elf.ElfError) as info:
        _elf.ElfFile(path).functions()
    assert str(info.value) == '%s has a damaged symbol table' % path


def test_damaged_usdt_notes_are_an_elf_error(tmp_path):
    data = bytearray(build_elf(notes=[(0x401010, 0, 0, 'app', 'tick')]))
    shoff = struct.unpack_from('<Q', data, 40)[0]
    # .note.stapsdt (section 3) starts 4 bytes before the end of the file
    struct.pack_into('<Q', data, shoff + 3 * 64 + 24, len(data) - 4)
    path = _write(tmp_path, data)
    with pytest.raises(_elf.ElfError):
        _elf.ElfFile(path).usdt_notes()


def _write(tmp_path, data, name='built'):
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


# --- files built here ---------------------------------------------------------------------

STT_OBJECT = 1


def build_elf(endian='<', symbols=(), notes=(), stapsdt_base=None, segments=((0x400000, 0x10000, 0, 0x10000),),
              versions=None):
    """A minimal 64-bit ELF: PT_LOADs, .dynsym/.dynstr, optional .note.stapsdt, .stapsdt.base, .gnu.version.

    symbols: (name, type, shndx, value); notes: (pc, base, semaphore, provider, name);
    versions: one .gnu.version entry per symbol (0x8000 marks a hidden, non-default version)."""
    shstr = b'\0.dynsym\0.dynstr\0.note.stapsdt\0.stapsdt.base\0.shstrtab\0'
    names = {n: shstr.index(n.encode() + b'\0') for n in ('.dynsym', '.dynstr', '.note.stapsdt', '.stapsdt.base',
                                                          '.shstrtab')}
    dynstr = b'\0'
    syms = b'\0' * 24
    for name, kind, shndx, value in symbols:
        offset = len(dynstr)
        dynstr += name.encode() + b'\0'
        syms += struct.pack(endian + 'IBBHQQ', offset, (1 << 4) | kind, 0, shndx, value, 16)
    note_blob = b''
    for pc, base, sem, provider, name in notes:
        desc = struct.pack(endian + 'QQQ', pc, base, sem) + provider.encode() + b'\0' + name.encode() + b'\0' + b'\0'
        pad = b'\0' * ((4 - len(desc) % 4) % 4)
        note_blob += struct.pack(endian + 'III', 8, len(desc), 3) + b'stapsdt\0' + desc + pad
    phoff = 64
    body = bytearray(b'\0' * (phoff + 56 * len(segments)))
    blobs = {}
    versym = b''
    if versions is not None:
        versym = struct.pack(endian + 'H', 0) + b''.join(struct.pack(endian + 'H', v) for v in versions)
    for key, blob in (('dynsym', syms), ('dynstr', dynstr), ('note', note_blob), ('shstr', shstr),
                      ('versym', versym)):
        while len(body) % 8:
            body += b'\0'
        blobs[key] = len(body)
        body += blob
    while len(body) % 8:
        body += b'\0'
    shoff = len(body)
    sections = [
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (names['.dynsym'], 11, 2, 0, blobs['dynsym'], len(syms), 2, 1, 8, 24),
        (names['.dynstr'], 3, 2, 0, blobs['dynstr'], len(dynstr), 0, 0, 1, 0),
        (names['.note.stapsdt'], 7, 0, 0, blobs['note'], len(note_blob), 0, 0, 4, 0),
        (names['.shstrtab'], 3, 0, 0, blobs['shstr'], len(shstr), 0, 0, 1, 0),
    ]
    if stapsdt_base is not None:
        sections.append((names['.stapsdt.base'], 1, 2, stapsdt_base, 0, 1, 0, 0, 1, 0))
    if versions is not None:
        sections.append((0, 0x6fffffff, 2, 0, blobs['versym'], len(versym), 1, 0, 2, 2))
    for sec in sections:
        body += struct.pack(endian + 'IIQQQQIIQQ', *sec)
    ident = b'\x7fELF' + bytes([2, 1 if endian == '<' else 2, 1]) + b'\0' * 9
    header = ident + struct.pack(endian + 'HHIQQQIHHHHHH', 3, 62, 1, 0x401000, phoff, shoff, 0, 64, 56,
                                 len(segments), 64, len(sections), 4)
    body[0:64] = header
    for i, (vaddr, memsz, offset, filesz) in enumerate(segments):
        struct.pack_into(endian + 'IIQQQQQQ', body, phoff + 56 * i, 1, 5, offset, vaddr, vaddr, filesz, memsz,
                         0x1000)
    return bytes(body)


SYMBOLS = [
    ('main', _elf.STT_FUNC, 1, 0x401000),
    ('fast_copy', _elf.STT_GNU_IFUNC, 1, 0x401100),
    ('imported', _elf.STT_FUNC, 0, 0),               # undefined: skipped
    ('weird', _elf.STT_FUNC, 1, 0),                  # no address: skipped
    ('counter', STT_OBJECT, 1, 0x402000),            # not a function
    ('main', _elf.STT_FUNC, 1, 0x409999),            # second entry for the same name: the first wins
    ('', _elf.STT_FUNC, 1, 0x401200),                # no name: skipped
]


@pytest.mark.parametrize('endian', ['<', '>'])
def test_built_functions(tmp_path, endian):
    path = tmp_path / 'built'
    path.write_bytes(build_elf(endian, symbols=SYMBOLS))
    elf = _elf.ElfFile(str(path))
    assert elf.end == endian
    assert {n: (s.value, s.size, s.ifunc) for n, s in elf.functions().items()} == {
        'main': (0x401000, 16, False),
        'fast_copy': (0x401100, 16, True),
    }


@pytest.mark.parametrize('endian', ['<', '>'])
def test_built_segments_and_offsets(tmp_path, endian):
    path = tmp_path / 'built'
    path.write_bytes(build_elf(endian, segments=((0x400000, 0x1000, 0, 0x1000), (0x601000, 0x3000, 0x1000, 0x800))))
    elf = _elf.ElfFile(str(path))
    assert elf.segments == [(0x400000, 0x1000, 0, 0x1000), (0x601000, 0x3000, 0x1000, 0x800)]
    assert [elf.vaddr_to_offset(v) for v in (0x400000, 0x400fff, 0x401000, 0x601000, 0x601010, 0x603fff, 0x604000)] \
        == [0, 0xfff, None, 0x1000, 0x1010, 0x3fff, None]


@pytest.mark.parametrize('endian', ['<', '>'])
def test_built_usdt_notes(tmp_path, endian):
    path = tmp_path / 'built'
    path.write_bytes(build_elf(endian, notes=[(0x401010, 0x500000, 0x602000, 'app', 'tick'),
                                              (0x401020, 0x500000, 0, 'app', 'tock')],
                               stapsdt_base=0x500000))
    notes = _elf.ElfFile(str(path)).usdt_notes()
    assert [(n.provider, n.name, n.pc, n.semaphore) for n in notes] == [
        ('app', 'tick', 0x401010, 0x602000), ('app', 'tock', 0x401020, 0)]


def test_built_usdt_notes_prelink_adjusted(tmp_path):
    # the note was written for .stapsdt.base at 0x500000; the file now has it at 0x500100
    path = tmp_path / 'built'
    path.write_bytes(build_elf(notes=[(0x401010, 0x500000, 0x602000, 'app', 'tick'),
                                      (0x401020, 0x500000, 0, 'app', 'tock')],
                               stapsdt_base=0x500100))
    notes = _elf.ElfFile(str(path)).usdt_notes()
    assert [(n.name, n.pc, n.semaphore) for n in notes] == [('tick', 0x401110, 0x602100), ('tock', 0x401120, 0)]


def test_built_usdt_notes_without_base_section_are_not_adjusted(tmp_path):
    path = tmp_path / 'built'
    path.write_bytes(build_elf(notes=[(0x401010, 0x500000, 0x602000, 'app', 'tick')]))
    notes = _elf.ElfFile(str(path)).usdt_notes()
    assert [(n.name, n.pc, n.semaphore) for n in notes] == [('tick', 0x401010, 0x602000)]


@pytest.mark.parametrize('versions,chosen', [
    ([0x8002, 0x0003], 0x401000 + 0x100),      # compat first, default second: the default
    ([0x0003, 0x8002], 0x401000),              # default first: kept
    ([0x8002, 0x8003], 0x401000),              # no default: the first
    ([0x0002, 0x0003], 0x401000),              # two defaults (should not happen): the first
    (None, 0x401000),                          # no .gnu.version: the first
])
def test_built_symbol_versions(tmp_path, versions, chosen):
    symbols = [('memcpy', _elf.STT_FUNC, 1, 0x401000), ('memcpy', _elf.STT_GNU_IFUNC, 1, 0x401100)]
    elf = _elf.ElfFile(_write(tmp_path, build_elf(symbols=symbols, versions=versions)))
    memcpy = elf.functions()['memcpy']
    assert (memcpy.value, memcpy.ifunc) == (chosen, chosen == 0x401100)


def test_built_without_notes(tmp_path):
    path = tmp_path / 'built'
    path.write_bytes(build_elf(symbols=SYMBOLS))
    assert _elf.ElfFile(str(path)).usdt_notes() == []
