#!/usr/bin/env bash
# The Debian package, end to end on this machine (tests/run.sh runs it after
# `cargo build`): builds the .deb from the built binaries, lintian finds no
# error, `dpkg -i` installs it, the installed showroomd runs as its unit's
# ExecStart says (in the foreground: no systemd here), the installed
# showroomctl deploys, starts, serves through the front door, stops and
# destroys the sample `static` demo (as an operator of the `showroom` group),
# an upgrade (the package installed again) leaves the demos running, removal
# stops the demos and keeps their data, purge removes it.
# Ports: 17000-17999 (the front door on 17080, demos from 17100). It installs
# and purges the `showroom` package: it refuses a machine that has it already.
# Everything it starts is stopped on exit, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$repo/$target ;; esac

fail() { echo "package_test: FAIL: $*" >&2; exit 1; }
step() { echo "package_test: $*"; }
[ "$(id -u)" -eq 0 ] || exec sudo --preserve-env=CARGO_TARGET_DIR,PATH bash "$0" "$@"

state=/var/lib/showroom
socket=/run/showroom/showroomd.sock
operator=showroom-pkgtest
if dpkg-query -W -f='${Status}' showroom 2>/dev/null | grep -q installed; then
    fail "the showroom package is installed here already: this test installs and purges its own"
fi
for p in "$state" /etc/showroom /run/showroom; do
    [ ! -e "$p" ] || fail "$p exists: this test would remove it at purge; move it away first"
done

need=()
command -v lintian >/dev/null || need+=(lintian)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
daemon_pid=""
cleanup() {
    set +e
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null
    fi
    # The supervisord showroomd started (it outlives showroomd by design).
    if [ -f "$state/supervisor/supervisord.pid" ]; then
        pid=$(cat "$state/supervisor/supervisord.pid")
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null
    fi
    dpkg-query -W showroom >/dev/null 2>&1 && dpkg --purge showroom >/dev/null 2>&1
    rm -rf "$state" /etc/showroom /run/showroom
    getent passwd "$operator" >/dev/null && userdel "$operator"
    rm -rf "$work"
}
trap cleanup EXIT

step "building the package from $target/debug"
deb=$(bash packaging/build-deb.sh --bin-dir "$target/debug" --out "$work" | tail -1)
[ -f "$deb" ] || fail "build-deb.sh made no package"
case $(basename "$deb") in showroom_*_"$(dpkg --print-architecture)".deb) ;; *) fail "name: $deb" ;; esac
# lintian refuses to run as root without --allow-root on newer versions.
lint_root=""
lintian --help 2>&1 | grep -q -- --allow-root && lint_root=--allow-root
lint=$(lintian $lint_root "$deb" 2>&1 || true)
echo "$lint" | sed 's/^/lintian: /'
if echo "$lint" | grep -q '^E: '; then fail "lintian reports errors"; fi

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/showroomd ./usr/bin/showroomctl ./etc/showroom/showroomd.toml \
    ./lib/systemd/system/showroomd.service ./lib/systemd/system/showroom-cleanup.service \
    ./lib/systemd/system/showroom-cleanup.timer ./usr/share/man/man1/showroomctl.1.gz \
    ./usr/share/man/man8/showroomd.8.gz ./usr/share/bash-completion/completions/showroomctl \
    ./usr/share/zsh/vendor-completions/_showroomctl ./usr/share/fish/vendor_completions.d/showroomctl.fish \
    ./usr/share/doc/showroom/copyright; do
    echo "$contents" | grep -q " $f\$" || fail "the package lacks $f"
done
for script in demos/demo_*.sh demos/reconfigure_*.sh; do
    echo "$contents" | grep -q " ./usr/share/showroom/$script\$" || fail "the package lacks $script"
done
dpkg-deb -f "$deb" Depends | grep -q 'supervisor.*apache2-bin.*media-types.*bubblewrap.*passt' ||
    fail "Depends: $(dpkg-deb -f "$deb" Depends)"

step "dpkg -i (then apt-get install -f for what it depends on)"
if ! dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq --no-install-recommends >>"$work/dpkg.log" 2>&1 ||
        { cat "$work/dpkg.log"; fail "apt-get install -f"; }
fi
[ "$(dpkg-query -W -f='${Status}' showroom)" = "install ok installed" ] || { cat "$work/dpkg.log"; fail "not installed"; }
dpkg-query -W -f='${Conffiles}' showroom | grep -q /etc/showroom/showroomd.toml || fail "showroomd.toml is no conffile"
getent passwd showroom-demo >/dev/null || fail "no showroom-demo account after install"
getent group showroom >/dev/null || fail "no showroom group after install"
units=(/lib/systemd/system/showroomd.service /lib/systemd/system/showroom-cleanup.service /lib/systemd/system/showroom-cleanup.timer)
verify=$(systemd-analyze verify "${units[@]}" 2>&1 || echo "exit $?")
if echo "$verify" | grep -q 'showroom\|exit'; then echo "$verify"; fail "systemd-analyze verify on the installed units"; fi

