#!/usr/bin/env bash
# Sleeping demos (issue 23), release binaries, one run: N demos of a small
# Python app (tests/fixtures/sleep, `http.server`-class) with an idle time,
# 20 of them kept awake; then as many awake as BENCH_AWAKE, for comparison
# (each awake demo costs its own memory: the per-demo figure is what scales).
# Reports RSS and idle CPU of showroomd, supervisord, the demos' processes
# and both Apaches; the time from a request to the first byte of a sleeping
# demo (p50/p95) against `showroomctl start` plus a first request, and
# against the app's own boot time (the floor); 20 sleeping demos requested
# at once, until the last answers; the memory saved per sleeping demo.
#
#   unshare -n bash tests/netns_run.sh bash tests/bench_sleep.sh
#   BENCH_N=2000 BENCH_AWAKE=200 BENCH_BUDGET_SECS=1200 BENCH_SETTLE=30 (the defaults)
#
# Ports 20000-22099 (demos), 23000 (the front door), 23001 (the floor's
# app): N is at most 2100. Meant for a network namespace of its own (the
# line above), so no other showroom's ports clash. Every process it started
# is ended on exit: supervisord stopped, showroomd ended, then whatever
# still names or works in its folder, one pid at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins --locked
ROOT=$(mktemp -d /tmp/bench-sleep-XXXXXX)
export ROOT
cleanup() {
    local pid
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [ "$pid" = "$$" ] && continue
        if { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$ROOT" \
            || readlink "/proc/$pid/cwd" 2>/dev/null | grep -qF "$ROOT"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$ROOT"
}
trap cleanup EXIT
python3 - "$@" <<'PY'
import json, os, shutil, signal, socket, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

T_START = time.time()
N = int(os.environ.get("BENCH_N", "2000"))
N_AWAKE_ALL = int(os.environ.get("BENCH_AWAKE", "200"))
BUDGET = float(os.environ.get("BENCH_BUDGET_SECS", "1200"))
AWAKE = 20
WAKES = 50
IDLE = 5
WAVE = 200
PORT_MIN, PORT_MAX, FRONT, FLOOR_PORT = 20000, 22099, 23000, 23001
assert AWAKE + WAKES < N <= PORT_MAX - PORT_MIN + 1
REPO = os.getcwd()
BIN = os.path.join(REPO, "target/release")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
root = os.environ["ROOT"]
os.chmod(root, 0o755)
# A SIGTERM ends the run through `finally` (and the shell's trap after it).
signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))

def log(*a):
    print(f"[{time.time() - T_START:6.0f} s]", *a, file=sys.stderr, flush=True)

scripts = os.path.join(root, "scripts")
os.mkdir(scripts)
for f in ["sleep/demo_sleepy.sh", "sleep/sleepy_app.py", "frontdoor/echo_app.py"]:
    shutil.copy(os.path.join(REPO, "tests/fixtures", f), scripts)
sock = os.path.join(root, "showroomd.sock")
conf = os.path.join(root, "showroomd.toml")
open(conf, "w").write(
    f'state_dir = "{root}/state"\nsocket = "{sock}"\nscripts_dir = "{scripts}"\n'
    f"port_min = {PORT_MIN}\nport_max = {PORT_MAX}\nfront_port = {FRONT}\nmax_wake_jobs = 20\n")
daemon = subprocess.Popen([f"{BIN}/showroomd", "--config", conf],
                          stdout=open(os.path.join(root, "d.log"), "w"), stderr=subprocess.STDOUT)

def ctl(*args, check=True):
    r = subprocess.run([f"{BIN}/showroomctl", "--socket", sock, *args],
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"showroomctl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout

def statuses():
    return {d["name"]: d["status"] for d in json.loads(ctl("--json", "list"))}

def wait(what, f, limit=600):
    t0 = time.time()
    while not f():
        if time.time() - t0 > limit:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.5)

def ttfb(name):
    """Seconds from sending a request to the first byte of its answer, by
    name through the front door; None when the answer is not a 200."""
    s = socket.create_connection(("127.0.0.1", FRONT), timeout=60)
    t0 = time.perf_counter()
    s.sendall(f"GET / HTTP/1.1\r\nHost: {name}.localhost:{FRONT}\r\nConnection: close\r\n\r\n".encode())
    first = s.recv(1)
    t = time.perf_counter() - t0
    rest = first + b"".join(iter(lambda: s.recv(65536), b""))
    s.close()
    return t if b" 200 " in rest.split(b"\r\n", 1)[0] else None

def procs():
    """pid -> (ppid, cmdline) of every process."""
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
                out[int(p)] = (ppid, open(f"/proc/{p}/cmdline").read().replace("\0", " "))
            except (OSError, IndexError, ValueError):
                pass
    return out

