#!/bin/bash
# Lane: rootless podman 4 + conmon with hull as the OCI runtime, run by an unprivileged test user
# (hullpodman, made here with /etc/subuid and /etc/subgid ranges and removed at the end). Podman
# keeps its own storage in the user's home and calls hull as root of its user namespace, where
# hull runs in rootless mode: no mknod, no cgroup on a v1 host. Also `podman unshare` + hull
# directly, the "inside someone else's user namespace" path.
# Usage: tests/clients/podman-rootless.sh   (as root; see README.md)
LANE=podman-rootless
. "$(dirname "$0")/lib.sh"
lane_setup
build_rootfs
PUSER=hullpodman
# The user must reach the runtime: a copy in the work dir (the checkout may be under a 0700 home).
mkdir -p "$WORK/rt" && chmod 755 "$WORK/rt"
cp "$RUNTIME" "$WORK/rt/$RUNTIME_NAME" && chmod 755 "$WORK/rt/$RUNTIME_NAME"
RUNTIME=$WORK/rt/$RUNTIME_NAME
make_wrapper "$WRAPPER" "$RUNTIME"

# The user, its runtime dir, and what it must reach in the lane's work dir.
if id -u "$PUSER" > /dev/null 2>&1; then MADE_USER=0; else
    useradd -m -s /bin/sh "$PUSER" || die "useradd $PUSER failed"
    MADE_USER=1
fi
PUID=$(id -u "$PUSER"); PGID=$(id -g "$PUSER"); PHOME=/home/$PUSER
grep -q "^$PUSER:" /etc/subuid && grep -q "^$PUSER:" /etc/subgid || die "no /etc/subuid or /etc/subgid range for $PUSER"
XRD=/run/user/$PUID
mkdir -p "$XRD" && chown "$PUID:$PGID" "$XRD" && chmod 700 "$XRD"
chmod 666 "$RUNTIME_LOG"; chmod 777 "$WORK/configs"; chmod 644 "$WORK/rootfs.tar"
PW=$WORK/podman
mkdir -p "$PW" && chmod 755 "$PW"
cat > "$PW/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "$RUNTIME_NAME"
runtime_supports_json = ["hull", "runc", "crun"]

[engine.runtimes]
$RUNTIME_NAME = ["$WRAPPER"]
EOF
chmod 644 "$PW/containers.conf"

# as-user CMD...: CMD as the test user with a login's environment (podman's storage, config and
# runtime dir are the user's own). A script, so that timeout and script can run it.
AS_USER=$WORK/bin/as-user
printf '%s\n' '#!/bin/sh' \
    "exec setpriv --reuid $PUID --regid $PGID --init-groups env -i HOME=$PHOME USER=$PUSER LOGNAME=$PUSER \\" \
    "    XDG_RUNTIME_DIR=$XRD PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin CONTAINERS_CONF=$PW/containers.conf \\" \
    "    sh -c 'cd \"\$HOME\" && exec \"\$@\"' sh \"\$@\"" > "$AS_USER"
chmod 755 "$AS_USER"
P=("$AS_USER" podman --runtime "$WRAPPER")
IMG=localhost/bb

lane_cleanup() {
    timeout 60 "${P[@]}" rm -af -t 0
    timeout 60 "${P[@]}" rmi -af
    # Rootless podman keeps a pause process holding its user namespace: ours, ended here.
    local pp; pp=$(cat "$XRD/libpod/tmp/pause.pid" 2>/dev/null)
    [ -n "$pp" ] && [ "$(stat -c %u "/proc/$pp" 2>/dev/null)" = "$PUID" ] && kill -KILL "$pp"
    "$AS_USER" sh -c 'rm -rf "$XDG_RUNTIME_DIR/hull-unshare"' 2>/dev/null
    if [ "$MADE_USER" = 1 ]; then
        userdel -r "$PUSER" 2> /dev/null
        rm -rf "$XRD"
    fi
}

# ---------------------------------------------------------------------------------------------
# Scenarios

s_import() {
    x "${P[@]}" import --change CMD=/bin/sh "$WORK/rootfs.tar" "$IMG"
    expect_rc 0
}

s_run() {
    x "${P[@]}" run --rm --network none "$IMG" sh -c 'echo rootless-run; id -u; cat /proc/self/uid_map; exit 3'
    expect_rc 3 && expect_out '^rootless-run$' && expect_out "^ *0 +$PUID +1$" || return 1
    # hull ran as root of podman's user namespace, in rootless mode.
    grep -q "'create'" "$RUNTIME_LOG" || fail "podman did not call $RUNTIME_NAME create"
}

s_detached_exec_stop() {
    x "${P[@]}" run -d --name rl --network none "$IMG" sleep 1000
    expect_rc 0 || return 1
    x "${P[@]}" exec rl sh -c 'echo exec-ok; exit 5'
    expect_rc 5 && expect_out '^exec-ok$' || return 1
    xtty "${P[@]}" exec -it rl sh -c 'tty; echo exec-tty-ok'
    expect_rc 0 && expect_out '^/dev/pts/[0-9]+$' && expect_out '^exec-tty-ok$' || return 1
    x "${P[@]}" top rl
    expect_rc 0 && expect_out 'sleep 1000' || return 1
    x "${P[@]}" stop -t 1 rl
    expect_rc 0 || return 1
    x "${P[@]}" inspect -f '{{.State.Status}}' rl
    expect_out '^exited$' || return 1
    x "${P[@]}" rm rl
    expect_rc 0
}

s_run_it() {
    xtty "${P[@]}" run --rm -it --network none "$IMG" sh -c 'tty; echo tty-ok'
    expect_rc 0 && expect_out '^/dev/pts/0$' && expect_out '^tty-ok$'
}

s_create_fails() {
    x "${P[@]}" run --rm --network none "$IMG" /nonexistent-program
    [ "$RC" != 0 ] || fail "the container ran" || return 1
    expect_out '/nonexistent-program' && expect_out 'no such file or directory' || return 1
    x "${P[@]}" ps -aq
    [ -z "$OUT" ] || fail "containers left: $OUT"
}

s_unshare() {
    # hull straight from a shell in podman's user namespace: root there, rootless for hull.
    local b=$WORK/unshare-bundle
    mkdir -p "$b/rootfs" && tar -C "$b/rootfs" -xf "$WORK/rootfs.tar" && chown -R "$PUID:$PGID" "$b"
    x "${P[@]}" unshare sh -c "cd $b && $RUNTIME spec && sed -i 's/\"terminal\": true/\"terminal\": false/; s/\"sh\"/\"sh\", \"-c\", \"echo unshare-ok; id -u\"/' config.json && $RUNTIME --root \$XDG_RUNTIME_DIR/hull-unshare run u1"
    expect_rc 0 && expect_out '^unshare-ok$' && expect_out '^0$'
}

scenario "rootless podman import (storage in the user's home)" s_import
scenario "rootless podman run --rm: root in the container is the user" s_run
scenario "rootless podman run -d, exec, exec -it, top, stop, rm" s_detached_exec_stop
scenario "rootless podman run -it (tty, under script)" s_run_it
scenario "rootless podman run: a failing create shows the runtime's error" s_create_fails
scenario "podman unshare + $RUNTIME_NAME run (inside someone else's user namespace)" s_unshare
lane_finish
