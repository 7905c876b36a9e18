#!/bin/sh
# qemu-system-x86 for the cgroup v2 VM lane, installed when missing.
# The machine image ships qemu-utils 10.0 from bookworm-backports; bookworm's own
# qemu-system-x86 (7.2) conflicts with it ("qemu-utils: Breaks: qemu-system-common (< 1:8.0)"),
# so qemu comes from backports, whose source is added (in a file of its own) only where the
# machine has none.
set -eu
command -v qemu-system-x86_64 >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the VM lane needs qemu-system-x86_64: run  sudo apt-get install -t bookworm-backports qemu-system-x86" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/hull-bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -q >&2
apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86 >&2
