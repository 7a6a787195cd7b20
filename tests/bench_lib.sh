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
    supervisorctl -c "$dir/state/supervisor/supervisord.conf" shutdown >/dev/null 2>&1 || true
    sleep 1
    rm -rf "$dir"
}
start_daemon() {
    "$bin/showroomd" --config "$dir/showroomd.toml" >>"$dir/showroomd.log" 2>&1 &
    daemon=$!
    until ctl list >/dev/null 2>&1; do sleep 0.05; done
}
ctl() { "$bin/showroomctl" --socket "$dir/s.sock" "$@"; }
now() { date +%s.%N; }
