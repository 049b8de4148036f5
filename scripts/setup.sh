#!/usr/bin/env bash
# Set up this checkout for development and tests (run by `make setup`).
# Idempotent; a repeat run only checks and finishes in a few seconds.
#
#  1. apt packages listed in scripts/apt-packages.txt (skipped when all are installed)
#  2. /lib/modules/$(uname -r)/{build,source} links to Debian's kernel headers, when missing
#  3. tracefs at /sys/kernel/tracing and debugfs at /sys/kernel/debug, when not mounted
#  4. .venv from Debian's /usr/bin/python3 with --system-site-packages (so bcc imports),
#     with requirements-dev.txt installed (again only when that file changes)
#  5. build/collections/ansible_collections/ebpf/bcc -> this checkout
#  6. the ansible-test offline pip bootstrap (scripts/ansible-test-offline.sh)
#
# Steps 1-3 need root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
SYSTEM_PYTHON=/usr/bin/python3
VENV=$root/.venv
STAMP=$VENV/.requirements-dev.sha256

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

# --- 2. kernel header links for bcc -------------------------------------------
modules=/lib/modules/$(uname -r)
if [[ -e $modules/build || -L $modules/build ]]; then
    say "kernel headers: $modules/build exists, left as is"
else
    need_root "linking kernel headers"
    # newest Debian header tree, e.g. /usr/src/linux-headers-6.1.0-57-amd64
    build=$(printf '%s\n' /usr/src/linux-headers-*-amd64 | sort -V | tail -n 1)
    [[ -d $build ]] || die "no /usr/src/linux-headers-*-amd64; is linux-headers-amd64 installed?"
    mkdir -p "$modules"
    ln -s "$build" "$modules/build"
    say "kernel headers: $modules/build -> $build"
fi
if [[ -e $modules/source || -L $modules/source ]]; then
    say "kernel headers: $modules/source exists, left as is"
else
    # Debian splits headers: kconfig.h and friends live in the -common tree.
    build=$(readlink -f "$modules/build")
    common=${build%-amd64}-common
    [[ $build == *-amd64 && -d $common ]] || die "$modules/source is missing and $build has no matching -common tree"
    need_root "linking kernel headers"
    ln -s "$common" "$modules/source"
    say "kernel headers: $modules/source -> $common"
fi

# --- 3. tracefs and debugfs ---------------------------------------------------
mount_fs() {  # type dir
    if mountpoint -q "$2"; then
        say "$1: mounted at $2"
    else
        need_root "mounting $1"
        mkdir -p "$2" 2>/dev/null || true
        mount -t "$1" nodev "$2"
        say "$1: mounted at $2 now"
    fi
}
mount_fs debugfs /sys/kernel/debug
mount_fs tracefs /sys/kernel/tracing

# --- 4. virtualenv --------------------------------------------------------------
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
"$VENV/bin/python" -c 'import bcc' 2>/dev/null \
    || die ".venv/bin/python cannot import bcc; is python3-bpfcc installed and .venv made with --system-site-packages?"

want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
    say "requirements-dev.txt: unchanged since last install"
else
    say "pip install -r requirements-dev.txt"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    echo "$want" > "$STAMP"
fi

# --- 5. collection tree -----------------------------------------------------------
link=build/collections/ansible_collections/ebpf/bcc
if [[ $(readlink -f "$link" 2>/dev/null) != "$root" ]]; then
    mkdir -p "$(dirname "$link")"
    rm -f "$link"
    ln -s ../../../.. "$link"
    [[ $(readlink -f "$link") == "$root" ]] || die "$link does not resolve to $root"
fi
say "collection: $link -> $(readlink -f "$link")"

# --- 6. ansible-test without the network ---------------------------------------------
scripts/ansible-test-offline.sh "$VENV/bin/python"

say "done"
