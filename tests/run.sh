#!/usr/bin/env bash
# The whole test suite on a fresh machine: install the real components, build
# the real binaries, run unit and end-to-end tests (real supervisord, real Apache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
# The documented import direction (docs/ARCHITECTURE.md), before anything is built.
bash tests/check_imports.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests drive the real binaries: build them first.
cargo build --workspace --bins --locked
# The Debian package, installed and purged on this machine (needs root or sudo).
bash tests/package_test.sh
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    # Without nextest there is no per-test limit (.config/nextest.toml sets
    # one): bound the whole run, so that a hang fails it instead of eating
    # CI's budget. timeout signals cargo's whole process group.
    timeout --kill-after=30s 30m cargo test --workspace --locked --no-fail-fast
fi
