#!/bin/bash
# Lane: podman 4 + conmon with hull as the OCI runtime (`--runtime`, containers.conf naming hull in
# runtime_supports_json so podman passes --log-format=json).
# Usage: tests/clients/podman.sh   (as root; see README.md)
LANE=podman
. "$(dirname "$0")/lib.sh"
lane_setup
build_rootfs
BENCH_RUNS=${HULL_CLIENTS_BENCH_RUNS:-5}

# Private configuration: nothing under /etc/containers, /var/lib/containers or /run is used.
# default_ulimits: podman's defaults need CAP_SYS_RESOURCE, which this machine lacks.
PW=$WORK/podman
mkdir -p "$PW/tmp" "$PW/vartmp"
cat > "$PW/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
network_config_dir = "$PW/networks"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PW/events.log"
conmon_path = ["/usr/bin/conmon"]
tmp_dir = "$PW/tmp"
static_dir = "$PW/root/libpod"
volume_path = "$PW/root/volumes"
# File locks in tmp_dir/locks instead of /dev/shm/libpod_lock.
lock_type = "file"
runtime = "$RUNTIME_NAME"
runtime_supports_json = ["hull", "runc", "crun"]

[engine.runtimes]
$RUNTIME_NAME = ["$WRAPPER"]
EOF
cat > "$PW/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$PW/root"
runroot = "$PW/run"
[storage.options.overlay]
# Without this the overlay driver bind-mounts its home onto itself and leaves the mount behind.
skip_mount_home = "true"
EOF
export CONTAINERS_CONF=$PW/containers.conf CONTAINERS_STORAGE_CONF=$PW/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$PW/registries.conf TMPDIR=$PW/vartmp
: > "$PW/registries.conf"
P=(podman --root "$PW/root" --runroot "$PW/run" --tmpdir "$PW/tmp" --runtime "$WRAPPER"
   --cgroup-manager cgroupfs --events-backend file --network-config-dir "$PW/networks")
[ -e /var/lib/containers ] && VLC_EXISTED=1 || VLC_EXISTED=0
x "${P[@]}" import --change CMD=/bin/sh "$WORK/rootfs.tar" localhost/bb
[ "$RC" = 0 ] || die "podman import failed: $OUT"

RUN=(run --network none --cgroup-parent "$CG_PARENT")
IMG=localhost/bb
inspect() { "${P[@]}" inspect -f "$2" "$1" 2>/dev/null; }
status_is() { [ "$(inspect "$1" '{{.State.Status}}')" = "$2" ]; }
cid() { inspect "$1" '{{.Id}}'; }
cg() { echo "/sys/fs/cgroup/$1$CG_PARENT/libpod-$(cid "$2")/$3"; }   # cg CONTROLLER NAME FILE

lane_cleanup() {
    timeout 60 "${P[@]}" rm -af -t 0
    timeout 60 "${P[@]}" rmi -af
    # c/image keeps its blob info cache in /var/lib/containers/cache whatever the storage root.
    [ "$VLC_EXISTED" = 0 ] && rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
}

# ---------------------------------------------------------------------------------------------
# Scenarios

s_run_exit() {
    x "${P[@]}" "${RUN[@]}" --rm "$IMG" sh -c 'echo hello-from-podman; exit 3'
    expect_rc 3 && expect_out '^hello-from-podman$'
}

s_run_t() {
    x "${P[@]}" "${RUN[@]}" --rm -t "$IMG" sh -c 'tty; exit 4'
    expect_rc 4 && expect_out '^/dev/pts/0$'
}

s_run_it() {
    xtty "${P[@]}" "${RUN[@]}" --rm -it "$IMG" sh -c 'tty; exit 5'
    expect_rc 5 && expect_out '^/dev/pts/0$'
}

s_detached() {
    x "${P[@]}" "${RUN[@]}" -d --name d1 --oom-score-adj 500 "$IMG" sleep 600
    expect_rc 0 || return 1
    poll 30 "d1 running" status_is d1 running || return 1
    local pid; pid=$(inspect d1 '{{.State.Pid}}')
    grep -q ":memory:$CG_PARENT/libpod-" "/proc/$pid/cgroup" || fail "d1 not under $CG_PARENT: $(cat /proc/$pid/cgroup)"
}

