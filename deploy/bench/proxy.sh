#!/usr/bin/env bash
# deploy/bench/proxy.sh - proxyd vs HAProxy 2.6 (with and without splice) vs no proxy: iperf3
# throughput, wrk keep-alive and Connection: close request rates and p99, and memory for N idle
# connections. Same machine, same run, same haproxy.cfg (deploy/bench/proxy/haproxy.cfg).
#
# Everything runs in a network namespace this script creates (pxbench-<pid>), on its loopback
# (127.0.0.0/8 only): iperf3 -s and nginx (deploy/bench/proxy/nginx.conf) as backends, the three
# proxies side by side (HAProxy on 127.0.0.11, HAProxy + splice on 127.0.0.12, proxyd on
# 127.0.0.13), and the load generators. For each measure: one warm-up round, then BENCH_RUNS
# rounds; a round runs every variant once, in an order rotated round by round; the table shows
# median (min-max). The namespace and every process are removed on exit, Ctrl-C included.
#
# Usage (root, from anywhere):  deploy/bench/proxy.sh
# Environment (defaults in brackets):
#   BENCH_SECS [10]      seconds per iperf3 / wrk run
#   BENCH_RUNS [5]       measured runs per cell (after one warm-up)
#   BENCH_IDLE [10000]   idle connections for the memory figure
#   BENCH_CONNS [50]     wrk connections (-c);  BENCH_THREADS [2]  wrk threads (-t)
#   BENCH_VARIANTS ["direct haproxy haproxy-splice proxyd"]
#   BENCH_MEASURES ["iperf wrk-ka wrk-close idle"]
#   PROXYD_BIN [target/release/proxyd, built here]   HAPROXY_BIN [haproxy]
#   CARGO_TARGET_DIR is honoured.
# Needs: cargo, iproute2, and the Debian packages haproxy iperf3 wrk nginx-light (installed if
# missing). Output: a markdown section on stdout, also saved as /tmp/proxy-bench-<UTC>.md; raw
# logs of every run under /tmp/proxy-bench-<UTC>/.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ $(id -u) -eq 0 ]] || { echo "proxy.sh: run as root (network namespace)" >&2; exit 1; }

SECS=${BENCH_SECS:-10}
RUNS=${BENCH_RUNS:-5}
IDLE=${BENCH_IDLE:-10000}
CONNS=${BENCH_CONNS:-50}
THREADS=${BENCH_THREADS:-2}
read -r -a VARIANTS <<<"${BENCH_VARIANTS:-direct haproxy haproxy-splice proxyd}"
read -r -a MEASURES <<<"${BENCH_MEASURES:-iperf wrk-ka wrk-close idle}"
for n in "$SECS" "$RUNS" "$IDLE" "$CONNS" "$THREADS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "proxy.sh: not a positive integer: $n" >&2; exit 2; }
done

log() { printf '[proxy.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- tools -------------------------------------------------------------------------------------
need=()
for pair in haproxy:haproxy iperf3:iperf3 wrk:wrk nginx:nginx-light; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${need[@]}" >&2; }
fi
HAPROXY=${HAPROXY_BIN:-haproxy}

TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [[ -n ${PROXYD_BIN:-} ]]; then
    log "building idle-conns (proxyd: $PROXYD_BIN)"
    cargo build --release -q -p system-tests --bins
else
    log "building release binaries"
    cargo build --release -q -p proxyd -p system-tests --bins
fi
PROXYD=${PROXYD_BIN:-$TARGET_DIR/release/proxyd}
IDLE_BIN=$TARGET_DIR/release/idle-conns
PROXYD=$(realpath "$PROXYD")
IDLE_BIN=$(realpath "$IDLE_BIN")
CFG=$(realpath deploy/bench/proxy/haproxy.cfg)

# File descriptors: HAProxy needs 2 per proxied connection and refuses to start unless it gets
# 2 x maxconn + a few, and 2.5 x maxconn with splice (maxpipes defaults to maxconn / 4); proxyd
# needs at least 2 per connection. Raise the limit as far as allowed (a higher
# hard limit needs CAP_SYS_RESOURCE, which containers often lack); global maxconn is 30000, or
# what the limit allows for HAProxy, the same for both proxies.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
export PXB_MAXCONN=$(((NOFILE - 100) * 2 / 5 < 30000 ? (NOFILE - 100) * 2 / 5 : 30000))
IDLE_ASKED=$IDLE
if ((PXB_MAXCONN - 50 < IDLE)); then
    IDLE=$((PXB_MAXCONN - 50))
    log "WARNING: the fd limit is $NOFILE, so maxconn is $PXB_MAXCONN: measuring $IDLE idle" \
        "connections instead of $IDLE_ASKED (raise the hard limit, e.g. run outside a container)"
fi

# --- scratch, namespace, cleanup ---------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
DIR=/tmp/proxy-bench-$STAMP
OUT=/tmp/proxy-bench-$STAMP.md
mkdir -p "$DIR/www/owa" "$DIR/tmp" "$DIR/logs"
chmod 755 "$DIR" "$DIR/www" "$DIR/www/owa"
NS=pxbench-$$
PIDS=()
IDLE_PID=
CUR_PID=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $IDLE_PID ]] && kill "$IDLE_PID" 2>/dev/null
    [[ -n $CUR_PID ]] && kill "$CUR_PID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$p" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a measuring command and waits for it with the `wait` builtin, which a trapped signal
