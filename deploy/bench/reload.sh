#!/usr/bin/env bash
# deploy/bench/reload.sh - reload under load: proxyd (SIGHUP, reloads inside the running process)
# vs Debian's HAProxy 2.6 in master-worker mode (SIGUSR2 to the master; plain `-W`, and `-W -x`
# with a `stats socket ... expose-fd listeners`). docs/benchmarks.md, "Reload under load".
#
# Everything runs in a network namespace this script creates (rlbench-<pid>), on its loopback:
# two CAS stand-ins (cas-standin, 127.0.0.2:60000 and 127.0.0.3:60000, tag line then echo), one
# proxy at a time on 127.0.0.10:16000 (and :16001 in odd configuration variants), and the load
# tool reload-bench (tests/src/bin/reload_bench.rs): long-lived connections echoing once a second,
# a steady stream of short connect-tag-echo-close connections, reloads with alternating files,
# the proxy's processes and memory sampled from /proc. Each run starts a fresh proxy from
# variant 0. A round runs every implementation once, in an order rotated round by round; the
# report gives the median (min-max) of BENCH_RUNS rounds. The namespace, every process it started,
# and the build worktree are removed on exit, Ctrl-C included.
#
# Usage (root, from anywhere):  deploy/bench/reload.sh
# Environment (defaults in brackets):
#   BENCH_RUNS [3]            rounds
#   BENCH_RATE [500]          new short connections per second
#   BENCH_SECS [30]           seconds of short-connection stream per run
#   BENCH_RELOADS [10]        reloads per run;  BENCH_EVERY [2]  seconds between them;
#   BENCH_FIRST [4]           seconds from the start of the stream to the first reload
#   BENCH_LONG_INITIAL [100]  long-lived connections opened before the stream;
#   BENCH_LONG_PER_RELOAD [10]  and one second after each reload (200 in all by default)
#   BENCH_VARIANTS ["proxyd haproxy haproxy-x"]
#   HAPROXY_BIN [haproxy]
#   PROXYD_BIN, RELOAD_BENCH_BIN, CAS_STANDIN_BIN: use these binaries; if any is unset, HEAD is
#     built (release) in a private worktree /tmp/reload-wt-<pid> into RELOAD_TARGET_DIR
#     [/tmp/reload-target]; both are removed at the end (the target directory only if this script
#     created it and BENCH_KEEP_TARGET is not 1).
# Output: a markdown section on stdout, also saved as /tmp/reload-bench-<UTC>.md; raw key=value
# output of every run under /tmp/reload-bench-<UTC>/logs.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$PWD
[[ $(id -u) -eq 0 ]] || { echo "reload.sh: run as root (network namespace)" >&2; exit 1; }

RUNS=${BENCH_RUNS:-3}
RATE=${BENCH_RATE:-500}
SECS=${BENCH_SECS:-30}
RELOADS=${BENCH_RELOADS:-10}
EVERY=${BENCH_EVERY:-2}
FIRST=${BENCH_FIRST:-4}
LONG0=${BENCH_LONG_INITIAL:-100}
LONGK=${BENCH_LONG_PER_RELOAD:-10}
read -r -a VARIANTS <<<"${BENCH_VARIANTS:-proxyd haproxy haproxy-x}"
for n in "$RUNS" "$RATE" "$SECS" "$RELOADS" "$EVERY" "$FIRST"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "reload.sh: not a positive integer: $n" >&2; exit 2; }
done
for n in "$LONG0" "$LONGK"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "reload.sh: not a number: $n" >&2; exit 2; }
done
if ((FIRST + (RELOADS - 1) * EVERY + 1 >= SECS)); then
    echo "reload.sh: the last reload (and its probe) must fall inside the $SECS s stream" >&2
    exit 2
fi

