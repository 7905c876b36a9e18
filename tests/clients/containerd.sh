#!/bin/bash
# Lane: containerd 1.6 + ctr, hull as the runc shim's binary (`ctr run --runc-binary`).
# Usage: tests/clients/containerd.sh   (as root; see README.md)
LANE=containerd
. "$(dirname "$0")/lib.sh"
lane_setup
build_rootfs

# ---------------------------------------------------------------------------------------------
start_containerd
CTR=(ctr --address "$CONTAINERD_SOCK" --namespace hc)
EXEC=("${CTR[@]}" task exec --fifo-dir "$WORK/fifo")

# opts ID: the ctr run options for container ID: hull through the runc v2 shim, a private runtime root, an
# absolute cgroup under the lane's parent, private fifos, the busybox rootfs directory. Without an
# image ctr sets no PATH (runc then cannot find `sh`): set it as an image config would.
opts() {   # opts ID: sets O
    O=(--runc-binary "$WRAPPER" --runc-root "$WORK/runc" --cgroup "$CG_PARENT/$1" --fifo-dir "$WORK/fifo"
       --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --rootfs "$WORK/rootfs" "$1")
}
task_status() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
task_is() { [ "$(task_status "$1")" = "$2" ]; }

lane_cleanup() {
    local id
    for id in $("${CTR[@]}" task ls -q 2>/dev/null); do
        timeout 20 "${CTR[@]}" task kill -s SIGKILL "$id"
        timeout 20 "${CTR[@]}" task delete --force "$id"
    done
    for id in $("${CTR[@]}" container ls -q 2>/dev/null); do timeout 20 "${CTR[@]}" container delete "$id"; done
}

# ---------------------------------------------------------------------------------------------
# Scenarios

s_run_exit() {
    opts run1
    x "${CTR[@]}" run --rm "${O[@]}" sh -c 'echo hello-from-ctr; exit 7'
    expect_rc 7 && expect_out '^hello-from-ctr$'
}

s_detached() {
    opts det1
    x "${CTR[@]}" run -d "${O[@]}" sleep 600
    expect_rc 0 || return 1
    poll 30 "task det1 RUNNING" task_is det1 RUNNING || return 1
    local pid; pid=$(task_pid det1)
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || fail "no init process for det1 (pid '$pid')" || return 1
    grep -q ":memory:$CG_PARENT/det1\$" /proc/$pid/cgroup || fail "init not in memory cgroup $CG_PARENT/det1: $(cat /proc/$pid/cgroup)"
}

s_exec() {
    x "${EXEC[@]}" --exec-id ex1 det1 sh -c 'echo exec-out; exit 3'
    expect_rc 3 && expect_out '^exec-out$'
}

s_exec_tty() {
    xtty "${EXEC[@]}" -t --exec-id ex2 det1 sh -c 'tty; exit 4'
    expect_rc 4 && expect_out '^/dev/pts/[0-9]+$'
}

s_ps() {
    local pid; pid=$(task_pid det1)
    x "${CTR[@]}" task ps det1
    expect_rc 0 && expect_out "^$pid( |$)"
}

s_pause_resume() {
    local fz=/sys/fs/cgroup/freezer$CG_PARENT/det1/freezer.state
    x "${CTR[@]}" task pause det1
    expect_rc 0 || return 1
    poll 10 "task det1 PAUSED" task_is det1 PAUSED || return 1
    expect_file "$fz" FROZEN || return 1
    x "${CTR[@]}" task resume det1
    expect_rc 0 || return 1
    poll 10 "task det1 RUNNING" task_is det1 RUNNING || return 1
    expect_file "$fz" THAWED || return 1
    x "${EXEC[@]}" --exec-id ex3 det1 echo alive-after-resume
    expect_rc 0 && expect_out alive-after-resume
}

s_kill() {
    # SIGTERM (ctr's default) reaches a handler; SIGKILL ends a sleep that has none.
    opts term1
    x "${CTR[@]}" run -d "${O[@]}" sh -c 'trap "exit 42" TERM; echo ready > /tmp/ready; while :; do sleep 0.1; done'
    expect_rc 0 || return 1
    poll 30 "term1 running its trap" "${EXEC[@]}" --exec-id r1 term1 cat /tmp/ready || return 1
    x "${CTR[@]}" task kill term1
    expect_rc 0 || return 1
    poll 20 "task term1 STOPPED" task_is term1 STOPPED || return 1
    x "${CTR[@]}" task delete term1
    expect_out 'status 42|42' || return 1
    x "${CTR[@]}" container delete term1
    expect_rc 0 || return 1
    x "${CTR[@]}" task kill -s SIGKILL det1
    expect_rc 0 || return 1
    poll 20 "task det1 STOPPED" task_is det1 STOPPED
}

s_delete() {
    x "${CTR[@]}" task delete det1
    expect_out '137' || return 1
    x "${CTR[@]}" container delete det1
    expect_rc 0 || return 1
    x "${CTR[@]}" container ls -q
    expect_no_out det1 || return 1
    [ ! -e "$WORK/runc/hc/det1" ] || fail "runtime state dir $WORK/runc/hc/det1 left: $(ls -A "$WORK/runc/hc/det1")" || return 1
    local c
    for c in memory pids freezer cpu; do
        [ ! -d "/sys/fs/cgroup/$c$CG_PARENT/det1" ] || fail "cgroup $c$CG_PARENT/det1 left" || return 1
    done
}

s_bad_mount() {
    opts bad1
    x "${CTR[@]}" run --rm --mount "type=bind,src=$WORK/no-such-dir,dst=/x,options=rbind:ro" "${O[@]}" true
    [ "$RC" != 0 ] || fail "the container ran" || return 1
    # The message must come from the runtime (through log.json), naming the missing source.
    expect_out "no-such-dir" || return 1
    x "${CTR[@]}" container ls -q
    expect_no_out bad1 || return 1
    [ ! -e "$WORK/runc/hc/bad1" ] || fail "runtime state dir $WORK/runc/hc/bad1 left"
}

s_tty() {
    opts tty1
    xtty "${CTR[@]}" run -t --rm "${O[@]}" sh -c 'tty; exit 5'
    expect_rc 5 && expect_out '^/dev/pts/0$'
}

scenario "ctr run exit status and output" s_run_exit
scenario "ctr run -d (detached task, in its cgroup)" s_detached
scenario "ctr task exec exit status and output" s_exec
scenario "ctr task exec -t (tty)" s_exec_tty
scenario "ctr task ps lists the init" s_ps
scenario "ctr task pause / resume" s_pause_resume
scenario "ctr task kill (SIGTERM to a handler, SIGKILL)" s_kill
scenario "ctr task delete / container delete removes state and cgroups" s_delete
scenario "ctr run with a bad mount shows the runtime's error" s_bad_mount
scenario "ctr run -t (tty)" s_tty
lane_finish
