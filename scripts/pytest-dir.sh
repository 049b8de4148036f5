#!/usr/bin/env bash
# Run pytest on one test directory for a make target:
#   scripts/pytest-dir.sh NAME DIR [pytest args...]
# - uses .venv/bin/python (Debian's python3 + system site-packages: bcc imports);
# - exit code 5 ("no tests collected") passes only while DIR holds no test
#   files (test_*.py / *_test.py); any other failure fails;
# - keeps the output in build/test-logs/NAME.log and pytest's summary line in
#   build/test-logs/NAME.summary for the recap at the end of `make test`.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
name=$1 dir=$2
shift 2
logs=build/test-logs
mkdir -p "$logs"
rm -f "$logs/$name.summary"

if [[ ! -d $dir ]]; then
    echo "$name: $dir does not exist yet: no tests to run" | tee "$logs/$name.summary"
    exit 0
fi

.venv/bin/python -m pytest "$dir" "$@" 2>&1 | tee "$logs/$name.log"
rc=${PIPESTATUS[0]}

# pytest's last "N passed ... in Xs" / "no tests ran in Xs" line, without the ='s
summary=$(grep -E '^=* ?(no tests ran|[0-9]+ [a-z]+.*) in [0-9.]+s' "$logs/$name.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
echo "$name: ${summary:-pytest printed no summary line (exit $rc)}" > "$logs/$name.summary"

if [[ $rc -eq 5 ]]; then
    tests=$(find "$dir" -type f \( -name 'test_*.py' -o -name '*_test.py' \) | head -n 1)
    if [[ -z $tests ]]; then
        echo "$name: $dir holds no test files yet; pytest's exit 5 (no tests collected) accepted"
        echo "$name: no test files in $dir yet" > "$logs/$name.summary"
        exit 0
    fi
    echo "$name: pytest collected no tests although $dir has test files (e.g. $tests)" >&2
fi
exit "$rc"
