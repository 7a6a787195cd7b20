#!/usr/bin/env bash
# Issue 18's figures: at BENCH_N demos (default 1000, half of them running),
# through the real binaries, measured right after the starts and again once
# the host has settled, each against its baseline alone in the same run:
#   - 20 deploys whose scripts wait 1 s, launched together, against one;
#   - a `stop` of another demo sent 1 s into them, against a stop alone;
#   - a `stop` while another demo with BENCH_FILES files (default 200,000)
#     is destroyed;
#   - a `list` and a `stop` while 50 demos expire together;
#   - the p99 of the `status` calls made all along (one every 50 ms).
#
#   cargo build --release --workspace --bins && BENCH_PROFILE=release bash tests/bench_actor.sh
#
# Ports 12000-13999 and 11990 (the front door); it takes the e2e suite's
# lock. Each demo is a `sleep` in its sandbox, on the host's network (the
# network namespaces' own cost is tests/bench_netns.sh's).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-1000}
FILES=${BENCH_FILES:-200000}
SETTLE=${BENCH_SETTLE:-60}
# BENCH_EXPIRY_ROUNDS=K: after the set-up, only the expiries' figures, K
# times (their spread, one sample each otherwise).
ROUNDS=${BENCH_EXPIRY_ROUNDS:-0}
. tests/bench_lib.sh
bench_init bench-actor
cat > "$dir/scripts/demo_tiny.sh" <<'SH'
#!/bin/bash
# PARAMS: name
cat > start.sh <<'S'
#!/bin/sh
exec sleep 99999999
S
SH
cat > "$dir/scripts/demo_slow.sh" <<'SH'
#!/bin/bash
# PARAMS: name
# As a real deploy waits on its downloads.
sleep 1
cat > start.sh <<'S'
#!/bin/sh
exec sleep 99999999
S
SH
cat > "$dir/showroomd.toml" <<TOML
state_dir = "$dir/state"
socket = "$dir/s.sock"
scripts_dir = "$dir/scripts"
port_min = 12000
port_max = 13999
front_port = 11990
demo_own_network = false
TOML
start_daemon

python3 - "$bin/showroomctl" "$dir" "$N" "$FILES" "$SETTLE" "$ROUNDS" <<'PY'
import os, statistics, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

ctl_bin, d, N, FILES, SETTLE, ROUNDS = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])

def ctl(*args, check=True):
    t0 = time.monotonic()
    r = subprocess.run([ctl_bin, "--socket", f"{d}/s.sock", *args], capture_output=True, text=True)
    dt = time.monotonic() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"showroomctl {' '.join(args)} failed: {r.stderr.strip()}")
    return dt

def par(fn, items, workers=16):
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))

ms = lambda s: f"{s * 1000:7.0f} ms"
t_setup = time.monotonic()
par(lambda i: ctl("deploy", "tiny", f"d{i:04}"), range(N))
t_deployed = time.monotonic()
par(lambda i: ctl("start", f"d{i:04}"), range(0, N, 2), workers=32)
t_started = time.monotonic()
print(f"set-up: {N} deploys in {t_deployed - t_setup:.0f} s, {N // 2} starts in {t_started - t_deployed:.0f} s", flush=True)

# The status calls all along: one every 50 ms, of a running demo.
status_times, stop_status = [], threading.Event()
def statuses():
    while not stop_status.is_set():
        status_times.append(ctl("status", "d0000"))
        time.sleep(0.05)

seq = [0]
def fresh(prefix):
    seq[0] += 1
    return f"{prefix}{seq[0]}"

