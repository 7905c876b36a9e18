# shellcheck shell=bash
# Shared by the client lanes (containerd.sh, docker.sh, podman.sh, cri.sh). Sourced, not run.
#
# A lane sets LANE, sources this file, calls `lane_setup`, starts its daemons with `start_daemon`,
# runs its scenarios with `scenario NAME FUNCTION [ARGS]` and ends with `lane_finish`, which
# cleans up (client cleanup hook, daemons stopped by pid, mounts, cgroups, temp dir) and exits
# non-zero if any scenario failed.
#
# Environment:
#   HULL_CLIENTS_RUNTIME  runtime under test (default: target/x86_64-unknown-linux-musl/release/hull). Set it to
#                         /usr/sbin/runc to run the same scenarios against runc.
#   HULL_CLIENTS_PEER     runtime used for the timing ratio (default /usr/sbin/runc).
#   HULL_CLIENTS_TIMEOUT  seconds before one client command counts as hung (default 60).
#   HULL_CLIENTS_KEEP=1   keep the lane's logs (daemons, runtime argv, configs) in
#                         /tmp/hull-clients-logs/<lane>-<pid>/ (a failed lane always keeps them).
#   HULL_CLIENTS_VERBOSE=1  print each scenario's transcript even when it passes.
#   HULL_CLIENTS_ONLY=REGEX run only the scenarios whose name matches (for debugging; scenarios
#                         of a lane build on each other, e.g. exec needs `run -d`).
#   HULL_CLIENTS_REPEAT=N run each scenario N times (to find flaky ones).
#
# Every runtime call a client makes goes through a wrapper named like the runtime (podman decides
# on JSON logging by that name) that appends argv and the exit status to $WORK/runtime-argv.log
# and keeps each create's config.json and each exec's process.json in $WORK/configs/.
# A failing scenario prints its transcript and the runtime calls it caused.

set -u
CLIENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CLIENTS_DIR/../.." && pwd)
RUNTIME=$(readlink -f "${HULL_CLIENTS_RUNTIME:-$REPO/target/x86_64-unknown-linux-musl/release/hull}")
PEER=$(readlink -f "${HULL_CLIENTS_PEER:-/usr/sbin/runc}")
RUNTIME_NAME=$(basename "$RUNTIME")
TIMEOUT=${HULL_CLIENTS_TIMEOUT:-60}
CG_ROOT=/hull-clients
# The Debian docker client; /usr/local/bin/docker may be a newer client-only binary.
DOCKER_CLI=/usr/bin/docker
PASSED=0
FAILED=0
FAILED_NAMES=()
DAEMON_PIDS=()
DAEMON_NAMES=()
LANE_START=$(date +%s.%N)

log() { printf '# %s\n' "$*"; }
die() { printf 'Bail out! %s: %s\n' "$LANE" "$*"; lane_finish 1; }

# ---------------------------------------------------------------------------------------------
# Setup