def tree(pid, ps):
    kids = {}
    for p, (pp, _) in ps.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out

def cost(pids):
    rss = cpu = 0
    for p in pids:
        try:
            rss += int(open(f"/proc/{p}/statm").read().split()[1]) * PAGE
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            cpu += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return rss, cpu

# How long the host settles before idle CPU is measured: after a wave of
# starts or stops, showroomd's poller sweeps supervisord's programs every
# 2 s while more than 16 are in motion (at 2,000 programs one sweep costs
# supervisord about a second of CPU), which is not idling.
SETTLE = int(os.environ.get("BENCH_SETTLE", "30"))

def measure(label):
    """RSS (MiB) and idle CPU (% of one core over 10 s, after SETTLE s) of each part."""
    log(f"settling {SETTLE} s before measuring")
    time.sleep(SETTLE)
    ps = procs()
    sup_pid = min(p for p, (_, cmd) in ps.items() if "supervisord" in cmd and root in cmd)
    under = tree(sup_pid, ps)
    front = [q for p in under if "frontdoor" in ps[p][1] and "apache2" in ps[p][1] for q in tree(p, ps)]
    apache = [q for p in under if "apache2" in ps[p][1] and p not in front for q in tree(p, ps)]
    demos = [p for p in under if p != sup_pid and p not in front and p not in apache]
    parts = {"showroomd": tree(daemon.pid, ps), "supervisord": [sup_pid],
             "demos (jail, bwrap, pasta, python)": demos,
             "front door Apache": sorted(set(front)), "demos' Apache": sorted(set(apache))}
    before = {k: cost(v)[1] for k, v in parts.items()}
    time.sleep(10)
    print(f"\n{label}\n\n| part | processes | RSS MiB | idle CPU % of a core (10 s) |\n| --- | --- | --- | --- |")
    out = {}
    for k, v in parts.items():
        rss, cpu = cost(v)
        out[k] = rss
        print(f"| {k} | {len(v)} | {rss / 2**20:.1f} | {100 * (cpu - before[k]) / TICK / 10:.2f} |")
    print(f"| total | | {sum(out.values()) / 2**20:.1f} | |", flush=True)
    return out

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

