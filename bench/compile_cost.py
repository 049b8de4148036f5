# Copyright: ebpf.bcc contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time bcc's compile of our counting program against upstream funccount's program.

    PYTHONPATH=<collections dir> /usr/bin/python3 bench/compile_cost.py \\
        --nprobes 1 --upstream-program FILE --repeat 5

FILE holds the C text that `funccount-bpfcc -D` printed for the same pattern.
The two compiles alternate, each followed by BPF.cleanup(); nothing is
attached.  Prints one JSON object: {"ours": [seconds...], "upstream": [...]}.
"""

import argparse
import json
import sys
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
    for dummy in range(args.repeat):
        t0 = time.monotonic()
        compiled = _bcc.compile_program(args.nprobes)
        out['ours'].append(time.monotonic() - t0)
        compiled.close()
        t0 = time.monotonic()
        bpf = BPF(text=upstream)
        out['upstream'].append(time.monotonic() - t0)
        bpf.cleanup()
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
