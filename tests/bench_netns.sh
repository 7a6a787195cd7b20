#!/usr/bin/env bash
# What each demo's own network costs (issue 19), in one run on the real
# components with release binaries: the same process demo (Python's
# http.server, one small page) with its own network namespace, reached
# through the port pasta forwards (`demo_own_network = true`, the default),
# against the host's network (`demo_own_network = false`), the sandbox on in
# both: requests per second (new connection each, BENCH_CLIENTS at once for
# BENCH_SECS) and p50/p99 latency of single requests in a row; the median
# `start` time (BENCH_RUNS starts); and the RSS a running demo carries
# besides its own process (jail, pasta, bwrap). Ports 13800-13899.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-7}
secs=${BENCH_SECS:-5}
clients=${BENCH_CLIENTS:-8}
port=${BENCH_PORT:-13800}
source tests/bench_common.sh net
cat >"$top/scripts/demo_web.sh" <<'SH'
#!/bin/bash
# PARAMS: name, comment
set -e
mkdir -p www
echo "page of $name" > www/index.html
printf '#!/bin/sh\nexec python3 -m http.server %s --bind 0.0.0.0 --directory %s/www\n' "$PORT" "$PWD" > start.sh
SH

# The load: $1 port. Prints "rps p50_ms p99_ms".
cat >"$top/load.py" <<'PY'
import socket, sys, threading, time
port, secs, clients = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
def get():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    assert data.startswith(b"HTTP/1.0 200"), data[:40]
for _ in range(50):
    get()
lat = []
for _ in range(1000):
    t = time.perf_counter(); get(); lat.append((time.perf_counter() - t) * 1000)
lat.sort()
done = [0] * clients
stop = time.perf_counter() + secs
def worker(i):
    while time.perf_counter() < stop:
        get(); done[i] += 1
ts = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
print(f"{sum(done) / (time.perf_counter() - t0):.0f} {lat[499]:.3f} {lat[989]:.3f}")
PY

rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
tree() { echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }

# $1: on|off, $2: first port. Prints "start_ms rps p50 p99 extra_rss_kb".
measure() {
    local mode=$1 first=$2 dir="$top/$1" extra="front_port = 0"
    [ "$mode" = off ] && extra+=$'\ndemo_own_network = false'
    start_showroom "$mode" "$first" "$extra"
    local starts=() t
    for i in $(seq 1 "$runs"); do
        "${ctl[@]}" deploy web "d$i" >/dev/null
        t=$(now); "${ctl[@]}" start "d$i" >/dev/null; starts+=($(( ($(now) - t) / 1000000 )))
    done
    for i in $(seq 2 "$runs"); do "${ctl[@]}" destroy "d$i" >/dev/null; done
    local p=$first
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$p/" >/dev/null 2>&1 && break; sleep 0.1; done
    read -r rps p50 p99 < <(python3 "$top/load.py" "$p" "$secs" "$clients")
    # Everything supervisord runs for the demo but its own Python.
    local top_pid extra=0 pid
    top_pid=$(supervisorctl -c "$dir/state/supervisor/supervisord.conf" pid d1)
    for pid in $(tree "$top_pid"); do
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = python3 ] && continue
        extra=$((extra + $(rss_of "$pid")))
    done
    "${ctl[@]}" destroy d1 >/dev/null
    echo "$(printf '%s\n' "${starts[@]}" | median) $rps $p50 $p99 $extra"
}

# Own network first: a first daemon of the run that paid for a cold start
# would count against it, not for it.
read -r on_start on_rps on_p50 on_p99 on_rss < <(measure on "$((port + 20))")
read -r off_start off_rps off_p50 off_p99 off_rss < <(measure off "$port")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "release build, one process demo (python3 -m http.server), $clients clients for ${secs}s, 1000 single requests, median of $runs starts:"
printf '  requests/s:  own network %s, host network %s: ratio %s\n' "$on_rps" "$off_rps" "$(ratio "$on_rps" "$off_rps")"
printf '  p50 latency: own network %s ms, host network %s ms: ratio %s\n' "$on_p50" "$off_p50" "$(ratio "$on_p50" "$off_p50")"
printf '  p99 latency: own network %s ms, host network %s ms: ratio %s\n' "$on_p99" "$off_p99" "$(ratio "$on_p99" "$off_p99")"
printf '  start:       own network %s ms, host network %s ms: ratio %s\n' "$on_start" "$off_start" "$(ratio "$on_start" "$off_start")"
printf '  RSS beside the demo (jail, bwrap, and pasta when on): own network %s kB, host network %s kB\n' "$on_rss" "$off_rss"
