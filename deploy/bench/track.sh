#!/usr/bin/env bash
# deploy/bench/track.sh - proxy death on the master -> VIP on the backup (issue 4, docs/benchmarks.md).
#
# Two boxes of the system-test lab (network namespaces; box A priority 101 MASTER, box B 100
# BACKUP; the seed's VRRPv2 instance, VRID 51, advert_int 1, PASS), each running a CAS stand-in, a
# proxy in front of it and a VRRP daemon tracking that proxy. A's proxy is SIGKILLed at a random
# (seeded) phase of the tracker's interval; the bench times the VIP on B, the first TCP answer from
# B's proxy through the VIP at the client, and from a capture A's lowered advert and B's timer.
# Variants: vrrpd + proxyd with the seed's `killall -0 proxyd` script at interval 5 and 1 and with
# the native track_proxyd tracker; keepalived + haproxy with `killall -0 haproxy` at 5 and 1.
# Prints markdown tables; the output is also saved under target/bench/track-<UTC timestamp>.md.
#
# Usage (root):  deploy/bench/track.sh [--runs N] [--seed S]
#                  [--variant ours-script5|ours-script1|ours-native|ka-script5|ka-script1]...
# Default: 5 runs of every variant, about 6 minutes, run serially (the lab takes a machine-wide lock).
# Needs: cargo, keepalived, haproxy, psmisc (killall), tcpdump, iproute2 (apt-get install ...).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ $(id -u) -eq 0 ]] || { echo "track.sh: run as root (network namespaces)" >&2; exit 1; }

# Release build: the figures describe what ships. The bench finds vrrpd, proxyd and cas-standin
# next to itself (VRRPD_BIN, PROXYD_BIN, CAS_STANDIN_BIN, KEEPALIVED_BIN, HAPROXY_BIN override).
cargo build --release -q -p vrrpd -p proxyd -p system-tests --bins
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BENCH="$TARGET_DIR/release/track-bench"

mkdir -p "$TARGET_DIR/bench"
OUT="$TARGET_DIR/bench/track-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "# track bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs"
    echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
    echo "# command: $0 ${*:-}"
    echo
    "$BENCH" "$@"
} | tee "$OUT"
echo "saved to $OUT" >&2