log() { printf '[reload.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

declare -A LABEL=([proxyd]="proxyd, SIGHUP" [haproxy]="HAProxy 2.6 -W, SIGUSR2"
    [haproxy-x]="HAProxy 2.6 -W -x, expose-fd listeners, SIGUSR2")
for v in "${VARIANTS[@]}"; do
    [[ -n ${LABEL[$v]:-} ]] || { echo "reload.sh: unknown variant $v" >&2; exit 2; }
done

# --- scratch, cleanup --------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
DIR=/tmp/reload-bench-$STAMP
OUT=/tmp/reload-bench-$STAMP.md
mkdir -p "$DIR/logs"
NS=rlbench-$$
WT=
TGT=
TGT_CREATED=0
PIDS=()     # long-running processes (backends)
PROXY_PID=  # the proxy of the current run
CUR_PID=    # the measuring command in the foreground

# Every pid below $1 (children first found by parent pid), $1 included.
family() {
    local all=("$1") i=0 kids
    while ((i < ${#all[@]})); do
        kids=$(pgrep -P "${all[$i]}" 2>/dev/null || true)
        # shellcheck disable=SC2206
        [[ -n $kids ]] && all+=($kids)
        i=$((i + 1))
    done
    echo "${all[@]}"
}

# Stops the proxy of the current run (and whatever it forked) by pid.
stop_proxy() {
    [[ -n $PROXY_PID ]] || return 0
    local fam p i
    fam=$(family "$PROXY_PID")
    kill -TERM "$PROXY_PID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    for p in $fam; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=
}

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    [[ -n $CUR_PID ]] && { kill "$CUR_PID" 2>/dev/null || true; }
    stop_proxy
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$p" 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    if [[ -n $WT ]]; then
        git -C "$REPO" worktree remove --force "$WT" 2>/dev/null || rm -rf "$WT"
        git -C "$REPO" worktree prune 2>/dev/null || true
    fi
    if ((TGT_CREATED)) && [[ ${BENCH_KEEP_TARGET:-0} != 1 && -n $TGT ]]; then
        rm -rf "$TGT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a measuring command and waits for it with the `wait` builtin, which a trapped signal
# interrupts at once.
fg_run() {
    local rc=0
    "$@" &
    CUR_PID=$!
    wait "$CUR_PID" || rc=$?
    CUR_PID=
    return "$rc"
}

# --- tools and binaries ------------------------------------------------------------------------
if ! command -v "${HAPROXY_BIN:-haproxy}" >/dev/null; then
    log "installing haproxy"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends haproxy >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends haproxy >&2; }
fi
HAPROXY=$(command -v "${HAPROXY_BIN:-haproxy}")

if [[ -n ${PROXYD_BIN:-} && -n ${RELOAD_BENCH_BIN:-} && -n ${CAS_STANDIN_BIN:-} ]]; then
    PROXYD=$(realpath "$PROXYD_BIN")
    BENCH=$(realpath "$RELOAD_BENCH_BIN")
    CAS=$(realpath "$CAS_STANDIN_BIN")
    PROXYD_DESC="the given PROXYD_BIN $PROXYD"
else
    # A private worktree of HEAD: the figures belong to a commit, whatever the main tree holds.
    WT=/tmp/reload-wt-$$
    TGT=${RELOAD_TARGET_DIR:-/tmp/reload-target}
    [[ -e $TGT ]] || TGT_CREATED=1
    git -C "$REPO" worktree add --detach -q "$WT" HEAD
    log "building release binaries of $(git -C "$WT" rev-parse --short HEAD) in $WT into $TGT"
    (cd "$WT" && CARGO_TARGET_DIR=$TGT cargo build --release -q -p proxyd -p system-tests \
        --bin proxyd --bin reload-bench --bin cas-standin)
    PROXYD=$TGT/release/proxyd
    BENCH=$TGT/release/reload-bench
    CAS=$TGT/release/cas-standin
    PROXYD_DESC="\`$(git -C "$WT" rev-parse --short HEAD)\` (HEAD, release build in a clean worktree)"
fi

# File descriptors: 200 long-lived + up to a few thousand short connections in flight.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"

# --- configuration variants --------------------------------------------------------------------
# Variant 0 and 1 alternate: the client timeout (30 s / 31 s), cas1's weight (10 / 20), and the
# second listener 127.0.0.10:16001 (absent / present). The same file for proxyd and HAProxy; the
# -x variant adds the stats socket that exposes the listeners.
variant_cfg() { # index extra-global-line
    local i=$1
    echo "# reload.sh variant $i"
    echo "global"
    echo "    maxconn 4000"
    [[ -n $2 ]] && echo "    $2"
    echo "defaults"
    echo "    mode tcp"
    echo "    timeout connect 5s"
    echo "    timeout client $((30 + i))s"
    echo "    timeout server 30s"
    echo "frontend fe"
    echo "    bind 127.0.0.10:16000"
    ((i == 1)) && echo "    bind 127.0.0.10:16001"
    echo "    default_backend cas"
    echo "backend cas"
    echo "    balance roundrobin"
    echo "    server cas1 127.0.0.2:60000 check inter 2s weight $((10 + 10 * i))"
    echo "    server cas2 127.0.0.3:60000 check inter 2s weight 10"
}
HSOCK=$DIR/haproxy.sock
for i in 0 1; do
    variant_cfg "$i" "" >"$DIR/plain-$i.cfg"
    variant_cfg "$i" "stats socket $HSOCK mode 600 level admin expose-fd listeners" >"$DIR/x-$i.cfg"
    "$HAPROXY" -c -q -f "$DIR/plain-$i.cfg" >&2
    "$HAPROXY" -c -q -f "$DIR/x-$i.cfg" >&2
    "$PROXYD" -c -f "$DIR/plain-$i.cfg" >"$DIR/logs/proxyd-check-$i.log" 2>&1 ||
        { cat "$DIR/logs/proxyd-check-$i.log" >&2; exit 1; }
done

# --- namespace, backends -----------------------------------------------------------------------
ip netns add "$NS"
# nsenter execs the command in place (ip netns exec forks and waits), so $! is the process.
NSX=(nsenter --net="/run/netns/$NS" --)
"${NSX[@]}" ip link set lo up

wait_listen() { # addr port: 10 s at most
    local i
    for ((i = 0; i < 100; i++)); do
        "${NSX[@]}" ss -Hltn "sport = :$2" | grep -q "$1:$2" && return 0
        sleep 0.1
    done
    log "nothing listens on $1:$2 (see $DIR/logs)"
    return 1
}

for c in 1 2; do
    "${NSX[@]}" "$CAS" --name "cas$c" --addr "127.0.0.$((c + 1))" --ports 60000 \
        >"$DIR/logs/cas$c.log" 2>&1 &
    PIDS+=($!)
done
wait_listen 127.0.0.2 60000
wait_listen 127.0.0.3 60000

# --- runs --------------------------------------------------------------------------------------
declare -A NOTES=()
note() { NOTES[$1]+="$2; "; log "$1: $2"; }

run_one() { # variant tag
    local v=$1 tag=$2 cfg sig cmd pre post kv err rc=0
    cfg=$DIR/run-$v.cfg
    case $v in
    proxyd)
        cp "$DIR/plain-0.cfg" "$cfg"
        cmd=("$PROXYD" -f "$cfg" -db --liveness-socket "$DIR/proxyd-liveness.sock")
        sig=HUP
        set -- "$DIR/plain-0.cfg" "$DIR/plain-1.cfg"
        ;;
    haproxy)
        cp "$DIR/plain-0.cfg" "$cfg"
        cmd=("$HAPROXY" -W -db -f "$cfg")
        sig=USR2
        set -- "$DIR/plain-0.cfg" "$DIR/plain-1.cfg"
        ;;
    haproxy-x)
        cp "$DIR/x-0.cfg" "$cfg"
        # At the first start nothing answers on the socket: HAProxy says so and binds.
        cmd=("$HAPROXY" -W -db -f "$cfg" -x "$HSOCK")
        sig=USR2
        set -- "$DIR/x-0.cfg" "$DIR/x-1.cfg"
        ;;
    esac
    "${NSX[@]}" "${cmd[@]}" >"$DIR/logs/$v-$tag.log" 2>&1 &
    PROXY_PID=$!
    wait_listen 127.0.0.10 16000 || { note "$v" "$tag: did not start"; stop_proxy; return 0; }
    sleep 1 # health checks see both servers
    kv=$DIR/logs/$v-$tag.kv
    err=$DIR/logs/$v-$tag.err
    pre=$(cut -d' ' -f1-3 /proc/loadavg)
    fg_run timeout $((SECS + 90)) "${NSX[@]}" "$BENCH" --connect 127.0.0.10:16000 \
        --second 127.0.0.10:16001 --pid "$PROXY_PID" --signal "$sig" --config "$cfg" \
        --variant "$1" --variant "$2" --rate "$RATE" --duration "$SECS" --reloads "$RELOADS" \
        --reload-every "$EVERY" --first-reload "$FIRST" --long-initial "$LONG0" \
        --long-per-reload "$LONGK" >"$kv" 2>"$err" || rc=$?
    post=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "loadavg_before=$pre" >>"$kv"
    echo "loadavg_after=$post" >>"$kv"
    ((rc == 0)) || note "$v" "$tag: reload-bench failed ($rc): $(tail -1 "$err")"
    kill -0 "$PROXY_PID" 2>/dev/null || note "$v" "$tag: the proxy died (log: $DIR/logs/$v-$tag.log)"
    log "$v $tag: $(tail -1 "$err")"
    stop_proxy
    rm -f "$HSOCK" "$DIR/proxyd-liveness.sock"
    sleep 2
}

