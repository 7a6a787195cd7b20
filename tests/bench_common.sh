#!/usr/bin/env bash
# Sourced by the bench scripts that run showroomd themselves: installs the
# real components, builds the release binaries ($bin), makes a scratch folder
# ($top, named after $1) whose showroomds and supervisords (pids in $pids,
# states in $top/*/state) are stopped and removed at exit, and gives now (ns)
# and median (of numbers on stdin).
bash tests/setup.sh
cargo build --release --workspace --bins --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release
top=$(mktemp -d "/tmp/showroom-bench-$1.XXXXXX")
chmod 0755 "$top"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for d in "$top"/*/state; do
        [ -f "$d/supervisor/supervisord.pid" ] && kill "$(cat "$d/supervisor/supervisord.pid")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$top"
}
trap cleanup EXIT
mkdir -p "$top/scripts"
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Starts a showroomd in $top/$1 with ports $2..$2+19 and the config lines
# $3, and waits until it answers; its showroomctl is then "${ctl[@]}".
start_showroom() {
    local dir="$top/$1" first=$2
    mkdir -p "$dir"
    cat >"$dir/showroomd.toml" <<TOML
state_dir = "$dir/state"
socket = "$dir/showroomd.sock"
scripts_dir = "$top/scripts"
port_min = $first
port_max = $((first + 19))
$3
TOML
    "$bin/showroomd" --config "$dir/showroomd.toml" >"$dir/showroomd.log" 2>&1 &
    pids+=($!)
    ctl=("$bin/showroomctl" --socket "$dir/showroomd.sock")
    for _ in $(seq 1 100); do "${ctl[@]}" list >/dev/null 2>&1 && break; sleep 0.1; done
}
