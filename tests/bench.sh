#!/usr/bin/env bash
# The benchmarks (real supervisord, real Apache, release binaries); figures
# are ratios against baselines measured in the same run. BENCH_RUNS=N for
# more or fewer runs per figure (default 15); BENCH_ONLY=list|vhost|frontdoor
# for one section.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --release --workspace --bins --locked
cargo bench -p showroom-tests --bench ops --locked
