#!/usr/bin/env bash
# supervisord's own cost as the number of programs grows: reloadConfig with one include file a program against one include file for all, getAllProcessInfo, and idle CPU with an event listener against none; each a ratio against N=10 in the same run.
#
# Needs only Debian's supervisor package (no Rust build): the figures are
# supervisord's, which is what decides the layout of issue 11.
#
#   BENCH_N=1000 bash tests/bench_reload.sh
#
# BENCH_N (default 200) is the large N; the baseline is N=10. BENCH_RUNS
# (default 5) runs per timed figure, median reported. BENCH_IDLE_SECS
# (default 30) is the idle window. Half of the programs run during the idle
# window (a demo host runs some, not all).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in /usr/bin/supervisord /usr/bin/python3; do
    [ -x "$tool" ] || { echo "$tool is required: apt-get install supervisor" >&2; exit 1; }
done
# Debian's python3, the one supervisor is installed for (a python3 earlier
# in PATH may not have it).
exec /usr/bin/python3 - "$@" <<'PY'
import os, shutil, signal, statistics, subprocess, sys, tempfile, time, xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport

BIG = int(os.environ.get("BENCH_N", "200"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
IDLE = float(os.environ.get("BENCH_IDLE_SECS", "30"))
BASE = 10
TICK = os.sysconf("SC_CLK_TCK")

# A minimal listener that acknowledges every event: supervisord's cost of
# having one is the figure, not the listener's.
LISTENER = r'''import sys
while True:
    sys.stdout.write("READY\n"); sys.stdout.flush()
    h = sys.stdin.readline()
    if not h:
        break
    n = int(dict(t.split(":", 1) for t in h.split())["len"])
    sys.stdin.read(n)
    sys.stdout.write("RESULT 2\nOK"); sys.stdout.flush()
'''

def section(name):
    return (f"[program:{name}]\ncommand=/bin/sleep 1000\nautostart=false\n"
            f"autorestart=unexpected\nstartsecs=0\nstopasgroup=true\nkillasgroup=true\n"
            f"stdout_logfile=NONE\nstderr_logfile=NONE\n")

class Sup:
    """A supervisord of our own on a temp folder, killed when done."""
    def __init__(self, n, layout, listener):
        self.dir = tempfile.mkdtemp(prefix="bench-reload-")
        self.layout, self.n = layout, n
        self.sock = os.path.join(self.dir, "s.sock")
        demos = os.path.join(self.dir, "demos")
        os.mkdir(demos)
        self.programs = os.path.join(self.dir, "programs.conf")
        if layout == "files":
            include = f"{demos}/*/supervisor.cfg"
            for i in range(n):
                self.add_file(f"d{i}")
        else:
            include = self.programs
            self.names = [f"d{i}" for i in range(n)]
            self.write_programs()
        lst = ""
        if listener:
            path = os.path.join(self.dir, "listener.py")
            open(path, "w").write(LISTENER)
            lst = (f"[eventlistener:showroom-events]\ncommand=/usr/bin/python3 {path}\n"
                   f"events=PROCESS_STATE\nautostart=true\nautorestart=true\nbuffer_size=1024\n"
                   f"stderr_logfile={self.dir}/listener.err\n\n")
        conf = os.path.join(self.dir, "supervisord.conf")
        open(conf, "w").write(
            f"[unix_http_server]\nfile={self.sock}\nchmod=0700\n\n"
            f"[supervisord]\nlogfile={self.dir}/supervisord.log\npidfile={self.dir}/s.pid\n"
            f"nodaemon=true\nminfds=4096\nloglevel=warn\n\n"
            f"[rpcinterface:supervisor]\n"
            f"supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"{lst}[include]\nfiles = {include}\n")
        self.proc = subprocess.Popen(["/usr/bin/supervisord", "-c", conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        t0, err = time.time(), None
        while True:
            try:
                # A transport whose first request failed stays unusable: a fresh one each try.
                self.rpc = xmlrpc.client.ServerProxy(
                    "http://127.0.0.1",
                    transport=SupervisorTransport(None, None, "unix://" + self.sock))
                if self.rpc.supervisor.getState()["statename"] == "RUNNING":
                    break
            except Exception as e:
                err = e
            if self.proc.poll() is not None or time.time() - t0 > 120:
                self.proc.kill()
                sys.exit(f"supervisord did not start ({err!r}); see {self.dir}/supervisord.log")
            time.sleep(0.05)
        self.extra = 0

    def add_file(self, name):
        d = os.path.join(self.dir, "demos", name)
        os.mkdir(d)
        open(os.path.join(d, "supervisor.cfg"), "w").write(section(name))

    def write_programs(self):
        # As showroomd would: a temporary file renamed over the old one.
        tmp = self.programs + ".tmp"
        open(tmp, "w").write("".join(section(n) for n in self.names))
        os.rename(tmp, self.programs)

    def deploy_one(self):
        """What a deploy costs supervisord: one more program, reloadConfig, addProcessGroup."""
        name = f"x{self.extra}"
        self.extra += 1
        if self.layout == "files":
            self.add_file(name)
        else:
            self.names.append(name)
            self.write_programs()
        t0 = time.perf_counter()
        added, changed, removed = self.rpc.supervisor.reloadConfig()[0]
        t1 = time.perf_counter()
        assert added == [name], (added, changed, removed)
        self.rpc.supervisor.addProcessGroup(name)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t0

    def ticks(self):
        f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    def stop(self):
        try:
            self.rpc.supervisor.stopAllProcesses()
        except Exception:
            pass
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

def med(v):
    return statistics.median(v)

def timings(n, layout):
    s = Sup(n, layout, listener=False)
    try:
        reload, deploy, allinfo = [], [], []
        for _ in range(RUNS):
            r, d = s.deploy_one()
            reload.append(r)
            deploy.append(d)
            t0 = time.perf_counter()
            infos = s.rpc.supervisor.getAllProcessInfo()
            allinfo.append(time.perf_counter() - t0)
            assert len(infos) >= n
        return med(reload), med(deploy), med(allinfo)
    finally:
        s.stop()

def idle_cpu(n, listener):
    s = Sup(n, "one", listener)
    try:
        for i in range(0, n, 2):
            s.rpc.supervisor.startProcess(f"d{i}", False)
        # Let the starts settle (startsecs=0: RUNNING at once) and their events drain.
        time.sleep(3)
        t0, c0 = time.time(), s.ticks()
        time.sleep(IDLE)
        dt, dc = time.time() - t0, s.ticks() - c0
        return dc / TICK / dt * 100.0
    finally:
        s.stop()

def ms(x):
    return f"{x * 1000:.1f} ms"

print(f"# supervisord {subprocess.run(['/usr/bin/supervisord', '--version'], capture_output=True, text=True).stdout.strip()}: "
      f"N={BASE} (baseline) against N={BIG}, median of {RUNS} runs\n")
rows = {}
for n in (BASE, BIG):
    for layout in ("files", "one"):
        rows[(n, layout)] = timings(n, layout)
base = rows[(BASE, "files")]
print("| figure | N | one include file a program | ratio to N=10 | one include file for all | ratio to N=10 |")
print("| --- | --- | --- | --- | --- | --- |")
for i, what in enumerate(["reloadConfig after adding one program",
                          "reloadConfig + addProcessGroup (a deploy's share)",
                          "getAllProcessInfo"]):
    for n in (BASE, BIG):
        f, o = rows[(n, "files")][i], rows[(n, "one")][i]
        print(f"| {what} | {n} | {ms(f)} | {f / rows[(BASE, 'files')][i]:.2f} | "
              f"{ms(o)} | {o / rows[(BASE, 'one')][i]:.2f} |")
print()
print(f"| supervisord CPU while idle ({IDLE:.0f} s, half the programs running) | N | % of a core | ratio to N=10, no listener |")
print("| --- | --- | --- | --- |")
idle_base = None
for n in (BASE, BIG):
    for listener in (False, True):
        c = idle_cpu(n, listener)
        if idle_base is None:
            idle_base = c
        label = "with [eventlistener] (PROCESS_STATE)" if listener else "no listener"
        ratio = f"{c / idle_base:.2f}" if idle_base > 0 else "n/a (baseline 0)"
        print(f"| {label} | {n} | {c:.2f} % | {ratio} |")
PY