# interrupts at once: bash would not act on a Ctrl-C that a foreground child (timeout, iperf3)
# catches and survives, and the script would go on measuring.
fg_run() {
    local rc=0
    "$@" &
    CUR_PID=$!
    wait "$CUR_PID" || rc=$?
    CUR_PID=
    return "$rc"
}

ip netns add "$NS"
# nsenter execs the command in place (ip netns exec forks and waits), so $! is the process.
NSX=(nsenter --net="/run/netns/$NS" --)
"${NSX[@]}" ip link set lo up

# Waits (10 s at most) until ADDR:PORT is listening in the namespace.
wait_listen() {
    local i
    for ((i = 0; i < 100; i++)); do
        "${NSX[@]}" ss -Hltn "sport = :$2" | grep -q "$1:$2" && return 0
        sleep 0.1
    done
    log "nothing listens on $1:$2 (see $DIR/logs)"
    return 1
}

# --- backends ----------------------------------------------------------------------------------
# A 1 KiB page, like Exchange's /owa/healthcheck.htm probe target.
{ printf '<html><body>'; head -c 999 /dev/zero | tr '\0' 'x'; printf '</body></html>\n'; } \
    >"$DIR/www/owa/healthcheck.htm"
chmod 644 "$DIR/www/owa/healthcheck.htm"
PAGE=/owa/healthcheck.htm
sed "s|@DIR@|$DIR|g" deploy/bench/proxy/nginx.conf >"$DIR/nginx.conf"
"${NSX[@]}" iperf3 -s -B 127.0.0.1 -p 5201 >"$DIR/logs/iperf3-server.log" 2>&1 &
PIDS+=($!)
"${NSX[@]}" nginx -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/nginx-error.log" \
    >"$DIR/logs/nginx.log" 2>&1 &
PIDS+=($!)
wait_listen 127.0.0.1 5201
wait_listen 127.0.0.1 8080

# --- proxies -----------------------------------------------------------------------------------
# The splice variant: the same file plus the two options in `defaults`, nothing else changed.
sed '/^defaults/a\    option splice-request\n    option splice-response' "$CFG" >"$DIR/haproxy-splice.cfg"
declare -A ADDR=([direct]=127.0.0.1 [haproxy]=127.0.0.11 [haproxy-splice]=127.0.0.12
    [proxyd]=127.0.0.13)
declare -A PPID_OF=()
declare -A LABEL=([direct]="direct (no proxy)" [haproxy]="HAProxy 2.6"
    [haproxy-splice]="HAProxy 2.6 + splice" [proxyd]="proxyd")
port() { # variant, backend port -> port to connect to
    if [[ $1 == direct ]]; then echo "$2"; else echo $((10000 + $2)); fi
}

for v in "${VARIANTS[@]}"; do
    [[ -n ${ADDR[$v]:-} ]] || { log "unknown variant $v"; exit 2; }
    case $v in
    direct) continue ;;
    haproxy) cmd=("$HAPROXY" -f "$CFG" -db) ;;
    haproxy-splice) cmd=("$HAPROXY" -f "$DIR/haproxy-splice.cfg" -db) ;;
    proxyd) cmd=("$PROXYD" -f "$CFG" -db) ;;
    esac
    PXB_ADDR=${ADDR[$v]} "${cmd[@]}" -c >"$DIR/logs/$v-check.log" 2>&1 ||
        { log "$v rejects the configuration:"; cat "$DIR/logs/$v-check.log" >&2; exit 1; }
    PXB_ADDR=${ADDR[$v]} "${NSX[@]}" "${cmd[@]}" >"$DIR/logs/$v.log" 2>&1 &
    PIDS+=($!)
    PPID_OF[$v]=$!
    for p in 15201 18080 19000; do wait_listen "${ADDR[$v]}" "$p"; done
    log "$v up, pid ${PPID_OF[$v]}"
