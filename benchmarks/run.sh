#!/usr/bin/env bash
# make bench [ARGS="--rows 200000 --repeat 3"]: build the two benchmark environments if
# needed, then run the benchmarks. Works from a clean clone; needs python3 >= 3.10 and PyPI.
#   .venv-bench     tablever (editable) + the peers: deltalake, pyiceberg, pylance
#   .venv-ducklake  duckdb 1.4.4 + duckdb-ext-ducklake (the extension exists for 1.4.4 only)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DUCKLAKE_PINS=(duckdb==1.4.4 duckdb-ext-ducklake==1.4.4.20260205 pyarrow pytz)
start=$(date +%s)

# pip's chatter goes to a log; it is shown only when an install fails
pipq() { local log=$1; shift; "$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; return 1; }; }

if [ ! -f .venv-bench/.installed ] || [ pyproject.toml -nt .venv-bench/.installed ]; then
  echo "building .venv-bench (tablever + peers) ..."
  [ -x .venv-bench/bin/python ] || "$PY" -m venv .venv-bench
  log=.venv-bench/install.log
  pipq $log .venv-bench/bin/python -m pip install --upgrade pip
  pipq $log .venv-bench/bin/python -m pip install -e '.[bench]'
  touch .venv-bench/.installed
fi

if [ ! -f .venv-ducklake/.installed ]; then
  echo "building .venv-ducklake (duckdb 1.4.4 + ducklake extension) ..."
  if { [ -x .venv-ducklake/bin/python ] || "$PY" -m venv .venv-ducklake; } \
     && pipq .venv-ducklake/install.log .venv-ducklake/bin/python -m pip install --upgrade pip \
     && pipq .venv-ducklake/install.log .venv-ducklake/bin/python -m pip install "${DUCKLAKE_PINS[@]}"; then
    touch .venv-ducklake/.installed
  else
    echo "warning: could not build .venv-ducklake; DuckLake will be reported as an error" >&2
  fi
fi

# tablever runs from this checkout: compile its bytecode once, as installing a wheel does.
# Otherwise, where PYTHONDONTWRITEBYTECODE is set, every worker compiles each module on
# import, inside its first timed step (the peers are installed, compiled, packages).
.venv-bench/bin/python -m compileall -q tablever benchmarks >/dev/null

echo "environments ready in $(( $(date +%s) - start ))s"
exec .venv-bench/bin/python -m "${BENCH_MODULE:-benchmarks.run}" "$@"
