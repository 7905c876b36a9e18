#!/bin/sh
# Build a busybox root filesystem from Debian's busybox-static.
# usage: bundles/build-rootfs.sh DEST   (DEST is created; an existing DEST is rebuilt)
set -eu
dest=${1:?usage: build-rootfs.sh DEST}
bb=/bin/busybox
[ -x "$bb" ] || { echo "build-rootfs: $bb missing: apt-get install busybox-static" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"/bin "$dest"/proc "$dest"/sys "$dest"/dev "$dest"/tmp "$dest"/etc "$dest"/root "$dest"/home/user
chmod 1777 "$dest"/tmp
cp "$bb" "$dest"/bin/busybox
chroot "$dest" /bin/busybox --install -s /bin
cat > "$dest"/etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$dest"/etc/group <<'G'
root:x:0:
user:x:1000:
audio:x:29:user
nogroup:x:65534:
G
echo hull > "$dest"/etc/hostname
chown 1000:1000 "$dest"/home/user
