#!/usr/bin/env bash
# Set up this checkout for development and tests (run by `make setup`).
# Idempotent; a repeat run only checks and finishes in a few seconds.
#
#  1. apt packages listed in scripts/apt-packages.txt (skipped when all are installed):
#     what the .venv and the test tools need; bcc itself comes in step 4
#  2. .venv from Debian's /usr/bin/python3 with --system-site-packages (so bcc imports),
#     with requirements-dev.txt installed (again only when that file changes)
#  3. build/collections/ansible_collections/ebpf/bcc -> this checkout
#  4. playbooks/install.yml (the ebpf.bcc.install role) on localhost: bcc from Debian,
#     kernel headers (or links to the nearest ones), tracefs/debugfs, a real count;
#     skipped while the role is unchanged and its results are still in place
#  5. the ansible-test offline pip bootstrap (scripts/ansible-test-offline.sh)
#
# Steps 1 and 4 need root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
SYSTEM_PYTHON=/usr/bin/python3
VENV=$root/.venv
STAMP=$VENV/.requirements-dev.sha256
ROLE_STAMP=$VENV/.install-role.sha256

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
    [[ $EUID -eq 0 ]] || die "$1 needs root; run 'make setup' as root"
}

# --- 1. apt packages ---------------------------------------------------------
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/apt-packages.txt)
missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    need_root "installing ${missing[*]}"
    say "apt-get install ${missing[*]}"
    # Do not start daemons (openssh-server) at install time: tests run their own.
    temp_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        temp_policy=/usr/sbin/policy-rc.d
    fi
    trap '[[ -z $temp_policy ]] || rm -f "$temp_policy"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}" </dev/null
    if [[ -n $temp_policy ]]; then rm -f "$temp_policy"; temp_policy=; fi
else
    say "apt packages: all ${#packages[@]} installed"
fi

# --- 2. virtualenv --------------------------------------------------------------
[[ -x $SYSTEM_PYTHON ]] || die "$SYSTEM_PYTHON is missing (Debian's python3)"
# Recreate a .venv made from another interpreter or without system site-packages.
if [[ -e $VENV ]] && ! { grep -qx 'home = /usr/bin' "$VENV/pyvenv.cfg" \
        && grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg" \
        && [[ -x $VENV/bin/python ]]; } 2>/dev/null; then
    say ".venv was not made by '$SYSTEM_PYTHON -m venv --system-site-packages'; recreating it"
    rm -rf "$VENV"
fi
if [[ ! -x $VENV/bin/python ]]; then
    say "creating .venv from $SYSTEM_PYTHON"
    "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
fi

want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
    say "requirements-dev.txt: unchanged since last install"
else
    say "pip install -r requirements-dev.txt"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    echo "$want" > "$STAMP"
fi

# --- 3. collection tree -----------------------------------------------------------
link=build/collections/ansible_collections/ebpf/bcc
if [[ $(readlink -f "$link" 2>/dev/null) != "$root" ]]; then
    mkdir -p "$(dirname "$link")"
    rm -f "$link"
    ln -s ../../../.. "$link"
    [[ $(readlink -f "$link") == "$root" ]] || die "$link does not resolve to $root"
fi
say "collection: $link -> $(readlink -f "$link")"

# --- 4. bcc, kernel headers, tracefs: the ebpf.bcc.install role --------------------
# The role's own files, the kernel and the .venv's Ansible decide whether it must run
# again; so does anything it set up having gone (bcc, the headers link, the mounts).
role_state() {
    { find roles/install playbooks/install.yml -type f -print0 | sort -z | xargs -0 sha256sum
      uname -r; "$VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)'; } | sha256sum | cut -d' ' -f1
}
role_results_in_place() {
    "$SYSTEM_PYTHON" -c 'import bcc' 2>/dev/null \
        && [[ -d /lib/modules/$(uname -r)/build/ ]] \
        && mountpoint -q /sys/kernel/tracing && mountpoint -q /sys/kernel/debug
}
want_role=$(role_state)
if [[ -f $ROLE_STAMP && $(cat "$ROLE_STAMP") == "$want_role" ]] && role_results_in_place; then
    say "install role: unchanged since its last run, bcc imports, headers and tracefs in place"
else
    need_root "installing bcc and kernel headers"
    say "ansible-playbook playbooks/install.yml on localhost (the ebpf.bcc.install role)"
    rm -f "$ROLE_STAMP"
    ANSIBLE_COLLECTIONS_PATH=$root/build/collections ANSIBLE_NOCOLOR=1 \
        "$VENV/bin/ansible-playbook" -i localhost, -c local \
        -e ansible_python_interpreter="$SYSTEM_PYTHON" -e install_become=false \
        playbooks/install.yml
    echo "$want_role" > "$ROLE_STAMP"
fi
"$VENV/bin/python" -c 'import bcc' 2>/dev/null \
    || die ".venv/bin/python cannot import bcc; did the install role run, and was .venv made with --system-site-packages?"

# --- 5. ansible-test without the network ---------------------------------------------
scripts/ansible-test-offline.sh "$VENV/bin/python"

say "done"
