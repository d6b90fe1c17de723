#!/usr/bin/env bash
# Regenerates the keepalived captures used by crates/lbcore/tests/packet.rs.
#
# Two network namespaces joined by a veth pair (192.0.2.1/24 + 2001:db8::1/64 + fe80::1 on the
# keepalived side, 192.0.2.2/24 + 2001:db8::2/64 + fe80::2 on the capturing side). keepalived runs
# three VRRP instances in namespace A:
#   (a) VRRPv2, PASS auth "somepassword", VRID 51, priority 101, VIP 192.0.2.100
#   (b) VRRPv3 over IPv4, VRID 52, advert_int 0.05, VIPs 192.0.2.101 + 192.0.2.102
#   (c) VRRPv3 over IPv6, VRID 53, VIPs fe80::53 + 2001:db8::53
# tcpdump in namespace B records everything from keepalived's start to its shutdown (so the
# gratuitous ARPs / unsolicited NAs and the priority-0 adverts are included); the capture is then
# split into one small pcap per kind. Needs root, iproute2, keepalived and tcpdump. Traffic never
# leaves the two namespaces. Everything is torn down on exit, including on error or signal.
#
# Usage: capture.sh [OUTDIR]   (default: the directory of this script)
set -euo pipefail

OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
NS_A="pktcap-$$-a"
NS_B="pktcap-$$-b"
VETH_A="pcap$$a"
VETH_B="pcap$$b"
MAC_A="02:00:00:00:00:0a"
MAC_B="02:00:00:00:00:0b"
TMP=$(mktemp -d /tmp/pktcap.XXXXXX)
KA_PID=""
TD_PID=""

cleanup() {
    local rc=$?
    if [[ -n "$KA_PID" ]] && kill -0 "$KA_PID" 2>/dev/null; then
        kill -TERM "$KA_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$KA_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$KA_PID" 2>/dev/null || true
    fi
    # keepalived's children (the VRRP process) write their own pid file.
    if [[ -s "$TMP/vrrp.pid" ]]; then kill -KILL "$(cat "$TMP/vrrp.pid")" 2>/dev/null || true; fi
    if [[ -n "$TD_PID" ]] && kill -0 "$TD_PID" 2>/dev/null; then
        kill -INT "$TD_PID" 2>/dev/null || true
        sleep 0.3
        kill -KILL "$TD_PID" 2>/dev/null || true
    fi
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (bounded) until "$@" succeeds.
wait_for() {
    local what=$1 tries=$2
    shift 2
    for _ in $(seq 1 "$tries"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "capture.sh: timed out waiting for $what" >&2
    return 1
}

[[ $(id -u) -eq 0 ]] || { echo "capture.sh: must run as root" >&2; exit 1; }

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link add "$VETH_A" address "$MAC_A" type veth peer name "$VETH_B" netns "$NS_B" address "$MAC_B"
for pair in "$NS_A:$VETH_A:1" "$NS_B:$VETH_B:2"; do
    IFS=: read -r ns dev n <<<"$pair"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.accept_dad=0" "net.ipv6.conf.$dev.addr_gen_mode=1"
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "192.0.2.$n/24" dev "$dev"
    ip -n "$ns" addr add "2001:db8::$n/64" dev "$dev" nodad
    ip -n "$ns" addr add "fe80::$n/64" dev "$dev" nodad
    ip -n "$ns" link set "$dev" up
done

cat >"$TMP/keepalived.conf" <<EOF
global_defs {
    router_id pktcap
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 1
}
vrrp_instance V2_PASS {
    state MASTER
    interface $VETH_A
    virtual_router_id 51
    priority 101
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass somepassword
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
vrrp_instance V3_V4 {
    version 3
    state MASTER
    interface $VETH_A
    virtual_router_id 52
    priority 101
    advert_int 0.05
    virtual_ipaddress {
        192.0.2.101/24
        192.0.2.102/24
    }
}
vrrp_instance V3_V6 {
    version 3
    state MASTER
    interface $VETH_A
    virtual_router_id 53
    priority 101
    advert_int 1
    virtual_ipaddress {
        fe80::53/64
        2001:db8::53/64
    }
}
EOF

ip netns exec "$NS_B" tcpdump -n -U -Z root -i "$VETH_B" -w "$TMP/all.pcap" \
    'ip proto 112 or ip6 proto 112 or arp or (icmp6 and ip6[40] == 136)' \
    2>"$TMP/tcpdump.log" &
TD_PID=$!
wait_for "tcpdump to listen" 100 grep -q "listening on" "$TMP/tcpdump.log"

ip netns exec "$NS_A" keepalived -n -l -D -P -f "$TMP/keepalived.conf" \
    -p "$TMP/keepalived.pid" -r "$TMP/vrrp.pid" >"$TMP/keepalived.log" 2>&1 &
KA_PID=$!

has_all_vips() {
    local addrs
    addrs=$(ip -n "$NS_A" -o addr show dev "$VETH_A")
    for vip in 192.0.2.100/ 192.0.2.101/ 192.0.2.102/ fe80::53/ 2001:db8::53/; do
        grep -qF " $vip" <<<"$addrs" || return 1
    done
}
wait_for "keepalived to become master of all instances" 200 has_all_vips || {
    cat "$TMP/keepalived.log" >&2
    exit 1
}
# A few adverts of each instance (v2 and v3/IPv6 every 1 s, v3/IPv4 every 50 ms).
sleep 2.5
kill -TERM "$KA_PID"
wait_for "keepalived to stop" 100 bash -c "! kill -0 $KA_PID"
KA_PID=""
sleep 0.5
kill -INT "$TD_PID"
wait "$TD_PID" || true
TD_PID=""

split() {
    local name=$1 filter=$2
    tcpdump -n -Z root -r "$TMP/all.pcap" -w "$OUT/$name" "$filter" 2>/dev/null
    echo "$name: $(tcpdump -n -r "$OUT/$name" 2>/dev/null | wc -l) packets"
}
split keepalived-v2-pass.pcap 'ip proto 112 and ip[20] == 0x21'
split keepalived-v3-ipv4.pcap 'ip proto 112 and ip[20] == 0x31'
split keepalived-v3-ipv6.pcap 'ip6 proto 112'
split keepalived-garp.pcap 'arp'
split keepalived-na.pcap 'icmp6 and ip6[40] == 136'
grep -iE "warn|truncat|password" "$TMP/keepalived.log" || true