s_exec() {
    x "${P[@]}" exec d1 sh -c 'echo exec-out; exit 6'
    expect_rc 6 && expect_out '^exec-out$'
}

s_exec_oom() {
    x "${P[@]}" exec d1 cat /proc/self/oom_score_adj
    expect_rc 0 && expect_out '^500$'
}

s_exec_t() {
    x "${P[@]}" exec -t d1 sh -c 'tty; exit 7'
    expect_rc 7 && expect_out '^/dev/pts/[0-9]+$'
}

s_exec_it() {
    xtty "${P[@]}" exec -it d1 sh -c 'tty; exit 8'
    expect_rc 8 && expect_out '^/dev/pts/[0-9]+$'
}

s_top() {
    x "${P[@]}" top d1
    expect_rc 0 && expect_out 'sleep 600'
}

s_pause() {
    x "${P[@]}" pause d1
    expect_rc 0 || return 1
    status_is d1 paused || fail "d1 is $(inspect d1 '{{.State.Status}}'), not paused" || return 1
    expect_file "$(cg freezer d1 freezer.state)" FROZEN || return 1
    x "${P[@]}" unpause d1
    expect_rc 0 || return 1
    status_is d1 running || fail "d1 is $(inspect d1 '{{.State.Status}}'), not running" || return 1
    expect_file "$(cg freezer d1 freezer.state)" THAWED || return 1
    x "${P[@]}" exec d1 echo alive-after-unpause
    expect_rc 0 && expect_out alive-after-unpause
}

s_update() {
    x "${P[@]}" update --memory 64m --cpus 0.5 d1
    expect_rc 0 || return 1
    expect_file "$(cg memory d1 memory.limit_in_bytes)" 67108864 || return 1
    expect_file "$(cg cpu d1 cpu.cfs_quota_us)" 50000 || return 1
    x "${P[@]}" exec d1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    expect_rc 0 && expect_out '^67108864$'
}

s_stop_kill() {
    x "${P[@]}" "${RUN[@]}" -d --name t1 "$IMG" sh -c 'trap "exit 42" TERM; trap "echo got-usr1" USR1; echo ready; while :; do sleep 0.1; done'
    expect_rc 0 || return 1
    poll 30 "t1 ready" sh -c "$(printf '%q ' "${P[@]}") logs t1 2>&1 | grep -q ready" || return 1
    x "${P[@]}" kill -s USR1 t1
    expect_rc 0 || return 1
    poll 20 "got-usr1 in t1's log" sh -c "$(printf '%q ' "${P[@]}") logs t1 2>&1 | grep -q got-usr1" || return 1
    x "${P[@]}" stop -t 20 t1
    expect_rc 0 || return 1
    [ "$(inspect t1 '{{.State.ExitCode}}')" = 42 ] || fail "t1 exit code $(inspect t1 '{{.State.ExitCode}}'), expected 42" || return 1
    # A pid-1 sleep has no TERM handler: podman stop sends SIGKILL after the grace time.
    x "${P[@]}" stop -t 1 d1
    expect_rc 0 || return 1
    [ "$(inspect d1 '{{.State.ExitCode}}')" = 137 ] || fail "d1 exit code $(inspect d1 '{{.State.ExitCode}}'), expected 137" || return 1
    x "${P[@]}" "${RUN[@]}" -d --name k1 "$IMG" sleep 600
    expect_rc 0 || return 1
    x "${P[@]}" kill k1
    expect_rc 0 || return 1
    poll 20 "k1 exited" status_is k1 exited || return 1
    [ "$(inspect k1 '{{.State.ExitCode}}')" = 137 ] || fail "k1 exit code $(inspect k1 '{{.State.ExitCode}}'), expected 137" || return 1
    x "${P[@]}" rm t1 d1 k1
    expect_rc 0
}