done

# --- measures ----------------------------------------------------------------------------------
declare -A R=()    # "variant|metric" -> space-separated values of the measured runs
declare -A ERRS=() # variant -> notes on failures
declare -A DEAD=() # variant -> set once its proxy died
put() { R["$1|$2"]+="$3 "; }
note() { ERRS[$1]+="$2; "; log "$1: $2"; }
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# check_alive VARIANT WHAT: records a crash once.
check_alive() {
    [[ $1 == direct || -n ${DEAD[$1]:-} ]] && return 0
    if ! kill -0 "${PPID_OF[$1]}" 2>/dev/null; then
        DEAD[$1]=1
        note "$1" "proxy process died during $2 (log: $DIR/logs/$1.log)"
        tail -5 "$DIR/logs/$1.log" >&2 || true
    fi
}

# CPU% of the proxy over a run (both threads count: 200 % is two full CPUs).
cpu_pct() { awk -v a="$1" -v b="$2" -v hz="$HZ" -v s="$3" 'BEGIN {printf "%.0f", (b - a) / hz / s * 100}'; }

m_iperf() { # variant keep(0/1) tag
    local v=$1 keep=$2 tag=$3 dir flag out gbps t0 t1 pid=${PPID_OF[$1]:-}
    for dir in up down; do
        flag=()
        [[ $dir == down ]] && flag=(-R)
        t0=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
        out=$DIR/logs/iperf-$dir-$v-$tag.log
        fg_run timeout $((SECS + 30)) "${NSX[@]}" iperf3 -c "${ADDR[$v]}" -p "$(port "$v" 5201)" \
            -t "$SECS" -f m --connect-timeout 3000 "${flag[@]}" >"$out" 2>&1 || true
        t1=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
        gbps=$(awk '/receiver/ {for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1)}
            END {if (v != "") printf "%.2f", v / 1000}' "$out")
        if [[ -z $gbps ]]; then
            note "$v" "iperf3 $dir failed ($out)"
            continue
        fi
        ((keep)) || continue
        put "$v" "iperf-$dir" "$gbps"
        if [[ -n $pid ]]; then put "$v" "iperf-$dir-cpu" "$(cpu_pct "$t0" "$t1" "$SECS")"; fi
    done
}

m_wrk() { # variant keep tag mode(ka|close)
    local v=$1 keep=$2 tag=$3 mode=$4 hdr=() out rps p99 errs t0 t1 pid=${PPID_OF[$1]:-}
    [[ $mode == close ]] && hdr=(-H 'Connection: close')
    out=$DIR/logs/wrk-$mode-$v-$tag.log
    t0=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
    fg_run timeout $((SECS + 30)) "${NSX[@]}" wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" \
        --timeout 2s --latency "${hdr[@]}" "http://${ADDR[$v]}:$(port "$v" 8080)$PAGE" \
        >"$out" 2>&1 || true
    t1=$( [[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p99=$(awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.2f", v * f}' "$out")
    errs=$(awk '/Socket errors:/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10}
        /Non-2xx or 3xx responses:/ {s += $5} END {print s + 0}' "$out")
    if [[ -z $rps || -z $p99 ]]; then
        note "$v" "wrk $mode gave no figures ($out)"
        return 0
    fi
    ((errs == 0)) || note "$v" "wrk $mode run $tag: $errs errors ($(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' '))"
    ((keep)) || return 0
    put "$v" "wrk-$mode-rps" "$rps"
    put "$v" "wrk-$mode-p99" "$p99"
    put "$v" "wrk-$mode-errs" "$errs"
    if [[ -n $pid ]]; then put "$v" "wrk-$mode-cpu" "$(cpu_pct "$t0" "$t1" "$SECS")"; fi
    return 0
}

m_idle() { # variant keep tag
    local v=$1 keep=$2 tag=$3 pid=${PPID_OF[$1]:-} wfd rss0 fd0 rss1 fd1 line="" alive="" i secs
    local err=$DIR/logs/idle-$v-$tag.err
    [[ -n $pid ]] || return 0 # no process to weigh without a proxy
    rss0=$(rss_kib "$pid")
    fd0=$(fd_count "$pid")
    # A simple-command coproc (COPROC, COPROC_PID) execs in place: the pid is idle-conns'.
    coproc "${NSX[@]}" "$IDLE_BIN" --connect "${ADDR[$v]}:$(port "$v" 9000)" \
        --backend 127.0.0.1:9000 -n "$IDLE" --timeout 120 2>"$err"
    IDLE_PID=$COPROC_PID
    read -r -t 150 line <&"${COPROC[0]}" || true
    if [[ $line == ready* ]]; then
        secs=$(awk '{print $(NF - 1)}' <<<"$line")
        sleep 1
        rss1=$(rss_kib "$pid")
        fd1=$(fd_count "$pid")
        wfd=${COPROC[1]}
        exec {wfd}>&-
        read -r -t 60 alive <&"${COPROC[0]}" || true
        [[ $alive == "alive client $IDLE/$IDLE backend $IDLE/$IDLE" ]] ||
            note "$v" "idle run $tag: connections died while held ($alive)"
    else
        fd1=$(fd_count "$pid")
        rss1=$(rss_kib "$pid")
        note "$v" "idle run $tag: $IDLE connections not established: $(tail -1 "$err" 2>/dev/null);" \
            "proxy then had $fd1 fds, RSS $((rss1 / 1024)) MiB"
        kill "$IDLE_PID" 2>/dev/null || true
    fi
    wait "$IDLE_PID" 2>/dev/null || true
    IDLE_PID=
    # Let the proxy close its side before the next run (and notice a leak).
    for ((i = 0; i < 100; i++)); do
        (($(fd_count "$pid") <= fd0 + 16)) && break
        sleep 0.1
    done
    (($(fd_count "$pid") <= fd0 + 16)) ||
        note "$v" "idle run $tag: $(fd_count "$pid") fds 10 s after the clients left (before: $fd0)"
    [[ $line == ready* ]] || return 0
    ((keep)) || return 0
    put "$v" idle-rss0 "$(awk -v k="$rss0" 'BEGIN {printf "%.1f", k / 1024}')"
    put "$v" idle-rss "$(awk -v k="$rss1" 'BEGIN {printf "%.1f", k / 1024}')"
    put "$v" idle-per-conn "$(awk -v a="$rss0" -v b="$rss1" -v n="$IDLE" 'BEGIN {printf "%.2f", (b - a) / n}')"
    put "$v" idle-fds "$fd1"
    put "$v" idle-secs "$secs"
}

for m in "${MEASURES[@]}"; do
    case $m in iperf | wrk-ka | wrk-close | idle) ;; *) log "unknown measure $m"; exit 2 ;; esac
    for ((r = 0; r <= RUNS; r++)); do
        tag=$([[ $r -eq 0 ]] && echo warmup || echo "run$r")
        keep=$((r > 0))
        n=${#VARIANTS[@]}
        for ((k = 0; k < n; k++)); do
            v=${VARIANTS[$(((k + r) % n))]}
            [[ -n ${DEAD[$v]:-} ]] && continue
            log "$m $tag $v"
            case $m in
            iperf) m_iperf "$v" "$keep" "$tag" ;;
            wrk-ka) m_wrk "$v" "$keep" "$tag" ka ;;
            wrk-close) m_wrk "$v" "$keep" "$tag" close ;;
            idle) m_idle "$v" "$keep" "$tag" ;;
            esac
            check_alive "$v" "$m $tag"
        done
    done
done

# --- report ------------------------------------------------------------------------------------
# cell VARIANT METRIC DECIMALS -> "median (min–max)", or "—" when not measured.
stat() { # values -> "median min max" (median of an even count: mean of the middle two)
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{a[NR] = $1}
        END {if (NR == 0) exit; m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
             print m, a[1], a[NR]}'
}
cell() {
    local s
    s=$(stat "${R["$1|$2"]:-}")
    [[ -n $s ]] || { echo "—"; return; }
    awk -v d="$3" -v n="$RUNS" '{if (n == 1) printf "%.*f", d, $1;
        else printf "%.*f (%.*f–%.*f)", d, $1, d, $2, d, $3}' <<<"$s"
}
median_of() { stat "${R["$1|$2"]:-}" | awk '{print $1}'; }
# proxyd against the better HAProxy median: "+x %" / "−x %", and whether that meets the goal.
verdict() { # metric higher(1)/lower(0)
    local p h1 h2
    p=$(median_of proxyd "$1")
    h1=$(median_of haproxy "$1")
    h2=$(median_of haproxy-splice "$1")
    [[ -n $p && ( -n $h1 || -n $h2 ) ]] || { echo "—"; return; }
    awk -v p="$p" -v a="${h1:-}" -v b="${h2:-}" -v hi="$2" 'BEGIN {
        if (a == "") best = b; else if (b == "") best = a;
        else best = hi ? ((a + 0 > b + 0) ? a : b) : ((a + 0 < b + 0) ? a : b);
        if (best + 0 == 0) { print "—"; exit }
        d = (p / best - 1) * 100; ok = hi ? (d >= 0) : (d <= 0);
        printf "%+.1f %% (%s)", d, ok ? "meets" : (hi ? "below" : "above") }' | sed 's/-/−/'
}
row() { # label metric decimals higher-is-better(1/0/-); nothing if no variant has the metric
    local line="| $1 |" v any=0
    for v in "${VARIANTS[@]}"; do [[ -n ${R["$v|$2"]:-} ]] && any=1; done
    ((any)) || return 0
    for v in "${VARIANTS[@]}"; do line+=" $(cell "$v" "$2" "$3") |"; done
    if [[ $4 == - ]]; then line+=" |"; else line+=" $(verdict "$2" "$4") |"; fi
    echo "$line"
}

