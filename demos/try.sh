#!/usr/bin/env bash
# Runs showroom on this machine: installs what it drives, builds it, starts
# showroomd in the background (state and socket at their defaults), deploys
# and starts the sample `static` demo as `hello`, and prints its URL.
#
# Set nothing to try it. For a run kept apart from the defaults (the test
# suite's), all optional:
#   SHOWROOM_CONFIG=FILE      start showroomd with `--config FILE`
#                             (try.sh's own `--scripts demos/` still wins)
#   SHOWROOM_SOCKET=PATH      the socket showroomctl talks to (and showroomd's
#                             default; a `socket` in the config file wins)
#   SHOWROOMD_LOG_FILE=FILE   where showroomd's output goes
#   CARGO_TARGET_DIR=DIR      cargo's, honoured: the binaries come from there
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --workspace --bins --locked --quiet
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
bin=$target/debug
ctl="$bin/showroomctl"

if ! "$ctl" list >/dev/null 2>&1; then
    if [ -n "${SHOWROOMD_LOG_FILE:-}" ]; then
        log=$SHOWROOMD_LOG_FILE
    else
        logdir=${XDG_STATE_HOME:-$HOME/.local/state}
        [ "$(id -u)" -eq 0 ] && logdir=/var/log
        mkdir -p "$logdir"
        log=$logdir/showroomd.log
    fi
    args=(--scripts "$PWD/demos")
    if [ -n "${SHOWROOM_CONFIG:-}" ]; then
        args=(--config "$SHOWROOM_CONFIG" "${args[@]}")
    fi
    # setsid + nohup: the daemon outlives this script and holds none of its streams.
    setsid nohup "$bin/showroomd" "${args[@]}" >>"$log" 2>&1 </dev/null &
    for _ in $(seq 1 300); do
        "$ctl" list >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$ctl" list >/dev/null || { echo "showroomd did not come up; see $log" >&2; exit 1; }
    echo "showroomd is running (pid $!, log: $log)"
fi

if [ "$("$ctl" status hello)" = DESTROYED ]; then
    "$ctl" deploy static hello --param title="Hello from showroom" --comment "the sample demo"
fi
[ "$("$ctl" status hello)" = RUNNING ] || "$ctl" start hello
read -r port url < <("$ctl" list --json | python3 -c 'import json,sys; d=next(d for d in json.load(sys.stdin) if d["name"]=="hello"); print(d["port"], d["url"] or "")')
curl -fsS "http://localhost:$port/" >/dev/null
"$ctl" list
echo
echo "The sample demo is served at: http://localhost:$port/"
if [ -n "$url" ]; then
    # Down when the front port is taken by another program (see showroomd's log).
    echo "and through the front door at: $url"
fi
echo "Drive it with $ctl (list, stop hello, destroy hello, available, watch...)."
