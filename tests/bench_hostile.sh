#!/usr/bin/env bash
# Apache against slow clients (issue 19), in one run on the real components:
# the time a vhost demo takes to answer a GET while 1,000 half-sent requests
# (slowloris) hold connections to another vhost demo of the same Apache,
# against the same GET with no slow client (the baseline, same run). The
# figure to hold is every probe under 2 s. Debug binaries are enough: the
# time is Apache's, showroomd only sets it up. BENCH_PORT (default 12700)
# is the first of the 20 ports used; BENCH_SLOW (default 1000) the number of
# slow clients; BENCH_PROBES (default 20) the probes of each kind.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${BENCH_PORT:-12700}
slow=${BENCH_SLOW:-1000}
probes=${BENCH_PROBES:-20}
cargo build --workspace --bins --quiet
bin=${CARGO_TARGET_DIR:-target}/debug
top=$(mktemp -d /tmp/showroom-bench-hostile.XXXXXX)
chmod 0755 "$top"
daemon=
cleanup() {
    if [ -n "$daemon" ]; then
        "$bin/showroomctl" --socket "$top/showroomd.sock" supervisor stop >/dev/null 2>&1 || true
        kill "$daemon" 2>/dev/null || true
    fi
    sleep 1
    rm -rf "$top"
}
trap cleanup EXIT
mkdir -p "$top/scripts"
cp tests/fixtures/seed/demo_testapache.sh "$top/scripts/"
cat >"$top/showroomd.toml" <<TOML
state_dir = "$top/state"
socket = "$top/showroomd.sock"
scripts_dir = "$top/scripts"
port_min = $port
port_max = $((port + 19))
front_port = 0
TOML
"$bin/showroomd" --config "$top/showroomd.toml" >"$top/showroomd.log" 2>&1 &
daemon=$!
ctl=("$bin/showroomctl" --socket "$top/showroomd.sock")
for _ in $(seq 1 100); do "${ctl[@]}" list >/dev/null 2>&1 && break; sleep 0.1; done
for n in target other; do
    "${ctl[@]}" deploy testapache "$n" >/dev/null
    "${ctl[@]}" start "$n" >/dev/null
done
target=$("${ctl[@]}" --json list | python3 -c 'import json,sys; print([d["port"] for d in json.load(sys.stdin) if d["name"]=="target"][0])')
other=$("${ctl[@]}" --json list | python3 -c 'import json,sys; print([d["port"] for d in json.load(sys.stdin) if d["name"]=="other"][0])')

python3 - "$target" "$other" "$slow" "$probes" <<'PY'
import resource, socket, statistics, sys, time
target, other, slow, probes = map(int, sys.argv[1:])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def probe():
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", other), timeout=30)
        s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        ok = data.split(b" ", 2)[1] == b"200"
    except OSError:
        ok = False
    return time.monotonic() - t, ok

def run(label):
    times, failed = [], 0
    for _ in range(probes):
        t, ok = probe()
        times.append(t)
        failed += not ok
        time.sleep(0.05)
    print("   ", " ".join(f"{t*1000:.0f}" for t in times))
    print(f"  {label}: median {statistics.median(times)*1000:.1f} ms, max {max(times)*1000:.1f} ms, failed {failed}/{probes}")
    return statistics.median(times), max(times), failed

base_med, base_max, _ = run("no slow client (baseline)")
held = []
for i in range(slow):
    c = socket.create_connection(("127.0.0.1", target), timeout=10)
    c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-a: b\r\n")
    held.append(c)
med, mx, failed = run(f"{slow} slow clients held on another vhost demo")
print(f"  ratio of medians: {med / base_med:.2f}; every probe under 2 s: {'yes' if mx < 2 and not failed else 'NO'}")
PY
