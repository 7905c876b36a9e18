#!/bin/bash
# Lane: dockerd (on its own containerd) with hull registered by `--add-runtime hull=...`.
# Usage: tests/clients/docker.sh   (as root; see README.md)
LANE=docker
. "$(dirname "$0")/lib.sh"
lane_setup
build_rootfs
BENCH_RUNS=${HULL_CLIENTS_BENCH_RUNS:-5}

start_containerd
# No iptables, no bridge, no forwarding: containers run with --network none only. The lane's
# cgroup parent is also the daemon's default. `hull` goes through the argv-logging wrapper,
# `hull-bench` and `peer` (runc) are the bare binaries for the timing ratio.
DSOCK=$WORK/docker.sock
# The trust key would otherwise land in /etc/docker/key.json.
echo "{\"deprecated-key-path\": \"$WORK/docker/key.json\"}" > "$WORK/daemon.json"
export DOCKER_CONFIG=$WORK/docker-cli
start_daemon dockerd dockerd --config-file "$WORK/daemon.json" \
    --data-root "$WORK/docker/data" --exec-root "$WORK/docker/exec" --pidfile "$WORK/docker/docker.pid" \
    -H "unix://$DSOCK" --containerd "$CONTAINERD_SOCK" --containerd-namespace hc-moby \
    --containerd-plugins-namespace hc-moby-plugins \
    --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
    --userland-proxy=false --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$CG_PARENT" \
    --add-runtime "hull=$WRAPPER" --add-runtime "hull-bench=$RUNTIME" --add-runtime "peer=$PEER"
D=("$DOCKER_CLI" -H "unix://$DSOCK")
wait_daemon dockerd 60 "${D[@]}" version
x "${D[@]}" import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" localhost/bb
[ "$RC" = 0 ] || die "docker import failed: $OUT"

RUN=(run --runtime hull --network none --cgroup-parent "$CG_PARENT")
IMG=localhost/bb
inspect() { "${D[@]}" inspect -f "$2" "$1" 2>/dev/null; }
is_running() { [ "$(inspect "$1" '{{.State.Status}}')" = running ]; }
is_exited() { [ "$(inspect "$1" '{{.State.Status}}')" = exited ]; }
cid() { inspect "$1" '{{.Id}}'; }
cg() { echo "/sys/fs/cgroup/$1$CG_PARENT/$(cid "$2")/$3"; }   # cg CONTROLLER NAME FILE

lane_cleanup() {
    local ids; ids=$("${D[@]}" ps -aq)
    [ -n "$ids" ] && timeout 60 "${D[@]}" rm -f $ids
}

# ---------------------------------------------------------------------------------------------
# Scenarios

s_run_exit() {
    x "${D[@]}" "${RUN[@]}" --rm "$IMG" sh -c 'echo hello-from-docker; exit 3'
    expect_rc 3 && expect_out '^hello-from-docker$'
}

s_run_it() {
    xtty "${D[@]}" "${RUN[@]}" --rm -it "$IMG" sh -c 'tty; exit 4'
    expect_rc 4 && expect_out '^/dev/pts/0$'
}

s_detached() {
    x "${D[@]}" "${RUN[@]}" -d --name d1 --oom-score-adj 500 "$IMG" sleep 600
    expect_rc 0 || return 1
    poll 30 "d1 running" is_running d1
}

s_exec() {
    x "${D[@]}" exec d1 sh -c 'echo exec-out; exit 5'
    expect_rc 5 && expect_out '^exec-out$'
}

s_exec_oom() {
    # runc gives exec'd processes the container's oomScoreAdj, not the shim's.
    x "${D[@]}" exec d1 cat /proc/self/oom_score_adj
    expect_rc 0 && expect_out '^500$'
}

s_exec_it() {
    xtty "${D[@]}" exec -it d1 sh -c 'tty; exit 6'
    expect_rc 6 && expect_out '^/dev/pts/[0-9]+$'
}

s_top() {
    x "${D[@]}" top d1
    expect_rc 0 && expect_out 'sleep 600'
}