try:
    wait("showroomd", lambda: os.path.exists(sock) and subprocess.run(
        [f"{BIN}/showroomctl", "--socket", sock, "list"], capture_output=True).returncode == 0, 30)
    names = [f"s{i:04}" for i in range(N)]

    # Deploys, 4 at a time, within a third of the budget.
    deployed, t0, failed = [], time.time(), []
    def deploy(n):
        if time.time() - T_START > BUDGET / 3:
            return None
        # A deploy can fail for the host's own reasons (bwrap once said
        # "loopback: Failed RTM_NEWADDR" with 4 at once): tried 3 times, said.
        for attempt in range(3):
            try:
                ctl("deploy", "sleepy", n, "--param", "fail_from=0", "--sleep-after", f"{IDLE}s")
                return n
            except RuntimeError as e:
                failed.append(f"{n} (try {attempt + 1}): {str(e).splitlines()[-3:]}")
                ctl("destroy", n, check=False)
        return None
    with ThreadPoolExecutor(4) as ex:
        for i, n in enumerate(ex.map(deploy, names)):
            if n:
                deployed.append(n)
            if (i + 1) % 250 == 0:
                log(f"deployed {len(deployed)} in {time.time() - t0:.0f} s")
    log(f"deployed {len(deployed)} of {N} in {time.time() - t0:.0f} s; {len(failed)} failed tries")
    for f in failed:
        log("  failed:", f)
    names = deployed
    keep = names[:AWAKE]
    for n in keep:
        ctl("sleep-after", n, "never")
    with ThreadPoolExecutor(20) as ex:
        list(ex.map(lambda n: ctl("start", n), keep))

    # The rest started a wave at a time; each wave sleeps after its idle
    # time before the next starts (they could not all run at once).
    t0 = time.time()
    asleep_names = []
    for w in range(AWAKE, len(names), WAVE):
        if time.time() - T_START > BUDGET * 0.6:
            log("out of time for more waves")
            break
        wave = names[w:w + WAVE]
        def start(n):
            return subprocess.run([f"{BIN}/showroomctl", "--socket", sock, "start", n],
                                  capture_output=True).returncode == 0
        with ThreadPoolExecutor(50) as ex:
            ok = dict(zip(wave, ex.map(start, wave)))
        # A failed start (bwrap's RTM_NEWADDR above) is stopped, not waited for.
        bad = [n for n in wave if not ok[n]]
        for n in bad:
            ctl("stop", n, check=False)
        wave = [n for n in wave if ok[n]]
        wait(f"wave {w} asleep", lambda: all(statuses()[n] == "SLEEPING" for n in wave), 300)
        asleep_names += wave
        log(f"{len(asleep_names)} asleep ({time.time() - t0:.0f} s); {len(bad)} failed starts stopped")
    st = statuses()
    print(f"N = {len(names)} deployed, {sum(v == 'RUNNING' for v in st.values())} RUNNING, "
          f"{sum(v == 'SLEEPING' for v in st.values())} SLEEPING", flush=True)
    asleep = measure(f"N={len(names)}: {AWAKE} awake, {len(asleep_names)} SLEEPING")

    # The floor: the app's own boot, from exec to its port answering.
    def boot_once():
        t0 = time.perf_counter()
        p = subprocess.Popen(["python3", f"{scripts}/sleepy_app.py", "serve", str(FLOOR_PORT), "x"],
                             cwd=scripts, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                socket.create_connection(("127.0.0.1", FLOOR_PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.002)
        t = time.perf_counter() - t0
        p.terminate(); p.wait()
        return t
    boot = [boot_once() for _ in range(WAKES)]
    sleepers = asleep_names[:WAKES]
    wake = [ttfb(n) for n in sleepers]
    wake_failed = wake.count(None)
    wake = [t for t in wake if t is not None]
    # A plain start plus its first request, on the same demos (stopped first).
    started, start_failed = [], 0
    for n in sleepers:
        ctl("sleep-after", n, "never")
        ctl("stop", n)
        t0 = time.perf_counter()
        ctl("start", n)
        t = ttfb(n)
        if t is None:
            start_failed += 1
        else:
            started.append(time.perf_counter() - t0)
    print(f"\n| first byte, {WAKES} each | p50 ms | p95 ms | p50 / floor | not a 200 |\n| --- | --- | --- | --- | --- |")
    for label, xs, bad in [("the app's own boot (floor)", boot, 0), ("a sleeping demo's first request", wake, wake_failed),
                           ("`showroomctl start` + first request", started, start_failed)]:
        print(f"| {label} | {1000 * pct(xs, .5):.0f} | {1000 * pct(xs, .95):.0f} | {pct(xs, .5) / pct(boot, .5):.2f} | {bad} |")

    # 20 sleeping demos requested at once (others than the ones above).
    twenty = asleep_names[WAKES:WAKES + 20]
    ends = {}
    t0 = time.perf_counter()
    def one(n):
        ok = ttfb(n)
        ends[n] = (time.perf_counter() - t0, ok is not None)
    ths = [threading.Thread(target=one, args=(n,)) for n in twenty]
    for t in ths: t.start()
    for t in ths: t.join()
    times = sorted(t for t, _ in ends.values())
    print(f"\n20 sleeping demos requested at once (max_wake_jobs = 20): first answer {1000 * times[0]:.0f} ms, "
          f"median {1000 * pct(times, .5):.0f} ms, last {1000 * times[-1]:.0f} ms; "
          f"{sum(ok for _, ok in ends.values())} of 20 were 200s", flush=True)

    # Awake for comparison: as many as BENCH_AWAKE (the first 20 are).
    more = [n for n in asleep_names if n not in sleepers and n not in twenty][:max(0, N_AWAKE_ALL - AWAKE - len(sleepers) - len(twenty))]
    for n in sleepers + twenty + more:
        ctl("sleep-after", n, "never")
    with ThreadPoolExecutor(25) as ex:
        list(ex.map(lambda n: ctl("start", n, check=False), more))
    st = statuses()
    n_running = sum(v == "RUNNING" for v in st.values())
    awake = measure(f"N={len(names)}: {n_running} awake, {sum(v == 'SLEEPING' for v in st.values())} SLEEPING")
    added = n_running - AWAKE
    per_awake = (sum(awake.values()) - sum(asleep.values())) / added
    demo_part = (awake["demos (jail, bwrap, pasta, python)"] - asleep["demos (jail, bwrap, pasta, python)"]) / added
    print(f"\nmemory per awake demo over a sleeping one: {per_awake / 2**20:.1f} MiB of RSS in all parts "
          f"({demo_part / 2**20:.1f} MiB its own processes), from {added} woken; "
          f"{len(asleep_names)} sleeping save about {len(asleep_names) * per_awake / 2**30:.1f} GiB", flush=True)
    mem = dict(l.split(":", 1) for l in open("/proc/meminfo"))
    log(f"MemAvailable now {mem['MemAvailable'].strip()}")
finally:
    log("ending")
    subprocess.run([f"{BIN}/showroomctl", "--socket", sock, "supervisor", "stop"], capture_output=True, timeout=300)
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
    log("done")
PY