lane_setup() {
    [ "$(id -u)" = 0 ] || { echo "Bail out! $LANE: the client lanes need root"; exit 1; }
    [ -x "$RUNTIME" ] || { echo "Bail out! $LANE: runtime $RUNTIME missing (make release)"; exit 1; }
    # Short path: unix socket paths must stay under 108 bytes.
    WORK=$(mktemp -d "/tmp/hc-$LANE.XXXXXX")
    chmod 711 "$WORK"
    CG_PARENT="$CG_ROOT/$LANE-$$"
    trap 'echo "Bail out! $LANE: interrupted"; lane_finish 1' INT TERM HUP
    trap 'lane_exit_trap' EXIT
    RUNTIME_LOG=$WORK/runtime-argv.log
    : > "$RUNTIME_LOG"
    mkdir -p "$WORK/bin" "$WORK/configs"
    WRAPPER=$WORK/bin/$RUNTIME_NAME
    make_wrapper "$WRAPPER" "$RUNTIME"
    # Global paths the daemons might create despite their private dirs: whatever did not exist
    # before the lane and holds only (empty) directories afterwards is removed again; anything
    # else there fails the lane.
    GLOBAL_CANDIDATES=(/run/containerd/s /run/containerd /var/run/netns /run/netns /etc/cni/net.d /etc/cni
                       /var/lib/cni /run/libpod /run/containers /var/lib/containers /opt/containerd
                       /etc/docker/key.json /dev/shm/libpod_lock /root/.docker /run/docker)
    GLOBAL_BEFORE=()
    local p
    for p in "${GLOBAL_CANDIDATES[@]}"; do [ -e "$p" ] && GLOBAL_BEFORE+=("$p"); done
    # conmon makes its console sockets in /tmp whatever TMPDIR says, and removes them.
    CONMON_BEFORE=$(ls -d /tmp/conmon-term.* 2>/dev/null)
    # containerd's shims put their sockets in /run/containerd/s whatever containerd's state dir.
    SHIM_SOCKS_BEFORE=$(ls -d /run/containerd/s/* 2>/dev/null)
    log "lane $LANE: runtime $RUNTIME, work dir $WORK, cgroup parent $CG_PARENT"
}

# make_wrapper PATH REAL: a sh script that logs argv and the exit status of REAL to RUNTIME_LOG.
# It opens the log only around the call, so the container inherits no extra fd.
make_wrapper() {
    cat > "$1" <<EOF
#!/bin/sh
{ printf '%s [%s] argv:' "\$(date +%T.%N)" "\$\$"; for a in "\$@"; do printf " '%s'" "\$a"; done; echo; } >> $RUNTIME_LOG
# Keep the config.json of each create (the last argument is the id) in \$WORK/configs.
case " \$* " in *" create "*) b=.; p=; for a in "\$@"; do [ "\$p" = --bundle ] && b=\$a; case \$a in --bundle=*) b=\${a#--bundle=};; esac; p=\$a; done
    eval "id=\\\${\$#}"; cp "\$b/config.json" "$WORK/configs/\$id.json" 2>/dev/null;; esac
# And the process.json of each exec.
p=; for a in "\$@"; do [ "\$p" = --process ] && cp "\$a" "$WORK/configs/exec-\$\$.json" 2>/dev/null; case \$a in --process=*) cp "\${a#--process=}" "$WORK/configs/exec-\$\$.json" 2>/dev/null;; esac; p=\$a; done
$2 "\$@"
rc=\$?
printf '%s [%s] exit %s\n' "\$(date +%T.%N)" "\$\$" "\$rc" >> $RUNTIME_LOG
exit \$rc
EOF
    chmod 755 "$1"
}

# build_rootfs: $WORK/rootfs (busybox) and $WORK/rootfs.tar
build_rootfs() {
    "$REPO/bundles/build-rootfs.sh" "$WORK/rootfs" >/dev/null || die "build-rootfs.sh failed"
    tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" . || die "tar of the rootfs failed"
}

# ---------------------------------------------------------------------------------------------
# Daemons

# start_daemon NAME CMD...: start CMD in the background, output to $WORK/NAME.log
start_daemon() {
    local name=$1; shift
    "$@" > "$WORK/$name.log" 2>&1 < /dev/null &
    DAEMON_PIDS+=($!)
    DAEMON_NAMES+=("$name")
    log "started $name (pid $!)"
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; false on timeout
wait_for() {
    local deadline=$(( $(date +%s) + $1 )); shift
    while :; do
        "$@" > /dev/null 2>&1 && return 0
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# daemon_alive NAME: the daemon started as NAME still runs
daemon_alive() {
    local i
    for i in "${!DAEMON_NAMES[@]}"; do
        [ "${DAEMON_NAMES[$i]}" = "$1" ] && kill -0 "${DAEMON_PIDS[$i]}" 2>/dev/null && return 0
    done
    return 1
}

# wait_daemon NAME SECONDS CHECK-CMD...: wait until the daemon answers; bail out if it dies
wait_daemon() {
    local name=$1 secs=$2; shift 2
    local deadline=$(( $(date +%s) + secs ))
    while ! "$@" > /dev/null 2>&1; do
        daemon_alive "$name" || { sed 's/^/#   /' "$WORK/$name.log" | tail -30; die "$name exited during startup"; }
        [ "$(date +%s)" -ge "$deadline" ] && { sed 's/^/#   /' "$WORK/$name.log" | tail -30; die "$name not ready after ${secs}s"; }
        sleep 0.1
    done
}

# start_containerd [EXTRA-TOML]: containerd in $WORK/containerd on $WORK/containerd.sock, with
# only the plugins the lanes use (no CRI unless CONTAINERD_CRI=1). Sets CONTAINERD_SOCK.
start_containerd() {
    CONTAINERD_SOCK=$WORK/containerd.sock
    local disabled='"io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"'
    [ "${CONTAINERD_CRI:-0}" = 1 ] || disabled="\"io.containerd.grpc.v1.cri\", $disabled"
    cat > "$WORK/containerd.toml" <<EOF
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
disabled_plugins = [$disabled]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  level = "info"
${1:-}
EOF
    start_daemon containerd containerd --config "$WORK/containerd.toml"
    wait_daemon containerd 60 ctr --address "$CONTAINERD_SOCK" version
}

stop_daemons() {
    local i pid
    for (( i=${#DAEMON_PIDS[@]}-1; i>=0; i-- )); do
        pid=${DAEMON_PIDS[$i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        if ! wait_for 30 sh -c "! kill -0 $pid 2>/dev/null"; then
            log "${DAEMON_NAMES[$i]} (pid $pid) ignored SIGTERM for 30s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    DAEMON_PIDS=()
    DAEMON_NAMES=()
}

# ---------------------------------------------------------------------------------------------
# Running client commands

# x CMD...: run CMD (stdin /dev/null, timeout), echo it and its output; sets OUT and RC.
x() {
    printf '$ %s\n' "$*"
    timeout -k 5 "$TIMEOUT" "$@" > "$WORK/x.out" 2>&1 < /dev/null
    RC=$?
    OUT=$(tr -d '\r' < "$WORK/x.out")
    [ -n "$OUT" ] && printf '%s\n' "$OUT"
    echo "[exit $RC]"
    [ "$RC" = 124 ] && echo "[timed out after ${TIMEOUT}s]"
    return 0
}

# xtty CMD...: like x, but CMD runs on a pty (script -qec); script's -e returns CMD's status.
# script's stdin is a fifo opened read-write: it never reaches EOF (at EOF script writes to the
# pty, and `podman run -it` then loses the container's output now and then, also with runc).
xtty() {
    local cmd="" a
    for a in "$@"; do cmd+=" $(printf '%q' "$a")"; done
    printf '$ script -qec %s /dev/null\n' "${cmd# }"
    [ -p "$WORK/stdin.fifo" ] || mkfifo "$WORK/stdin.fifo"
    timeout -k 5 "$TIMEOUT" script -qec "${cmd# }" /dev/null > "$WORK/x.out" 2>&1 <> "$WORK/stdin.fifo"
    RC=$?
    OUT=$(tr -d '\r' < "$WORK/x.out")
    [ -n "$OUT" ] && printf '%s\n' "$OUT"
    echo "[exit $RC]"
    return 0
}

# Checks on the last x: each prints why it fails and returns 1.
expect_rc() { [ "$RC" = "$1" ] || { echo "FAIL: expected exit status $1, got $RC"; return 1; }; }
expect_out() { printf '%s' "$OUT" | grep -qE -- "$1" || { echo "FAIL: output does not match /$1/"; return 1; }; }
expect_no_out() { ! printf '%s' "$OUT" | grep -qE -- "$1" || { echo "FAIL: output matches /$1/"; return 1; }; }
expect_file() { # expect_file FILE VALUE
    local v; v=$(cat "$1" 2>&1)
    [ "$v" = "$2" ] || { echo "FAIL: $1 is '$v', expected '$2'"; return 1; }
}
fail() { echo "FAIL: $*"; return 1; }

# poll SECONDS DESCRIPTION CMD...: wait until CMD succeeds, else print DESCRIPTION and fail
poll() {
    local secs=$1 what=$2; shift 2
    wait_for "$secs" "$@" || { echo "FAIL: timed out after ${secs}s waiting for: $what"; return 1; }
}

# ---------------------------------------------------------------------------------------------
# Scenarios

# scenario NAME FUNCTION [ARGS]: run FUNCTION, print "ok - NAME" or "not ok - NAME" with the
# transcript and the runtime calls made meanwhile.
scenario() {
    local name=$1; shift
    local before t0 rc i
    if [ -n "${HULL_CLIENTS_ONLY:-}" ] && ! printf '%s' "$name" | grep -qE -- "$HULL_CLIENTS_ONLY"; then return 0; fi
    for (( i = 1; i < ${HULL_CLIENTS_REPEAT:-1}; i++ )); do scenario_once "$name [$i]" "$@"; done
    scenario_once "$name" "$@"
}
scenario_once() {
    local name=$1; shift
    local before t0 rc
    before=$(wc -l < "$RUNTIME_LOG")
    t0=$(date +%s.%N)
    "$@" > "$WORK/scenario.out" 2>&1
    rc=$?
    local secs; secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "ok - $name (${secs}s)"
        if [ "${HULL_CLIENTS_VERBOSE:-0}" = 1 ]; then sed 's/^/#   /' "$WORK/scenario.out"; fi
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        echo "not ok - $name (${secs}s)"
        sed 's/^/#   /' "$WORK/scenario.out" | tail -60
        if [ "$(wc -l < "$RUNTIME_LOG")" -gt "$before" ]; then
            echo "#   runtime calls ($RUNTIME_NAME) during this scenario:"
            tail -n +"$((before + 1))" "$RUNTIME_LOG" | tail -40 | sed 's/^/#     /'
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# Cleanup

# Processes in the lane's cgroups (containers the lane created): all of them are ours.
cgroup_pids() {
    local c
    for c in /sys/fs/cgroup/*/"${CG_PARENT#/}"; do
        [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u
}

# Processes whose command line names the lane's temp dir (shims, conmon): started by the lane.
work_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = "$$" ] && continue
        { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$WORK/" && echo "${p#/proc/}"
    done
}

cleanup_leftovers() {
    local leaks=() p m c i
    # Containers still running in our cgroups (thawed first: a frozen task ignores SIGKILL),
    # then helpers naming our work dir.
    [ -d "/sys/fs/cgroup/freezer$CG_PARENT" ] &&
        find "/sys/fs/cgroup/freezer$CG_PARENT" -name freezer.state -exec sh -c 'echo THAWED > "$1"' sh {} \; 2>/dev/null
    for p in $(cgroup_pids); do leaks+=("container process $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"); kill -KILL "$p" 2>/dev/null; done
    for p in $(work_pids); do leaks+=("process $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-200)"); kill -KILL "$p" 2>/dev/null; done
    # Mounts under the work dir (deepest first).
    for i in 1 2 3; do
        m=$(awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
        [ -z "$m" ] && break
        for p in $m; do
            [ "$i" = 1 ] && leaks+=("mount $p")
            umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null
        done
    done
    # Cgroups: deepest first; a cgroup whose last process just exited may need a moment.
    for i in $(seq 50); do
        local left=0
        for c in /sys/fs/cgroup/*/"${CG_PARENT#/}"; do
            [ -d "$c" ] || continue
            find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
            [ -d "$c" ] && left=1
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    for c in /sys/fs/cgroup/*/"${CG_PARENT#/}"; do [ -d "$c" ] && leaks+=("cgroup $c could not be removed"); done
    for c in /sys/fs/cgroup/*/"${CG_ROOT#/}"; do [ -d "$c" ] && rmdir "$c" 2>/dev/null; done
    # Shim sockets of shims that did not exit by themselves (killed above).
    for p in /run/containerd/s/*; do
        [ -S "$p" ] || continue
        printf '%s\n' "$SHIM_SOCKS_BEFORE" | grep -qxF -- "$p" && continue
        leaks+=("shim socket $p"); rm -f "$p"
    done
    # Global paths that appeared during the lane.
    for p in "${GLOBAL_CANDIDATES[@]}"; do
        [ -e "$p" ] || continue
        local existed=0 b
        for b in "${GLOBAL_BEFORE[@]}"; do [ "$b" = "$p" ] && existed=1; done
        [ "$existed" = 1 ] && continue
        # A tree of empty directories (dockerd always makes /run/docker/plugins) goes quietly.
        if [ -d "$p" ] && [ -z "$(find "$p" ! -type d | head -1)" ]; then
            find "$p" -depth -type d -empty -delete
        else
            leaks+=("$p created and not empty: $(find "$p" ! -type d 2>/dev/null | head -5 | tr '\n' ' ')")
            find "$p" -depth -type d -empty -delete 2>/dev/null
        fi
    done
    for p in /tmp/conmon-term.*; do
        [ -e "$p" ] || continue
        printf '%s\n' "$CONMON_BEFORE" | grep -qxF -- "$p" && continue
        leaks+=("conmon console socket $p"); rm -f "$p"
    done
    LEAKS=("${leaks[@]}")
}

lane_exit_trap() {
    # Only reached when the lane exits without lane_finish (a bug or `set -e`-style abort).
    [ "${LANE_FINISHED:-0}" = 1 ] && return
    lane_finish 1
}

# lane_finish [FORCE_FAIL]: clean up, print the summary, exit.
lane_finish() {
    [ "${LANE_FINISHING:-0}" = 1 ] && return
    LANE_FINISHING=1
    trap - INT TERM HUP
    : > "$WORK/cleanup.log"
    if declare -F lane_cleanup > /dev/null; then lane_cleanup > "$WORK/cleanup.log" 2>&1; fi
    stop_daemons
    LEAKS=()
    cleanup_leftovers
    if [ "${#LEAKS[@]}" = 0 ]; then
        PASSED=$((PASSED + 1)); echo "ok - $LANE lane left no process, mount or cgroup behind"
    else
        FAILED=$((FAILED + 1)); FAILED_NAMES+=("cleanup"); echo "not ok - $LANE lane left things behind (removed now)"
        printf '#   %s\n' "${LEAKS[@]}"
        sed 's/^/#   cleanup: /' "$WORK/cleanup.log" | tail -20
    fi
    local secs; secs=$(awk -v a="$LANE_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    [ "${1:-0}" != 0 ] && FAILED=$((FAILED + 1))
    if [ "$FAILED" != 0 ] || [ "${HULL_CLIENTS_KEEP:-0}" = 1 ]; then
        # Keep the logs of a failed lane, but none of its data: only the text files.
        local keep="/tmp/hull-clients-logs/$LANE-$$"
        mkdir -p "$keep"
        find "$WORK" -maxdepth 1 -name '*.log' -exec cp {} "$keep/" \; 2>/dev/null
        cp -r "$WORK/configs" "$keep/" 2>/dev/null
        log "logs kept in $keep"
    fi
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ] && [ -z "$(awk -v w="$WORK/" 'index($5, w) == 1' /proc/self/mountinfo)" ]; then
        rm -rf --one-file-system "$WORK"
    fi
    echo "# $LANE: runtime $RUNTIME_NAME, ${secs}s"
    echo "$LANE: $PASSED passed, $FAILED failed"
    LANE_FINISHED=1
    [ "$FAILED" = 0 ] && exit 0
    exit 1
}

# median of numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# time_it CMD...: seconds CMD took (stdout), fails if CMD fails
time_it() {
    local t0 rc
    t0=$(date +%s.%N)
    timeout -k 5 "$TIMEOUT" "$@" > /dev/null 2>&1 < /dev/null
    rc=$?
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'
    return $rc
}
