#!/usr/bin/env bash
# deploy/bench/failover.sh - failover times of vrrpd and keepalived 2.2.7, same harness, same lab.
#
# Each implementation runs on both boxes of the system-test lab (network namespaces, a bridge,
# box A priority 101 master, box B priority 100 backup); A's daemon is SIGTERMed, SIGKILLed, or
# its cable pulled, and the time until B holds the VIP is measured (and, from a capture on the
# switch, the wire-level gap the RFC timers govern, and the phase-free "A's last advert -> VIP on B").
# VRRPv2 at advert_int 1 s and VRRPv3 at 50 ms; each run on a fresh lab, the failure injected at
# (run + 0.5)/N of an advert interval after one of A's adverts. Prints markdown tables (median,
# quartiles, min-max, Mann-Whitney p between the two implementations; docs/benchmarks.md).
#
# Usage (root):  deploy/bench/failover.sh [--runs N] [--impl keepalived|vrrpd]... [--mode v2|v3fast]...
#                                         [--event sigterm|sigkill|linkdown]...
# Default: 5 runs, both implementations, both modes, all events (about 5 minutes: a v2 run takes
# ~8 s, a v3fast run under 1 s). docs/benchmarks.md used --mode v3fast --runs 30 and
# --mode v2 --runs 10.
# Needs: cargo, keepalived, tcpdump, iproute2, nftables, iputils-ping (apt-get install ...).
# Output is also saved under target/bench/failover-<UTC timestamp>.md.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ $(id -u) -eq 0 ]] || { echo "failover.sh: run as root (network namespaces)" >&2; exit 1; }

ARGS=("$@")
has_impl=0
for a in "${ARGS[@]}"; do [[ $a == --impl || $a == --impl=* ]] && has_impl=1; done

# Release build: the figures are meant to describe what ships. The bench binary finds vrrpd next
# to itself (target/release/vrrpd) unless VRRPD_BIN is set.
cargo build --release -q -p vrrpd -p system-tests --bins
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BENCH="$TARGET_DIR/release/failover-bench"

if [[ $has_impl -eq 0 ]]; then
    ARGS=(--impl keepalived --impl vrrpd "${ARGS[@]}")
fi

mkdir -p "$TARGET_DIR/bench"
OUT="$TARGET_DIR/bench/failover-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "# failover bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs"
    echo "# command: $0 ${*:-}"
    echo
    "$BENCH" "${ARGS[@]}"
} | tee "$OUT"
echo "saved to $OUT" >&2
