#!/usr/bin/env bash
# The benchmarks (real supervisord, real Apache, release binaries); figures
# are ratios against baselines measured in the same run. BENCH_RUNS=N for
# more or fewer runs per figure (default 15); BENCH_ONLY=list|vhost|frontdoor|frontdoor-load|scale|abuse
# for one section (the same as `cargo bench -p showroom-tests --bench ops -- WORD`).
# BENCH_N=N (default 30) is the number of demos issue 11's figures are measured at,
# against 10 (most of BENCH_N=1000's time is starting half of them, one
# startsecs each). supervisord's own reload, sweep and idle cost: tests/bench_reload.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --release --workspace --bins --locked
cargo bench -p showroom-tests --bench ops --locked -- ${BENCH_ONLY:-}