for ((r = 1; r <= RUNS; r++)); do
    n=${#VARIANTS[@]}
    for ((k = 0; k < n; k++)); do
        v=${VARIANTS[$(((k + r - 1) % n))]}
        log "run $r: $v"
        run_one "$v" "run$r"
    done
done

# --- report ------------------------------------------------------------------------------------
vals() { # variant key -> the values of the runs, one a line
    local f
    for f in "$DIR"/logs/"$1"-run*.kv; do
        [[ -e $f ]] || continue
        awk -F= -v k="$2" '$1 == k {print $2}' "$f"
    done
}
# median (min–max) of numeric values; "—" when none. $2: decimals.
cell() {
    vals "$1" "$2" | awk '$1 ~ /^[0-9.]+$/' | sort -g | awk -v d="$3" '{a[NR] = $1}
        END {if (NR == 0) {print "—"; exit}
             m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
             if (NR == 1 || a[1] == a[NR]) printf "%.*f\n", d, m;
             else printf "%.*f (%.*f–%.*f)\n", d, m, d, a[1], d, a[NR]}'
}
# Sum over the runs, and the per-run values: "0 (0, 0, 0)".
runs_sum() {
    vals "$1" "$2" | awk '{s += $1; l = l (n++ ? ", " : "") $1} END {if (n == 0) print "—";
        else if (n == 1) print s; else printf "%d (%s)\n", s, l}'
}
kinds() { # variant prefix -> "refused/reset/closed/timeout/other" summed over runs
    local p=$2 k out="" s
    for k in refused reset closed timeout garbled other; do
        s=$(vals "$1" "${p}_$k" | awk '{s += $1} END {print s + 0}')
        out+="${out:+ / }$s"
    done
    echo "$out"
}
row() { # label function key [decimals]
    local line="| $1 |" v
    for v in "${VARIANTS[@]}"; do line+=" $($2 "$v" "$3" "${4:-0}") |"; done
    echo "$line"
}
series() { # variant -> the process count per second of the first run
    local f=$DIR/logs/$1-run1.kv
    [[ -e $f ]] && awk -F= '$1 == "procs_per_sec" {print $2}' "$f"
}
n_runs() { find "$DIR/logs" -maxdepth 1 -name "$1-run*.kv" | wc -l; }

