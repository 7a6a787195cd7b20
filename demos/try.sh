#!/usr/bin/env bash
# Runs showroom on this machine: installs what it drives, builds it, starts
# showroomd in the background (state and socket at their defaults), deploys
# and starts the sample `static` demo as `hello`, and prints its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --workspace --bins --locked --quiet
bin=$PWD/target/debug
ctl="$bin/showroomctl"

if ! "$ctl" list >/dev/null 2>&1; then
    logdir=${XDG_STATE_HOME:-$HOME/.local/state}
    [ "$(id -u)" -eq 0 ] && logdir=/var/log
    mkdir -p "$logdir"
    log=$logdir/showroomd.log
    # setsid + nohup: the daemon outlives this script and holds none of its streams.
    setsid nohup "$bin/showroomd" --scripts "$PWD/demos" >>"$log" 2>&1 </dev/null &
    for _ in $(seq 1 300); do
        "$ctl" list >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$ctl" list >/dev/null || { echo "showroomd did not come up; see $log" >&2; exit 1; }
    echo "showroomd is running (log: $log)"
fi

if [ "$("$ctl" status hello)" = DESTROYED ]; then
    "$ctl" deploy static hello --param title="Hello from showroom" --comment "the sample demo"
fi
[ "$("$ctl" status hello)" = RUNNING ] || "$ctl" start hello
port=$("$ctl" list --json | python3 -c 'import json,sys; print(next(d["port"] for d in json.load(sys.stdin) if d["name"]=="hello"))')
curl -fsS "http://localhost:$port/" >/dev/null
"$ctl" list
echo
echo "The sample demo is served at: http://localhost:$port/"
echo "Drive it with $ctl (list, stop hello, destroy hello, available, watch...)."