def make_files(name):
    root = f"{d}/state/demos/{name}/data"
    for k in range(FILES // 1000):
        sub = f"{root}/{k}"
        os.makedirs(sub)
        for f in range(1000):
            open(f"{sub}/{f}", "w").close()
    os.sync()

EXP = [f"d{i:04}" for i in range(10, N, 2)][:50]

def expiries():
    """50 demos expiring together (they run: the expiry stops them), a list and a stop then."""
    out = {}
    par(lambda n: ctl("expire", n, "3s"), EXP)
    time.sleep(3.05)
    with ThreadPoolExecutor(2) as ex:
        fl = ex.submit(ctl, "list")
        fs = ex.submit(ctl, "stop", "d0008")
        out["list while 50 expire"] = fl.result()
        out["stop while 50 expire"] = fs.result()
    ctl("start", "d0008")
    # Put the 50 back as they were.
    par(lambda n: ctl("start", n), EXP, workers=25)
    return out

if ROUNDS:
    for r in range(ROUNDS):
        alone = ctl("stop", "d0002")
        ctl("start", "d0002")
        o = expiries()
        print(f"round {r}: stop alone {ms(alone)}  list while 50 expire {ms(o['list while 50 expire'])}  stop while 50 expire {ms(o['stop while 50 expire'])}", flush=True)
    sys.exit(0)

def measure(label):
    out = {}
    # Baselines alone.
    out["deploy alone"] = ctl("deploy", "slow", fresh("b"))
    stops = []
    for _ in range(3):
        stops.append(ctl("stop", "d0002"))
        ctl("start", "d0002")
    out["stop alone"] = statistics.median(stops)
    out["list alone"] = statistics.median([ctl("list") for _ in range(3)])
    # 20 deploys together, a stop of another demo 1 s in.
    names = [fresh("burst") for _ in range(20)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as ex:
        futs = [ex.submit(ctl, "deploy", "slow", n) for n in names]
        time.sleep(1.0)
        out["stop 1 s into 20 deploys"] = ctl("stop", "d0004")
        for f in futs:
            f.result()
    out["20 deploys together"] = time.monotonic() - t0
    ctl("start", "d0004")
    # A stop while a big demo is destroyed.
    big = fresh("big")
    ctl("deploy", "tiny", big)
    make_files(big)
    with ThreadPoolExecutor(2) as ex:
        f = ex.submit(ctl, "destroy", big)
        time.sleep(0.05)
        out[f"stop during a {FILES}-file destroy"] = ctl("stop", "d0006")
        out[f"destroy of {FILES} files answered"] = f.result()
    ctl("start", "d0006")
    out.update(expiries())
    print(f"\n== {label} ==")
    print(f"20 deploys together:            {ms(out['20 deploys together'])}  one alone {ms(out['deploy alone'])}  ratio {out['20 deploys together'] / out['deploy alone']:.2f} (target <= 3)")
    print(f"stop 1 s into the 20 deploys:   {ms(out['stop 1 s into 20 deploys'])}  alone {ms(out['stop alone'])}  (target <= 200 ms)")
    k = f"stop during a {FILES}-file destroy"
    print(f"stop during a {FILES}-file destroy: {ms(out[k])}  (target <= 200 ms; destroy answered in {ms(out[f'destroy of {FILES} files answered'])})")
    print(f"list while {len(EXP)} demos expire:     {ms(out['list while 50 expire'])}  alone {ms(out['list alone'])}  (target <= 200 ms)")
    print(f"stop while {len(EXP)} demos expire:     {ms(out['stop while 50 expire'])}  (target <= 200 ms)")
    for n in names + [n for n in os.listdir(f"{d}/state/demos") if n.startswith("b")]:
        ctl("destroy", n, check=False)
    sys.stdout.flush()

th = threading.Thread(target=statuses, daemon=True)
th.start()
measure(f"N={N}, {N // 2} running, right after the starts")
p = sorted(status_times)
print(f"status during it: p50 {ms(statistics.median(p))}  p99 {ms(p[int(len(p) * 0.99) - 1])}  ({len(p)} calls)")
time.sleep(SETTLE)
status_times.clear()
measure(f"N={N}, {N // 2} running, settled ({SETTLE} s later)")
p = sorted(status_times)
print(f"status during it: p50 {ms(statistics.median(p))}  p99 {ms(p[int(len(p) * 0.99) - 1])}  ({len(p)} calls)")
stop_status.set()
PY