{
    echo "### Results: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r), shared with other work"
    echo "- $("$HAPROXY" -v | head -1)"
    echo "- proxyd: $PROXYD_DESC"
    echo "- command: BENCH_RUNS=$RUNS BENCH_RATE=$RATE BENCH_SECS=$SECS BENCH_RELOADS=$RELOADS BENCH_EVERY=$EVERY BENCH_FIRST=$FIRST BENCH_LONG_INITIAL=$LONG0 BENCH_LONG_PER_RELOAD=$LONGK $0"
    echo "- load average before / after each run (1, 5, 15 min):"
    for v in "${VARIANTS[@]}"; do
        echo "  ${LABEL[$v]}: $(for f in "$DIR"/logs/"$v"-run*.kv; do
            awk -F= '$1 == "loadavg_before" {b = $2} $1 == "loadavg_after" {a = $2}
                END {printf "[%s → %s] ", b, a}' "$f"; done)"
    done
    echo "- cells: median (min–max) of the runs; failure counts: sum over the runs (per run)"
    echo
    thead="| measure |"
    sep="|---|"
    for v in "${VARIANTS[@]}"; do thead+=" ${LABEL[$v]} (runs: $(n_runs "$v")) |"; sep+="---|"; done
    echo "$thead"
    echo "$sep"
    row "new short connections attempted per run" cell short_attempted
    row "short connections failed" runs_sum short_failed
    row "… refused / reset / closed / timeout / garbled / other (sum)" kinds short
    row "short latency p50, ms" cell short_p50_ms 2
    row "short latency p99, ms" cell short_p99_ms 2
    row "short latency max, ms" cell short_max_ms 2
    row "short connections due within ±200 ms of a reload, per run" cell win_attempted
    row "… of which failed" runs_sum win_failed
    row "… latency p50, ms" cell win_p50_ms 2
    row "… latency p99, ms" cell win_p99_ms 2
    row "… latency max, ms" cell win_max_ms 2
    row "load generator's worst lag, ms" cell gen_lag_max_ms 2
    row "reloads sent per run" cell reloads_sent
    row "long-lived connections opened per run" cell long_opened
    row "long-lived connections broken" runs_sum long_broken
    row "long-lived opens failed" runs_sum long_open_failed
    row "processes at rest (before the load)" cell procs_rest
    row "processes, most during the run" cell procs_max
    row "processes after the run (long-lived still open)" cell procs_after_run
    row "processes after the long-lived connections close" cell procs_after_close
    row "seconds until back to the number at rest" cell settle_s 1
    row "RSS total of the processes at rest, MiB" cell rss_rest_mib 1
    row "RSS total, most during the run, MiB" cell rss_max_mib 1
    row "RSS total after the run, MiB" cell rss_after_run_mib 1
    row "RSS total after the close, MiB" cell rss_after_close_mib 1
    row "PSS total (shared pages split), most during the run, MiB" cell pss_max_mib 1
    row "PSS total after the run, MiB" cell pss_after_run_mib 1
    echo
    echo "Processes each second of run 1 (the most seen in that second; reloads at ${FIRST} s, then every ${EVERY} s):"
    echo
    for v in "${VARIANTS[@]}"; do echo "- ${LABEL[$v]}: $(series "$v")"; done
    echo
    echo "Reloads that took effect (the second listener answers after odd reloads, refuses after even ones):"
    echo
    for v in "${VARIANTS[@]}"; do
        echo "- ${LABEL[$v]}: $(vals "$v" probes_as_expected | paste -sd' ')"
    done
    echo
    if ((${#NOTES[@]})); then
        echo "Problems:"
        echo
        for v in "${VARIANTS[@]}"; do
            if [[ -n ${NOTES[$v]:-} ]]; then echo "- ${LABEL[$v]}: ${NOTES[$v]}"; fi
        done
        echo
    fi
    echo "Failures, first 30 per run (due time from the stream's start: kind/step):"
    echo
    for v in "${VARIANTS[@]}"; do
        for f in "$DIR"/logs/"$v"-run*.kv; do
            d=$(awk -F= '$1 == "failure_detail" {print substr($0, index($0, "=") + 1)}' "$f")
            echo "- $(basename "$f" .kv): ${d:-none}; reloads at $(awk -F= '$1 == "reload_at_s" {print $2}' "$f")"
        done
    done
    echo
    echo "Raw output: $DIR/logs"
} | tee "$OUT"
log "saved to $OUT"
