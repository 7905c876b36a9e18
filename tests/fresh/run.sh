#!/bin/bash
# make test-fresh: the README's two set-up commands, exactly as README.md writes them, on a
# minimal Debian 12 with nothing but gcc, make, git, ca-certificates and the Rust toolchain.
#
# 1. A minbase Debian 12 root is debootstrapped once from the machine's own mirror and cached in
#    $FRESH_CACHE (default /var/cache/hull-test-fresh: outside the checkout, so CI runs on this
#    machine reuse it). Each run works on an overlayfs over it, thrown away afterwards.
# 2. In a private mount namespace the new root gets /proc, /sys (with the cgroup hierarchies),
#    /dev, a tmpfs /run and /tmp, the host's extra CA certificates (this machine's network
#    presents its own CA), its resolv.conf, and the host's Rust toolchain read-only
#    (/root/.rustup at /opt/rustup, the rustup proxies at /opt/cargo-bin; CARGO_HOME is the new
#    root's own /root/.cargo).
# 3. The committed state of this repository is cloned into it (/root/hull: under /root, mode
#    0700, where most people who work as root clone), then pivot_root makes it "/" (a plain
#    chroot would not do: a runtime needs "/" to be a mount point), and the commands run there
#    with a clean environment.
# Nothing is left on the host but the cache: the namespace's mounts go with it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
cache=${FRESH_CACHE:-/var/cache/hull-test-fresh}
say() { echo "test-fresh: $*"; }
start=$(date +%s)

[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, mounts, containers)"; exit 1; }
"$repo/scripts/ensure-packages.sh" "make test-fresh" debootstrap=debootstrap git=git
[ -d /root/.rustup ] && [ -x /root/.cargo/bin/cargo ] || { say "needs the Rust toolchain in /root/.rustup and /root/.cargo/bin (rustup)"; exit 1; }

# The README's set-up commands: the indented lines of its "## Set up" section.
mapfile -t commands < <(awk '/^## /{inside = ($0 == "## Set up")} inside && /^    [^ ]/{sub(/^    /, ""); print}' "$repo/README.md")
[ "${#commands[@]}" = 2 ] || { say "README.md's Set up section must hold exactly two commands, found: ${commands[*]:-none}"; exit 1; }
say "README commands: ${commands[0]} | ${commands[1]}"

# 1. The cached Debian 12 root.
base=$cache/bookworm
if [ ! -e "$base/.complete" ]; then
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    say "debootstrap Debian 12 (minbase + gcc make git ca-certificates) from $mirror"
    rm -rf "$base.tmp" && mkdir -p "$cache"
    debootstrap --variant=minbase --include=gcc,make,git,ca-certificates bookworm "$base.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
        { tail -n 20 "$cache/debootstrap.log"; say "debootstrap failed"; exit 1; }
    touch "$base.tmp/.complete"
    rm -rf "$base" && mv "$base.tmp" "$base"
fi

# 2-3. The run's root, in a private mount namespace.
work=$(mktemp -d /var/tmp/hull-fresh.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/ovl" "$work/root"
git clone -q "$repo" "$work/clone"
cmds=$(printf '%s && ' "${commands[@]}")
cmds=${cmds% && }
export base work cmds
unshare --mount --propagation private --fork bash -euo pipefail -c '
    new=$work/root
    mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" "$new"
    mount -t proc proc "$new/proc"
    mount --rbind /sys "$new/sys"
    mount --rbind /dev "$new/dev"
    mount -t tmpfs -o mode=755 tmpfs "$new/run"
    mount -t tmpfs -o mode=1777 tmpfs "$new/tmp"
    cp /etc/resolv.conf "$new/etc/resolv.conf"
    cp /usr/local/share/ca-certificates/*.crt "$new/usr/local/share/ca-certificates/" 2>/dev/null || true
    mkdir -p "$new/opt/rustup" "$new/opt/cargo-bin" "$new/root/.cargo"
    mount --bind /root/.rustup "$new/opt/rustup" && mount -o remount,bind,ro "$new/opt/rustup"
    mount --bind /root/.cargo/bin "$new/opt/cargo-bin" && mount -o remount,bind,ro "$new/opt/cargo-bin"
    mv "$work/clone" "$new/root/hull"
    chmod 700 "$new/root"
    cd "$new"
    mkdir -p .old
    pivot_root . .old
    umount -l /.old
    rmdir /.old
    cd /root/hull
    exec env -i HOME=/root TERM=dumb LANG=C.UTF-8 RUSTUP_HOME=/opt/rustup CARGO_HOME=/root/.cargo \
        PATH=/opt/cargo-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -euo pipefail -c "update-ca-certificates >/dev/null 2>&1; $cmds"
'
say "PASS in $(( $(date +%s) - start )) s"
