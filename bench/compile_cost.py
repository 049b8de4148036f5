# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time bcc's compile of our counting program against upstream funccount's program.

    PYTHONPATH=<collections dir> /usr/bin/python3 bench/compile_cost.py \\
        --nprobes 1 --upstream-program FILE --repeat 5

FILE holds the C text that `funccount-bpfcc -D` printed for the same pattern.
The two compiles alternate, each followed by BPF.cleanup(); nothing is
attached.  When the engine has a per-host program cache (_bcc.CACHE_DIR), ours
is compiled into a fresh empty cache directory each time ("ours", a compiler
run) and then loaded again from it ("ours_cached").  Prints one JSON object:
{"ours": [seconds...], "ours_cached": [...], "upstream": [...]}.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--nprobes', type=int, required=True)
    ap.add_argument('--upstream-program', required=True)
    ap.add_argument('--repeat', type=int, default=5)
    args = ap.parse_args(argv)

    from bcc import BPF
    from ansible_collections.ebpf.bcc.plugins.module_utils import _bcc

    with open(args.upstream_program, 'rb') as f:
        upstream = f.read()
    out = {'ours': [], 'upstream': []}
    has_cache = hasattr(_bcc, 'CACHE_DIR')
    if has_cache:
        out['ours_cached'] = []
    for dummy in range(args.repeat):
        cache = tempfile.mkdtemp(prefix='ebpf-bcc-bench-cache-') if has_cache else None
        try:
            if cache:
                _bcc.CACHE_DIR = cache
            t0 = time.monotonic()
            compiled = _bcc.compile_program(args.nprobes)
            out['ours'].append(time.monotonic() - t0)
            compiled.close()
            if cache:
                t0 = time.monotonic()
                compiled = _bcc.compile_program(args.nprobes)
                out['ours_cached'].append(time.monotonic() - t0)
                compiled.close()
        finally:
            if cache:
                shutil.rmtree(cache, ignore_errors=True)
        t0 = time.monotonic()
        bpf = BPF(text=upstream)
        out['upstream'].append(time.monotonic() - t0)
        bpf.cleanup()
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
