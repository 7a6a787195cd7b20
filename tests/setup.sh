#!/usr/bin/env bash
# Installs the real components showroom drives (and its tests need), when missing:
# supervisord, Apache (Debian's apache2-bin) with media-types, bubblewrap (the
# demos' sandbox), passt (pasta: each demo's network), and systemd-analyze; as root, the account sandboxed programs run as;
# for the front door's tests, openssl (a test certificate) and chromium (the index in a real browser);
# tmux, a real terminal of a fixed size for `list` and the confirmation prompts.
set -euo pipefail
need=()
command -v supervisord >/dev/null 2>&1 || need+=(supervisor)
command -v supervisorctl >/dev/null 2>&1 || need+=(supervisor)
[ -x /usr/sbin/apache2 ] || need+=(apache2-bin)
[ -f /etc/mime.types ] || need+=(media-types)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ -x /usr/bin/bwrap ] || need+=(bubblewrap)
[ -x /usr/bin/pasta ] || need+=(passt)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$(id -u)" -eq 0 ] && ! getent passwd showroom-demo >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin showroom-demo
fi
# Debian's supervisor package may start a system-wide supervisord; showroom runs its own.
command -v cargo >/dev/null 2>&1 || { echo "cargo is required: https://rustup.rs" >&2; exit 1; }
# The suite checks formatting and lints: a minimal rustup profile lacks both.
for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
        rustup component add "$( [ "$tool" = fmt ] && echo rustfmt || echo clippy )"
    fi
done