# An operator moves the front door and the demos' ports (the test's range).
cat >>/etc/showroom/showroomd.toml <<'TOML'
port_min = 17100
port_max = 17199
front_port = 17080
TOML

# What systemd would do before ExecStart: StateDirectory=, RuntimeDirectory=.
install -d -m 0750 "$state"
install -d -m 0755 /run/showroom
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/showroomd.service)
case $exec_start in /usr/bin/showroomd\ *) ;; *) fail "ExecStart=$exec_start" ;; esac
step "running $exec_start"
# shellcheck disable=SC2086 # ExecStart's words, as systemd splits them
$exec_start >"$work/showroomd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 150); do
    [ -S "$socket" ] && showroomctl list >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/showroomd.log"; fail "showroomd exited"; }
    sleep 0.2
done
showroomctl list >/dev/null || { cat "$work/showroomd.log"; fail "showroomd never answered at $socket"; }

# An operator: a member of the `showroom` group, not root.
useradd --no-create-home --shell /usr/sbin/nologin --groups showroom "$operator"
as_operator() { setpriv --reuid="$operator" --regid="$operator" --init-groups -- "$@"; }
if setpriv --reuid=nobody --regid=nogroup --clear-groups -- showroomctl list >/dev/null 2>&1; then
    fail "a user outside the showroom group read the demos"
fi

step "deploy, start, serve, stop, destroy of the sample demo"
as_operator showroomctl deploy static hello --param title="Installed from the package" >/dev/null ||
    { cat "$work/showroomd.log"; fail "deploy static hello"; }
as_operator showroomctl start hello >/dev/null || fail "start hello"
page=$(curl -fsS --max-time 10 --resolve hello.localhost:17080:127.0.0.1 http://hello.localhost:17080/) ||
    fail "the front door did not serve hello"
echo "$page" | grep -q "Installed from the package" || fail "the front door served another page: $page"
as_operator showroomctl deploy static kept >/dev/null || fail "deploy static kept"
as_operator showroomctl start kept >/dev/null || fail "start kept"
kept_port=$(showroomctl --json list | python3 -c 'import json,sys; print([d["port"] for d in json.load(sys.stdin) if d["name"]=="kept"][0])')
curl -fsS --max-time 10 "http://127.0.0.1:$kept_port/" >/dev/null || fail "kept is not served on $kept_port"
# An upgrade (the same package again: prerm upgrade, postinst configure
# OLD_VERSION) stops nothing: kept runs on under the same supervisord.
supervisord_before=$(cat "$state/supervisor/supervisord.pid")
dpkg -i "$deb" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "dpkg -i over the installed package"; }
[ "$(cat "$state/supervisor/supervisord.pid")" = "$supervisord_before" ] && kill -0 "$supervisord_before" ||
    fail "the upgrade restarted or stopped supervisord"
curl -fsS --max-time 10 "http://127.0.0.1:$kept_port/" >/dev/null || fail "kept is not served after the upgrade"
as_operator showroomctl stop hello >/dev/null || fail "stop hello"
[ "$(showroomctl status hello)" = STOPPED ] || fail "hello is $(showroomctl status hello) after stop"
if curl -fsS --max-time 5 --resolve hello.localhost:17080:127.0.0.1 http://hello.localhost:17080/ 2>/dev/null | grep -q "Installed from the package"; then
    fail "a stopped demo's page is still served"
fi
as_operator showroomctl destroy hello >/dev/null || fail "destroy hello"
[ "$(showroomctl status hello)" = DESTROYED ] || fail "hello is $(showroomctl status hello) after destroy"
[ ! -e "$state/demos/hello" ] || fail "destroy left $state/demos/hello"

step "dpkg --remove, showroomd still running"
supervisord_pid=$(cat "$state/supervisor/supervisord.pid")
dpkg --remove showroom >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg --remove"; }
[ ! -e /usr/bin/showroomd ] && [ ! -e /usr/bin/showroomctl ] || fail "the binaries outlived the removal"
for _ in $(seq 50); do kill -0 "$supervisord_pid" 2>/dev/null || break; sleep 0.2; done
! kill -0 "$supervisord_pid" 2>/dev/null || fail "supervisord (and the demos) still run after removal"
! curl -fsS --max-time 5 "http://127.0.0.1:$kept_port/" >/dev/null 2>&1 || fail "kept is still served after removal"
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""
[ -f "$state/records/kept.toml" ] && [ -f "$state/demos/kept/www/index.html" ] ||
    fail "removal lost the demo kept (its record or its folder)"
[ -f /etc/showroom/showroomd.toml ] || fail "removal removed the conffile"

step "dpkg --purge"
dpkg --purge showroom >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
grep -q "removes /var/lib/showroom" "$work/purge.log" || { cat "$work/purge.log"; fail "purge did not say what it removes"; }
for p in "$state" /etc/showroom /run/showroom; do
    [ ! -e "$p" ] || fail "purge left $p"
done
step "ok"