if [[ -n ${PROXYD_BIN:-} ]]; then
    PROXYD_DESC="the given PROXYD_BIN $PROXYD ($("$PROXYD" -v 2>&1 | head -1))"
else
    PROXYD_DESC="\`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\`"
    git diff --quiet HEAD -- crates/proxyd crates/lbcore Cargo.toml Cargo.lock 2>/dev/null ||
        PROXYD_DESC+=" **with uncommitted changes in crates/proxyd or crates/lbcore**"
    PROXYD_DESC+=", release build $PROXYD"
fi
{
    echo "### Results: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r)"
    echo "- $("$HAPROXY" -v | head -1)"
    echo "- proxyd: $PROXYD_DESC"
    echo "- $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(iperf3 -v | head -1 | awk '{print $1, $2}')"
    echo "- command: BENCH_SECS=$SECS BENCH_RUNS=$RUNS BENCH_IDLE=$IDLE_ASKED BENCH_CONNS=$CONNS BENCH_THREADS=$THREADS $0"
    echo "- fd limit (ulimit -n): $NOFILE; global maxconn: $PXB_MAXCONN"
    if ((IDLE != IDLE_ASKED)); then
        echo "- **idle connections: $IDLE, not the $IDLE_ASKED asked: the fd limit allows no more**"
    fi
    echo "- each cell: median (min–max) of $RUNS runs after a warm-up; last column: proxyd against"
    echo "  the better of the two HAProxy medians (goal: at or above on rates, at or below on p99,"
    echo "  memory and CPU)"
    echo
    thead="| measure |"
    sep="|---|"
    for v in "${VARIANTS[@]}"; do thead+=" ${LABEL[$v]} |"; sep+="---|"; done
    echo "$thead proxyd vs best HAProxy |"
    echo "$sep---|"
    row "iperf3 client → server, Gbit/s" iperf-up 2 1
    row "iperf3 server → client, Gbit/s" iperf-down 2 1
    row "wrk keep-alive, requests/s" wrk-ka-rps 0 1
    row "wrk keep-alive, p99 ms" wrk-ka-p99 2 0
    row "wrk Connection: close, requests/s (= new connections/s)" wrk-close-rps 0 1
    row "wrk Connection: close, p99 ms" wrk-close-p99 2 0
    row "RSS before, MiB" idle-rss0 1 -
    row "RSS with $IDLE idle connections, MiB" idle-rss 1 0
    row "RSS growth per idle connection, KiB" idle-per-conn 2 -
    row "fds with $IDLE idle connections" idle-fds 0 -
    row "time to open $IDLE connections end to end, s" idle-secs 2 -
    row "proxy CPU % during iperf3 client → server" iperf-up-cpu 0 -
    row "proxy CPU % during iperf3 server → client" iperf-down-cpu 0 -
    row "proxy CPU % during wrk keep-alive" wrk-ka-cpu 0 -
    row "proxy CPU % during wrk Connection: close" wrk-close-cpu 0 -
    row "wrk errors (socket + non-2xx) per run" wrk-ka-errs 0 -
    row "wrk errors, Connection: close, per run" wrk-close-errs 0 -
    echo
    if ((${#ERRS[@]})); then
        echo "Problems seen (warm-up included):"
        echo
        for v in "${VARIANTS[@]}"; do
            if [[ -n ${ERRS[$v]:-} ]]; then echo "- ${LABEL[$v]}: ${ERRS[$v]}"; fi
        done
    else
        echo "No errors, crashes or dropped connections in any run (warm-up included)."
    fi
    echo
    echo "Raw logs: $DIR/logs"
} | tee "$OUT"
log "saved to $OUT"
