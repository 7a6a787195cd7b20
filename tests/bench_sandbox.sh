#!/usr/bin/env bash
# What the sandbox costs (issue 14), in one run on the real components with
# release binaries: the wall time of `deploy` and of `start` of a process
# demo (the seed's test1) with the sandbox on against `sandbox = false`
# (median of BENCH_RUNS, default 9), and the RSS the sandbox adds to a
# running demo (its two bwrap processes). BENCH_PORT (default 26950) is the
# first of the 40 ports used.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-9}
port=${BENCH_PORT:-26950}
source tests/bench_common.sh sbx
cp tests/fixtures/seed/demo_test1.sh "$top/scripts/"

# $1: on|off, $2: first port. Prints "deploy_ms start_ms rss_kb".
measure() {
    local mode=$1 first=$2 dir="$top/$1" extra=""
    [ "$mode" = off ] && extra="sandbox = false"
    start_showroom "$mode" "$first" "$extra"
    local deploys=() starts=() t
    for i in $(seq 1 "$runs"); do
        t=$(now); "${ctl[@]}" deploy test1 "d$i" >/dev/null; deploys+=($(( ($(now) - t) / 1000000 )))
        t=$(now); "${ctl[@]}" start "d$i" >/dev/null; starts+=($(( ($(now) - t) / 1000000 )))
    done
    local rss=0
    if [ "$mode" = on ]; then
        # The demo's bwrap (supervisord's child) and the PID 1 it forks.
        local outer inner
        outer=$(supervisorctl -c "$dir/state/supervisor/supervisord.conf" pid d1)
        inner=$(cat "/proc/$outer/task/$outer/children" | awk '{print $1}')
        rss=$(awk '/^VmRSS/ {s += $2} END {print s}' "/proc/$outer/status" "/proc/$inner/status")
    fi
    for i in $(seq 1 "$runs"); do "${ctl[@]}" destroy "d$i" >/dev/null; done
    echo "$(printf '%s\n' "${deploys[@]}" | median) $(printf '%s\n' "${starts[@]}" | median) $rss"
}

read -r off_deploy off_start _ < <(measure off "$port")
read -r on_deploy on_start on_rss < <(measure on "$((port + 20))")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "median of $runs, release build, process demo (seed test1):"
printf '  deploy: sandbox on %s ms, off %s ms: ratio %s\n' "$on_deploy" "$off_deploy" "$(ratio "$on_deploy" "$off_deploy")"
printf '  start:  sandbox on %s ms, off %s ms: ratio %s\n' "$on_start" "$off_start" "$(ratio "$on_start" "$off_start")"
printf '  RSS the sandbox adds to a running demo (its two bwrap processes): %s kB\n' "$on_rss"
