#!/usr/bin/env bash
# The figures of issue 13, each against a baseline in the same run: bringing back N demos wanted running after a fresh supervisord start against starting them one by one with `showroomctl start`; `clone` of the slow shipped demo (pyvenv) against its `deploy`.
#
#   cargo build --workspace --bins && bash tests/bench_lifecycle.sh
#
# BENCH_N (default 50) demos of the seed's test1 (a process, startsecs=1);
# BENCH_JOBS (default 4, showroomd's default) is restore_jobs. Binaries come
# from $CARGO_TARGET_DIR (default target/), debug unless BENCH_PROFILE=release.
# It takes the e2e suite's lock: ports 27900-27999 (and 37900+ inner ones).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-50}
JOBS=${BENCH_JOBS:-4}
. tests/bench_lib.sh
bench_init bench-lifecycle
cp tests/fixtures/seed/demo_test1.sh demos/demo_pyvenv.sh demos/reconfigure_pyvenv.sh "$dir/scripts/"
cat > "$dir/showroomd.toml" <<TOML
state_dir = "$dir/state"
socket = "$dir/s.sock"
scripts_dir = "$dir/scripts"
port_min = 27900
port_max = 27999
restore_jobs = $JOBS
TOML
running() { ctl list --json | python3 -c 'import json,sys; print(sum(d["status"]=="RUNNING" and d["app"]=="test1" for d in json.load(sys.stdin)))'; }

start_daemon
names=$(seq -f "d%02g" 0 $((N - 1)))
for d in $names; do ctl deploy test1 "$d" >/dev/null; done

t0=$(now)
for d in $names; do ctl start "$d" >/dev/null; done
one_by_one=$(python3 -c "print($(now) - $t0)")

ctl supervisor stop >/dev/null
t0=$(now)
ctl supervisor start >/dev/null
until [ "$(running)" -eq "$N" ]; do sleep 0.1; done
restore=$(python3 -c "print($(now) - $t0)")

t0=$(now)
ctl deploy pyvenv slow >/dev/null
deploy=$(python3 -c "print($(now) - $t0)")
ctl start slow >/dev/null
t0=$(now)
ctl clone slow slow2 >/dev/null
clone=$(python3 -c "print($(now) - $t0)")
ctl start slow2 >/dev/null
p1=$(ctl list --json | python3 -c 'import json,sys; print(next(d["port"] for d in json.load(sys.stdin) if d["name"]=="slow"))')
p2=$(ctl list --json | python3 -c 'import json,sys; print(next(d["port"] for d in json.load(sys.stdin) if d["name"]=="slow2"))')
for i in $(seq 50); do curl -fs "http://127.0.0.1:$p2/" | grep -q '<h1>slow2</h1>' && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$p1/" | grep -q '<h1>slow</h1>' || { echo "the source does not serve" >&2; exit 1; }
curl -fs "http://127.0.0.1:$p2/" | grep -q '<h1>slow2</h1>' || { echo "the clone does not serve its own page" >&2; exit 1; }
fs=$(stat -f -c %T "$dir")

python3 - "$N" "$JOBS" "$one_by_one" "$restore" "$deploy" "$clone" "$fs" <<'PY'
import sys
n, jobs, obo, rest, dep, clo, fs = sys.argv[1:]
obo, rest, dep, clo = map(float, (obo, rest, dep, clo))
print(f"{n} demos wanted running, after a fresh supervisord (restore_jobs={jobs}):")
print(f"  showroomctl start one by one   {obo:7.2f} s  (baseline)")
print(f"  supervisor start + restore     {rest:7.2f} s  ratio {rest / obo:.2f}")
print(f"pyvenv (a virtualenv with bottle from PyPI), filesystem {fs}:")
print(f"  deploy                         {dep:7.2f} s  (baseline)")
print(f"  clone of the running demo      {clo:7.2f} s  ratio {clo / dep:.2f}")
PY
grep -o 'restore done.*' "$dir/showroomd.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g'
