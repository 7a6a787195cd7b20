#!/bin/bash
# Runs a command in the network namespace `unshare -n` made for it, with a
# loopback and a route out (a veth pair, its far end unconnected): a bench
# or the suite beside another, with no port of theirs shared. Nothing
# outside is reached from it (no PyPI, no crates.io).
#
#   unshare -n bash tests/netns_run.sh bash tests/bench_sleep.sh
set -euo pipefail
ip link set lo up
ip link add veth0 type veth peer name veth1
ip addr add 10.200.0.1/24 dev veth0
ip link set veth0 up
ip link set veth1 up
ip route add default via 10.200.0.2 dev veth0
# pasta copies the host's IPv6 routes too: give it one.
ip -6 addr add fd99::1/64 dev veth0 nodad
ip -6 route add default via fd99::3 dev veth0 onlink
exec "$@"