s_pause() {
    x "${D[@]}" pause d1
    expect_rc 0 || return 1
    [ "$(inspect d1 '{{.State.Paused}}')" = true ] || fail "d1 not paused: $(inspect d1 '{{json .State}}')" || return 1
    expect_file "$(cg freezer d1 freezer.state)" FROZEN || return 1
    x "${D[@]}" unpause d1
    expect_rc 0 || return 1
    [ "$(inspect d1 '{{.State.Paused}}')" = false ] || fail "d1 still paused" || return 1
    expect_file "$(cg freezer d1 freezer.state)" THAWED || return 1
    x "${D[@]}" exec d1 echo alive-after-unpause
    expect_rc 0 && expect_out alive-after-unpause
}

s_update() {
    x "${D[@]}" update --memory 64m --memory-swap 128m --pids-limit 77 --cpus 0.5 d1
    expect_rc 0 || return 1
    expect_file "$(cg memory d1 memory.limit_in_bytes)" 67108864 || return 1
    expect_file "$(cg memory d1 memory.memsw.limit_in_bytes)" 134217728 || return 1
    expect_file "$(cg pids d1 pids.max)" 77 || return 1
    expect_file "$(cg cpu d1 cpu.cfs_quota_us)" 50000 || return 1
    x "${D[@]}" exec d1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    expect_rc 0 && expect_out '^67108864$'
}

s_stop() {
    # A process with a TERM handler exits on docker stop's SIGTERM ...
    x "${D[@]}" "${RUN[@]}" -d --name t1 "$IMG" sh -c 'trap "exit 42" TERM; touch /tmp/ready; while :; do sleep 0.1; done'
    expect_rc 0 || return 1
    poll 30 "t1 ready" "${D[@]}" exec t1 test -e /tmp/ready || return 1
    x "${D[@]}" stop -t 20 t1
    expect_rc 0 || return 1
    [ "$(inspect t1 '{{.State.ExitCode}}')" = 42 ] || fail "t1 exit code $(inspect t1 '{{.State.ExitCode}}'), expected 42" || return 1
    # ... a pid-1 sleep ignores it, and gets SIGKILL after the grace time.
    local t0 t; t0=$(date +%s.%N)
    x "${D[@]}" stop -t 1 d1
    expect_rc 0 || return 1
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    [ "$(inspect d1 '{{.State.ExitCode}}')" = 137 ] || fail "d1 exit code $(inspect d1 '{{.State.ExitCode}}'), expected 137" || return 1
    awk -v t="$t" 'BEGIN { exit !(t >= 1) }' || fail "docker stop -t 1 took ${t}s: SIGKILL came before the grace time"
    x "${D[@]}" rm t1 d1
    expect_rc 0
}

s_kill_usr1() {
    x "${D[@]}" "${RUN[@]}" -d --name k1 "$IMG" sh -c 'trap "echo got-usr1" USR1; echo ready; while :; do sleep 0.1; done'
    expect_rc 0 || return 1
    poll 30 "k1 ready" sh -c "'${D[0]}' -H 'unix://$DSOCK' logs k1 2>&1 | grep -q ready" || return 1
    x "${D[@]}" kill -s USR1 k1
    expect_rc 0 || return 1
    poll 20 "got-usr1 in k1's log" sh -c "'${D[0]}' -H 'unix://$DSOCK' logs k1 2>&1 | grep -q got-usr1" || return 1
    is_running k1 || fail "k1 not running after USR1" || return 1
    x "${D[@]}" kill k1
    expect_rc 0 || return 1
    poll 20 "k1 exited" is_exited k1 || return 1
    [ "$(inspect k1 '{{.State.ExitCode}}')" = 137 ] || fail "k1 exit code $(inspect k1 '{{.State.ExitCode}}')" || return 1
    x "${D[@]}" rm k1
}

s_limits() {
    x "${D[@]}" "${RUN[@]}" --rm --memory 64m --pids-limit 50 --cpus 0.5 "$IMG" sh -c \
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us'
    expect_rc 0 || return 1
    [ "$(echo $OUT)" = "67108864 50 50000" ] || fail "limits seen inside: $(echo $OUT), expected 67108864 50 50000"
}

