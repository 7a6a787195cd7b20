#!/usr/bin/env bash
# Only the abuse figures of the benchmarks (issue 10): `showroomctl list` and
# showroomd's memory with 5,000 idle connections held against none, and a
# deploy printing one 1 MB line against one printing nothing; each a ratio
# against its baseline in the same run. BENCH_RUNS=N sets the runs (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --release --workspace --bins --locked
cargo bench -p showroom-tests --bench ops --locked -- abuse
