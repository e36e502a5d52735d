#!/bin/sh
# Builds gatehouse-example.wasm (a gatehouse policy component) from rule.py.
#
# GATEHOUSE_WIT    the gatehouse WIT directory. Default: ../../../wit, right for
#                  the template inside the gatehouse repository (`gatehouse
#                  policy new` writes a copy into the project and points here).
# COMPONENTIZE_PY  the componentize-py command (default: componentize-py on PATH).
set -eu
cd "$(dirname "$0")"
wit="${GATEHOUSE_WIT:-../../../wit}"
cpy="${COMPONENTIZE_PY:-componentize-py}"
if ! command -v "$cpy" >/dev/null; then
    echo "build.sh: $cpy not found; pip install -r requirements.txt (see the SDK's README)" >&2
    exit 1
fi
if [ ! -f "$wit/worlds.wit" ]; then
    echo "build.sh: no gatehouse WIT at '$wit'; set GATEHOUSE_WIT to the directory holding worlds.wit" >&2
    exit 1
fi
# Regenerated on every build so they always match the WIT; git-ignored. The
# component does not need them (componentize generates its own); editors, type
# checkers and the native tests in test_rule.py import them.
rm -rf bindings
"$cpy" -q -d "$wit" -w policy bindings bindings
"$cpy" -q -d "$wit" -w policy componentize -p . rule -o gatehouse-example.wasm
