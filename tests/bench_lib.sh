# Sourced by the bench scripts that drive the real binaries: where the
# binaries are ($CARGO_TARGET_DIR, default target/; debug unless
# BENCH_PROFILE=release), the e2e suite's lock, a fresh folder with a
# scripts/ folder, showroomd started on "$dir/showroomd.toml" and everything
# stopped and removed at exit.

# $1: the temporary folder's prefix. Sets $bin and $dir.
bench_init() {
    bin="${CARGO_TARGET_DIR:-target}/${BENCH_PROFILE:-debug}"
    for b in showroomd showroomctl; do
        [ -x "$bin/$b" ] || { echo "$bin/$b is missing: cargo build --workspace --bins" >&2; exit 1; }
    done
    exec 9>/tmp/showroom-e2e.lock
    flock 9
    dir=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$dir"
    mkdir "$dir/scripts"
    daemon=
    trap bench_cleanup EXIT
}
bench_cleanup() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    local conf="$dir/state/supervisor/supervisord.conf" pid
    pid=$(cat "$dir/state/supervisor/supervisord.pid" 2>/dev/null || true)
    supervisorctl -c "$conf" shutdown >/dev/null 2>&1 || true
    # supervisord answers its shutdown at once, then stops every program in
    # turn (a minute at 500): the next bench must not share the host with it.
    for _ in $(seq 1200); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
start_daemon() {
    "$bin/showroomd" --config "$dir/showroomd.toml" >>"$dir/showroomd.log" 2>&1 &
    daemon=$!
    until ctl list >/dev/null 2>&1; do sleep 0.05; done
}
ctl() { "$bin/showroomctl" --socket "$dir/s.sock" "$@"; }
now() { date +%s.%N; }