s_limits() {
    x "${P[@]}" "${RUN[@]}" --rm --memory 64m --pids-limit 50 --cpus 0.5 "$IMG" sh -c \
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; ulimit -n'
    expect_rc 0 || return 1
    [ "$(echo $OUT)" = "67108864 50 50000 20000" ] || fail "limits seen inside: $(echo $OUT), expected 67108864 50 50000 20000"
}

s_read_only_tmpfs() {
    # podman mounts tmpfs on /tmp, /var/tmp and /run of a --read-only container, and on --tmpfs
    # targets, with the option `tmpcopyup`: the image's content under the target is copied in.
    x "${P[@]}" "${RUN[@]}" --rm --read-only "$IMG" sh -c 'touch /x; touch /tmp/x && echo tmp-ok; grep " / " /proc/mounts'
    expect_rc 0 && expect_out 'Read-only file system' && expect_out '^tmp-ok$' && expect_out ' / [a-z0-9]+ ro[ ,]' || return 1
    x "${P[@]}" "${RUN[@]}" --rm --tmpfs /home "$IMG" sh -c 'grep " /home " /proc/mounts; ls -ld /home/user'
    expect_rc 0 && expect_out '^tmpfs /home tmpfs' && expect_out 'user +user .*/home/user$'
}

s_create_fails() {
    # A hard limit above this machine's (no CAP_SYS_RESOURCE): the runtime's setrlimit error
    # must reach the podman user.
    x "${P[@]}" "${RUN[@]}" --rm --ulimit nofile=30000:30000 "$IMG" true
    [ "$RC" != 0 ] || fail "the container ran" || return 1
    expect_out '[Rr][Ll][Ii][Mm][Ii][Tt]' && expect_out 'operation not permitted' || return 1
    # A bind mount of a file over a directory.
    x "${P[@]}" "${RUN[@]}" --rm -v /etc/hostname:/bin "$IMG" true
    [ "$RC" != 0 ] || fail "the container ran" || return 1
    expect_out '/bin|hostname' || return 1
    x "${P[@]}" ps -aq
    [ -z "$OUT" ] || fail "containers left: $OUT"
}

s_timing() {
    local i a b h=() r=()
    for i in $(seq "$BENCH_RUNS"); do
        a=$(time_it "${P[@]}" --runtime "$RUNTIME" "${RUN[@]}" --rm "$IMG" true) || fail "$RUNTIME run failed" || return 1
        b=$(time_it "${P[@]}" --runtime "$PEER" "${RUN[@]}" --rm "$IMG" true) || fail "$PEER run failed" || return 1
        h+=("$a"); r+=("$b")
    done
    a=$(printf '%s\n' "${h[@]}" | median); b=$(printf '%s\n' "${r[@]}" | median)
    TIMING="podman run --rm true: $RUNTIME_NAME $(printf '%.3f' "$a")s, $(basename "$PEER") $(printf '%.3f' "$b")s, ratio $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') (median of $BENCH_RUNS)"
    echo "$TIMING"
}

scenario "podman run --rm exit status and output" s_run_exit
scenario "podman run -t (no host tty)" s_run_t
scenario "podman run -it (tty, under script)" s_run_it
scenario "podman run -d (in its cgroup)" s_detached
scenario "podman exec exit status and output" s_exec
scenario "podman exec: the process has the container's oom_score_adj" s_exec_oom
scenario "podman exec -t" s_exec_t
scenario "podman exec -it (tty, under script)" s_exec_it
scenario "podman top" s_top
scenario "podman pause / unpause" s_pause
scenario "podman update --memory --cpus" s_update
scenario "podman kill -s USR1, stop (SIGTERM; SIGKILL after the grace time), kill" s_stop_kill
scenario "podman run --memory --pids-limit --cpus, ulimit: limits seen inside" s_limits
scenario "podman run --read-only, --tmpfs (tmpfs with tmpcopyup)" s_read_only_tmpfs
scenario "podman run: a failing create shows the runtime's error" s_create_fails
scenario "podman run --rm true timing ($RUNTIME_NAME vs $(basename "$PEER"))" s_timing
[ -n "${TIMING:-}" ] && log "timing: $TIMING"
lane_finish
