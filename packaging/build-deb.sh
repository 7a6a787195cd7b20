#!/usr/bin/env bash
# Builds showroom_VERSION_ARCH.deb with dpkg-deb (no cargo-deb to compile in CI).
#
#   packaging/build-deb.sh [--bin-dir DIR] [--out DIR]
#
# --bin-dir: where showroomd and showroomctl are (default: a fresh
# `cargo build --release`); they are stripped into the package. --out: where
# the .deb goes (default: target/debian). Prints the .deb's path last.
# Needs dpkg-deb, dpkg-shlibdeps (dpkg-dev), strip and gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin_dir=""
out=$repo/target/debian
while [ $# -gt 0 ]; do
    case $1 in
        --bin-dir) bin_dir=$(realpath "$2"); shift 2 ;;
        --out) out=$(realpath -m "$2"); shift 2 ;;
        *) echo "usage: $0 [--bin-dir DIR] [--out DIR]" >&2; exit 2 ;;
    esac
done
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (apt-get install dpkg-dev binutils gzip)" >&2; exit 1; }
done
if [ -z "$bin_dir" ]; then
    cargo build --release --locked --bins
    bin_dir=$repo/target/release
fi
for b in showroomd showroomctl; do
    [ -x "$bin_dir/$b" ] || { echo "build-deb.sh: no $b in $bin_dir" >&2; exit 1; }
done

# The version the binaries say they are, so the package cannot name another.
version=$("$bin_dir/showroomd" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
doc=$root/usr/share/doc/showroom
units=$root/lib/systemd/system

install -d "$root/usr/bin" "$root/usr/share/showroom/demos" "$units" "$root/etc/showroom" \
    "$doc" "$root/usr/share/man/man1" "$root/usr/share/man/man8" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d" "$root/DEBIAN"
for b in showroomd showroomctl; do
    install -m 0755 "$bin_dir/$b" "$root/usr/bin/$b"
    strip --strip-unneeded --remove-section=.comment "$root/usr/bin/$b"
done

# Every deploy script and every reconfigure step (clone needs them), and the
# folder's README; try.sh builds from a checkout, so it stays out.
install -m 0755 demos/demo_*.sh demos/reconfigure_*.sh "$root/usr/share/showroom/demos/"
install -m 0644 demos/README.md "$root/usr/share/showroom/demos/README.md"

# The units as systemd/ has them, run from /usr/bin. showroomd runs as root
# here and drops demos, deploy scripts and Apache to `showroom-demo` (the
# sandbox's account, which keeps them away from the state folder's records);
# the cleanup runs as root too: the `showroom` user of a hand-made install
# does not exist on a packaged host.
for u in showroomd.service showroom-cleanup.service showroom-cleanup.timer; do
    sed -e 's#/usr/local/bin/#/usr/bin/#g' -e '/^User=showroom$/d' -e '/^Group=showroom$/d' \
        -e 's#^\(\# .*\)Install: see systemd/README.md.#\1Installed by the showroom package.#' \
        "systemd/$u" > "$units/$u"
    chmod 0644 "$units/$u"
    if grep -q '/usr/local\|^User=\|^Group=' "$units/$u"; then
        echo "build-deb.sh: systemd/$u changed shape: $units/$u still names /usr/local, User= or Group=" >&2
        exit 1
    fi
done

install -m 0644 packaging/showroomd.toml "$root/etc/showroom/showroomd.toml"

# Man pages and completions from the binaries' own clap definitions.
"$bin_dir/showroomctl" man "$root/usr/share/man/man1"
"$bin_dir/showroomd" --man "$root/usr/share/man/man8"
gzip -9n "$root"/usr/share/man/man1/*.1 "$root"/usr/share/man/man8/*.8
"$bin_dir/showroomctl" completions bash > "$root/usr/share/bash-completion/completions/showroomctl"
"$bin_dir/showroomctl" completions zsh > "$root/usr/share/zsh/vendor-completions/_showroomctl"
"$bin_dir/showroomctl" completions fish > "$root/usr/share/fish/vendor_completions.d/showroomctl.fish"

install -m 0644 packaging/copyright "$doc/copyright"
{
    echo "showroom ($version) unstable; urgency=medium"
    echo
    echo "  * Built from commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)."
    echo
    # A fixed date: the same sources give the same package.
    echo " -- showroom maintainers <showroom@example.invalid>  $(date -R -u -d @"$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)")"
} > "$doc/changelog"
gzip -9n "$doc/changelog"

install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/showroom/showroomd.toml > "$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"

# The libraries the binaries link (libc, libgcc), as dpkg-shlibdeps reads them.
mkdir -p "$work/src/debian"
printf 'Source: showroom\n\nPackage: showroom\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/showroomd" "$root/usr/bin/showroomctl" 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$shlibs/" \
    -e "s/@SIZE@/$size/" packaging/debian/control > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/showroom_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