s_read_only() {
    x "${D[@]}" "${RUN[@]}" --rm --read-only "$IMG" sh -c 'touch /x; echo touch=$?; grep " / " /proc/mounts'
    expect_rc 0 && expect_out 'Read-only file system' && expect_out '^touch=1$' && expect_out ' / [a-z0-9]+ ro[ ,]'
}

s_cap_drop() {
    x "${D[@]}" "${RUN[@]}" --rm --cap-drop ALL "$IMG" grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status
    expect_rc 0 || return 1
    [ "$(printf '%s\n' "$OUT" | grep -c ':[[:space:]]*0000000000000000$')" = 5 ] || fail "capabilities not all empty"
}

s_nnp() {
    x "${D[@]}" "${RUN[@]}" --rm --security-opt no-new-privileges "$IMG" grep NoNewPrivs /proc/self/status
    expect_rc 0 && expect_out 'NoNewPrivs:[[:space:]]+1$'
}

s_seccomp() {
    # Docker's default profile: filter in force, and unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN
    # is denied; the same command works with seccomp=unconfined.
    x "${D[@]}" "${RUN[@]}" --rm "$IMG" sh -c 'grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?'
    expect_rc 0 && expect_out 'Seccomp:[[:space:]]+2$' && expect_out 'Operation not permitted' && expect_out '^unshare=1$' || return 1
    x "${D[@]}" "${RUN[@]}" --rm --security-opt seccomp=unconfined "$IMG" sh -c 'grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?'
    expect_rc 0 && expect_out 'Seccomp:[[:space:]]+0$' && expect_out '^unshare=0$'
}

s_bad_mount() {
    # A create that fails in the runtime: the bind source is a file, the target a directory.
    x "${D[@]}" "${RUN[@]}" --rm -v /etc/hostname:/bin "$IMG" true
    [ "$RC" != 0 ] || fail "the container ran" || return 1
    expect_out 'OCI runtime create failed: .*(/bin|hostname)' || return 1
    x "${D[@]}" ps -aq
    [ -z "$OUT" ] || fail "containers left: $OUT"
}

s_timing() {
    # docker run --rm true: bare hull vs bare runc, interleaved, median of BENCH_RUNS.
    local i a b h=() r=()
    for i in $(seq "$BENCH_RUNS"); do
        a=$(time_it "${D[@]}" run --rm --runtime hull-bench --network none --cgroup-parent "$CG_PARENT" "$IMG" true) || fail "hull-bench run failed" || return 1
        b=$(time_it "${D[@]}" run --rm --runtime peer --network none --cgroup-parent "$CG_PARENT" "$IMG" true) || fail "peer run failed" || return 1
        h+=("$a"); r+=("$b")
    done
    a=$(printf '%s\n' "${h[@]}" | median); b=$(printf '%s\n' "${r[@]}" | median)
    TIMING="docker run --rm true: $RUNTIME_NAME $(printf '%.3f' "$a")s, $(basename "$PEER") $(printf '%.3f' "$b")s, ratio $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') (median of $BENCH_RUNS)"
    echo "$TIMING"
}

scenario "docker run --rm exit status and output" s_run_exit
scenario "docker run -it (tty, under script)" s_run_it
scenario "docker run -d" s_detached
scenario "docker exec exit status and output" s_exec
scenario "docker exec: the process has the container's oom_score_adj" s_exec_oom
scenario "docker exec -it (tty, under script)" s_exec_it
scenario "docker top" s_top
scenario "docker pause / unpause" s_pause
scenario "docker update --memory --memory-swap --pids-limit --cpus" s_update
scenario "docker stop (SIGTERM to a handler; SIGKILL after the grace time)" s_stop
scenario "docker kill -s USR1, docker kill" s_kill_usr1
scenario "docker run --memory --pids-limit --cpus: limits seen inside" s_limits
scenario "docker run --read-only" s_read_only
scenario "docker run --cap-drop ALL" s_cap_drop
scenario "docker run --security-opt no-new-privileges" s_nnp
scenario "docker run: default seccomp profile in force" s_seccomp
scenario "docker run with a failing mount shows the runtime's error" s_bad_mount
scenario "docker run --rm true timing ($RUNTIME_NAME vs $(basename "$PEER"))" s_timing
[ -n "${TIMING:-}" ] && log "timing: $TIMING"
lane_finish
