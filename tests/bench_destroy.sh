#!/usr/bin/env bash
# Issue 18's figure for slow disk work: a `stop` of one demo while another
# demo holding BENCH_FILES files (default 200,000) is destroyed, against the
# same `stop` alone (median of 5), in the same run. Making the files takes
# minutes on a slow disk; the destroy is measured once.
#
#   cargo build --workspace --bins && bash tests/bench_destroy.sh
#
# Binaries come from $CARGO_TARGET_DIR (default target/), debug unless
# BENCH_PROFILE=release. It takes the e2e suite's lock: ports 11200-11299.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${BENCH_FILES:-200000}
. tests/bench_lib.sh
bench_init bench-destroy
cp tests/fixtures/seed/demo_test1.sh "$dir/scripts/"
cat > "$dir/showroomd.toml" <<TOML
state_dir = "$dir/state"
socket = "$dir/s.sock"
scripts_dir = "$dir/scripts"
port_min = 11200
port_max = 11299
front_port = 0
TOML
start_daemon

ctl deploy test1 x >/dev/null
# The baseline: a stop of x alone (median of 5).
alone=()
for _ in 1 2 3 4 5; do
    ctl start x >/dev/null
    t0=$(now); ctl stop x >/dev/null; alone+=("$(python3 -c "print($(now) - $t0)")")
done

during=()
for i in 1; do
    ctl deploy test1 "big$i" >/dev/null
    python3 - "$dir/state/demos/big$i" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(n // 1000):
    sub = os.path.join(root, "data", str(d))
    os.makedirs(sub)
    for f in range(1000):
        open(os.path.join(sub, str(f)), "w").close()
PY
    sync
    ctl start x >/dev/null
    t_destroy=$(now)
    ctl destroy "big$i" >"$dir/destroy.out" 2>&1 &
    destroy=$!
    sleep 0.05
    t0=$(now); ctl stop x >/dev/null; t1=$(now)
    wait "$destroy"
    t2=$(now)
    during+=("$(python3 -c "print($t1 - $t0)")")
    destroy_secs=$(python3 -c "print($t2 - $t_destroy)")
done
# Until the trash is empty: the removal's own time, whoever does it.
until [ -z "$(ls -A "$dir/state/trash")" ]; do sleep 0.1; done

python3 - "$FILES" "$destroy_secs" "${alone[*]}" "${during[*]}" <<'PY'
import statistics, sys
files, destroy = int(sys.argv[1]), float(sys.argv[2])
alone = sorted(map(float, sys.argv[3].split()))
during = sorted(map(float, sys.argv[4].split()))
a, d = statistics.median(alone), statistics.median(during)
print(f"stop of another demo alone:            {a*1000:7.0f} ms (median of {len(alone)})")
print(f"stop while a {files}-file demo is destroyed: {d*1000:7.0f} ms (median of {len(during)}; ratio {d/a:.2f})")
print(f"destroy answered after:                {destroy*1000:7.0f} ms (last run)")
PY
