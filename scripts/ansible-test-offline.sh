#!/usr/bin/env bash
# Let `ansible-test sanity` bootstrap pip in its per-test virtualenvs without
# the network host it normally downloads get-pip.py from (not reachable here).
#
# ansible-test looks for ~/.ansible/test/cache/get_pip_<version>.py before it
# downloads anything. This writes a stand-in there that installs pip from the
# PyPI wheel of that version, fetched once with `pip download`.
#
# Usage: scripts/ansible-test-offline.sh [PYTHON]   (default .venv/bin/python)
# Idempotent: does nothing when the wheel and the stand-in are already there.
set -euo pipefail

py=${1:-.venv/bin/python}
cache="$HOME/.ansible/test/cache"

# The pip version ansible-test bootstraps, asked from the installed ansible-test.
pip_version=$("$py" - <<'PYEOF'
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])
PYEOF
) || { echo "ansible-test-offline: cannot ask $py which pip version ansible-test wants (is ansible-core installed?)" >&2; exit 1; }

wheel="$cache/pip-$pip_version-py3-none-any.whl"
script="$cache/get_pip_${pip_version//./_}.py"
mkdir -p "$cache"

if [[ ! -f $wheel ]]; then
    echo "ansible-test-offline: downloading the pip $pip_version wheel into $cache"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache" "pip==$pip_version"
    [[ -f $wheel ]] || { echo "ansible-test-offline: pip download did not produce $wheel" >&2; exit 1; }
fi

content=$(cat <<PYEOF
# Offline stand-in for get-pip.py, written by ebpf.bcc scripts/ansible-test-offline.sh.
# ansible-test runs it as "python get_pip.py [pip options] pip==$pip_version [--no-setuptools] [--no-wheel]".
"""Install pip $pip_version from the wheel beside this file, without network access."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = os.path.join(HERE, "pip-$pip_version-py3-none-any.whl")


def main():
    # get-pip.py's own flags; plain pip does not know them.
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    sys.path.insert(0, WHEEL)
    from pip._internal.cli.main import main as pip_main

    return pip_main(["install", "--no-index", "--find-links", HERE, "--upgrade", "--force-reinstall"] + args)


if __name__ == "__main__":
    sys.exit(main())
PYEOF
)

if [[ ! -f $script ]] || [[ "$(cat "$script")" != "$content" ]]; then
    printf '%s\n' "$content" > "$script"
    echo "ansible-test-offline: wrote $script"
fi
