# -*- coding: utf-8 -*-
# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pattern grammar of bcc's funccount, parsed into plain records.

    func, p::func              kernel function
    lib:func, p:lib:func       user function in a library (``c`` is libc) or program
    /path:func, p:/path:func   user function in the binary at /path
    t:category:event           tracepoint
    u:lib:probe, u:/path:probe USDT probe, any provider
    u:lib:provider:probe       USDT probe of one provider

Names are ``*`` wildcards (``*`` matches any run of characters, every other
character is literal); with ``regexp`` they are regular expressions.  Either
way a name must match whole: every matcher is anchored at both ends.  The
library is never a pattern: it is a name that is looked up, or a path.  Paths
may contain colons and spaces: a part that starts with ``/`` runs to the last
colon that leaves a name behind it.
"""

from __future__ import annotations

import re
import warnings

KERNEL = 'kernel'
USER = 'user'
TRACEPOINT = 'tracepoint'
USDT = 'usdt'

KINDS = (KERNEL, USER, TRACEPOINT, USDT)

MAX_PATTERN_LENGTH = 4096


class PatternError(ValueError):
    """A pattern that cannot be parsed; the message is one sentence for the user."""


class Pattern(object):
    """One parsed pattern.  ``library`` is None for kernel functions and tracepoints."""

    __slots__ = ('text', 'kind', 'library', 'category', 'provider', 'name', 'regexp',
                 '_name_re', '_category_re', '_provider_re')

    def __init__(self, text, kind, name, library=None, category=None, provider=None, regexp=False):
        self.text = text
        self.kind = kind
        self.library = library
        self.category = category
        self.provider = provider
        self.name = name
        self.regexp = regexp
        self._name_re = compile_matcher(name, regexp, text)
        self._category_re = compile_matcher(category, regexp, text) if category is not None else None
        self._provider_re = compile_matcher(provider, regexp, text) if provider is not None else None

    def matches_name(self, value):
        return self._name_re.fullmatch(value) is not None

    def matches_category(self, value):
        return self._category_re.fullmatch(value) is not None

    def matches_provider(self, value):
        return self._provider_re is None or self._provider_re.fullmatch(value) is not None

    @property
    def is_literal(self):
        """True when the pattern names exactly one thing (no wildcard, no regexp)."""
        parts = [self.name, self.category, self.provider]
        return not self.regexp and not any(p is not None and '*' in p for p in parts)

    def __repr__(self):
        return 'Pattern(%r, kind=%s, library=%r, category=%r, provider=%r, name=%r)' % (
            self.text, self.kind, self.library, self.category, self.provider, self.name)


def glob_to_regex(glob):
    """``*`` matches any run of characters; everything else is literal."""
    return '.*'.join(re.escape(part) for part in glob.split('*'))


def compile_matcher(part, regexp, text):
    source = part if regexp else glob_to_regex(part)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return re.compile(source, re.DOTALL)
    except (re.error, RecursionError, OverflowError, MemoryError, ValueError) as exc:
        raise PatternError('Pattern %r has an invalid regular expression %r (%s); fix it, or set regexp '
                           'to false to use * wildcards.' % (text, part, exc))


def split_parts(text, regexp, maxsplit=-1, from_right=False):
    """Split at ':'; in regexp mode not inside (...), [...] or after a backslash, so that
    (?:a|b) and [:alpha:] stay whole."""
    if not regexp:
        return text.rsplit(':', maxsplit) if from_right else text.split(':', maxsplit)
    cuts = []
    depth = 0
    in_class = False
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == '\\':
            escaped = True
        elif in_class:
            if char == ']':
                in_class = False
        elif char == '[':
            in_class = True
        elif char == '(':
            depth += 1
        elif char == ')':
            depth = max(0, depth - 1)
        elif char == ':' and depth == 0:
            cuts.append(i)
    if maxsplit >= 0:
        cuts = cuts[-maxsplit:] if from_right and maxsplit else cuts[:maxsplit] if maxsplit else []
    parts, last = [], 0
    for cut in cuts:
        parts.append(text[last:cut])
        last = cut + 1
    parts.append(text[last:])
    return parts


def parse(text, regexp=False):
    """Parse one pattern string into a Pattern, or raise PatternError."""
    if not isinstance(text, str):
        raise PatternError('Pattern %r is not a string; give each pattern as text such as vfs_read or '
                           't:sched:sched_switch.' % (text,))
    if not text.strip():
        raise PatternError('An empty pattern was given; give a function, t:category:event or u:library:probe.')
    if len(text) > MAX_PATTERN_LENGTH:
        raise PatternError('Pattern %r... is %d characters long, more than %d; shorten it.'
                           % (text[:40], len(text), MAX_PATTERN_LENGTH))
    if '\0' in text or '\n' in text:
        raise PatternError('Pattern %r contains a NUL or newline character; remove it.' % text)
    if text != text.strip():
        raise PatternError('Pattern %r has leading or trailing white space; remove it.' % text)

    kind_letter, rest = None, text
    top = split_parts(text, regexp)
    if len(top) == 2 and top[0] in ('t', 'u'):
        # bcc would read these as library "t" or "u"; nobody means that
        if text[0] == 't':
            raise PatternError('Tracepoint pattern %r must have the form t:category:event.' % text)
        raise PatternError('USDT pattern %r must have the form u:library:probe or u:library:provider:probe.' % text)
    if len(text) > 2 and text[1] == ':' and text[0] in 'ptu' and len(top) >= 3:
        kind_letter, rest = text[0], text[2:]

    if kind_letter == 't':
        parts = split_parts(rest, regexp)
        if len(parts) != 2:
            raise PatternError('Tracepoint pattern %r must have the form t:category:event.' % text)
        category, event = parts
        _require(text, category, 'tracepoint category')
        _require(text, event, 'tracepoint event')
        return Pattern(text, TRACEPOINT, event, category=category, regexp=regexp)

    if kind_letter == 'u':
        if rest.startswith('/'):
            # a provider never contains '/', so u:/a:b/c:probe keeps the colon in the path
            pieces = split_parts(rest, regexp, 2, from_right=True)
            if len(pieces) == 3 and '/' in pieces[1]:
                pieces = split_parts(rest, regexp, 1, from_right=True)
        else:
            pieces = split_parts(rest, regexp)
        if len(pieces) == 2:
            library, provider, name = pieces[0], None, pieces[1]
        elif len(pieces) == 3:
            library, provider, name = pieces
        else:
            raise PatternError('USDT pattern %r must have the form u:library:probe or '
                               'u:library:provider:probe.' % text)
        _require(text, library, 'library or binary')
        if provider is not None:
            _require(text, provider, 'USDT provider')
        _require(text, name, 'USDT probe name')
        return Pattern(text, USDT, name, library=library, provider=provider, regexp=regexp)

    # p:... or no type letter: a kernel or user function
    if rest.startswith('/'):
        pieces = split_parts(rest, regexp, 1, from_right=True)
        if len(pieces) != 2:
            raise PatternError('Pattern %r names a path but no function; use /path/to/binary:function.' % text)
        library, name = pieces
    else:
        pieces = split_parts(rest, regexp)
        if kind_letter == 'p' and len(pieces) == 2:
            library, name = pieces
        elif kind_letter is None and len(pieces) == 1:
            library, name = '', pieces[0]
        elif kind_letter is None and len(pieces) == 2:
            library, name = pieces
        elif kind_letter is None and len(pieces) == 3:
            raise PatternError('Pattern %r has an unknown type %r; the type must be p (function), '
                               't (tracepoint) or u (USDT).' % (text, pieces[0]))
        else:
            raise PatternError('Pattern %r has too many :-separated parts; use func, lib:func, '
                               't:category:event or u:lib:probe.' % text)
    _require(text, name, 'function name')
    if library != '':
        _require(text, library, 'library or binary')
    if library == '':
        return Pattern(text, KERNEL, name, regexp=regexp)
    return Pattern(text, USER, name, library=library, regexp=regexp)


def _require(text, value, what):
    if value is None or value == '':
        raise PatternError('Pattern %r has an empty %s.' % (text, what))
    if value != value.strip():
        raise PatternError('Pattern %r has white space around its %s %r; remove it.' % (text, what, value))


def parse_all(texts, regexp=False):
    """Parse a list of pattern strings; duplicates are kept once, in order."""
    seen = set()
    result = []
    for text in texts:
        pattern = parse(text, regexp)
        if text in seen:
            continue
        seen.add(text)
        result.append(pattern)
    return result
