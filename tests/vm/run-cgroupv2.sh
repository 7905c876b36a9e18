#!/bin/bash
# The pure cgroup v2 lane: hull's own integration tests (default: tests/cgroups.rs) inside a QEMU
# VM (software emulation) whose only cgroup hierarchy is cgroup2 on /sys/fs/cgroup, with systemd
# as PID 1 (as on a real cgroup v2 host) starting the tests from hull-tests.service.
#   tests/vm/run-cgroupv2.sh      (`make test-cgroupv2` runs it)
# Environment:
#   VM_TESTS="cgroups fault_injection check rootless checkpoint"  integration test targets (tests/<name>.rs) to run, in one boot
#                        (none: no test, for VM_BENCH alone)
#   VM_FILTER=...        passed to each test binary (a test-name filter, or e.g. "--exact NAME")
#   VM_TIMEOUT=900       seconds before qemu is killed and the lane fails
#   VM_START_TIMEOUT=120 seconds from boot to the tests' start (systemd up) before the same
#   VM_SYSTEMD=1         0: no systemd, a shell /init runs the tests as PID 1 (systemd tests skip)
#   VM_APPEND=...        more kernel command line (e.g. systemd.log_level=debug)
#   VM_MODULES="fuse loop overlay ..."  kernel modules loaded in the VM, in this order (device
#                        nodes some tests use; overlay for the sealed binary of create/run/exec;
#                        the rest for CRIU: `criu check` needs nf_tables, the socket diag modules
#                        for dumps, veth and tun, its network lock (iptables over nftables)
#                        nft_compat and xt_mark, its dump of conntrack entries
#                        nf_conntrack_netlink; dependencies first: nf_tables after nfnetlink
#                        and libcrc32c, libcrc32c after crc32c_generic, nft_compat after
#                        nf_tables and x_tables)
#   VM_MEM=1024          guest memory in MiB
#   VM_BENCH=0           1: after the tests (VM_TESTS may be none), time hull (release build)
#                        against crun inside the VM (tests/vm/bench-v2; bench/vm-v2.sh reads it)
#   VM_BENCH_ROUNDS=3 VM_BENCH_RUNS=10  its rounds, and runs per runtime in each
# Cache (ignored by git): .cache/vm/ holds the kernel .deb, the vmlinux extracted from it and the
# modules. Log: target/vm/cgroupv2.log (the serial console). Exit status 0 only if the tests ran
# to the end marker and all passed.
set -euo pipefail
start=$(date +%s.%N)
repo=$(cd "$(dirname "$0")/../.." && pwd -P)
here=$repo/tests/vm
cache=$repo/.cache/vm
work=$repo/target/vm
log=$work/cgroupv2.log
VM_TESTS=${VM_TESTS:-cgroups fault_injection check rootless checkpoint}
[ "$VM_TESTS" = none ] && VM_TESTS=
VM_FILTER=${VM_FILTER:-}
VM_TIMEOUT=${VM_TIMEOUT:-900}
VM_START_TIMEOUT=${VM_START_TIMEOUT:-120}
VM_SYSTEMD=${VM_SYSTEMD:-1}
VM_APPEND=${VM_APPEND:-}
VM_MODULES=${VM_MODULES-fuse loop overlay veth tun crc32c_generic libcrc32c nfnetlink nf_tables x_tables nft_compat xt_mark nf_defrag_ipv4 nf_defrag_ipv6 nf_conntrack nf_conntrack_netlink inet_diag tcp_diag udp_diag raw_diag netlink_diag unix_diag af_packet_diag}
VM_MEM=${VM_MEM:-1024}
VM_BENCH=${VM_BENCH:-0}
# systemd loads autofs4 at start (a warning on the console when it cannot): loaded by /init.
modules=$VM_MODULES
[ "$VM_SYSTEMD" = 1 ] && modules="$modules autofs4"
say() { echo "test-cgroupv2: $*"; }
elapsed() { echo "$(date +%s.%N) $1" | awk '{printf "%.1f", $1 - $2}'; }
mkdir -p "$cache" "$work"

# 1. The kernel: Debian's current 6.1 image (the real package behind linux-image-amd64), cached.
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { say "cannot resolve linux-image-amd64 (run apt-get update)"; exit 1; }
kdir=$cache/$pkg
if [ ! -f "$kdir/vmlinux" ]; then
    say "downloading $pkg"
    rm -rf "$kdir" && mkdir -p "$kdir"
    (cd "$kdir" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
    mkdir "$kdir/x"
    dpkg-deb --fsys-tarfile "$kdir"/*.deb | tar -x -C "$kdir/x" --wildcards './boot/vmlinuz-*'
    ls "$kdir"/x/boot/vmlinuz-* | sed 's|.*/vmlinuz-||' > "$kdir/version"
    /usr/bin/python3 "$here/extract-vmlinux.py" "$kdir"/x/boot/vmlinuz-* "$kdir/vmlinux"
    rm -rf "$kdir/x"
fi
mkdir -p "$kdir/modules"
for m in $modules; do
    [ -f "$kdir/modules/$m.ko" ] && continue
    dpkg-deb --fsys-tarfile "$kdir"/*.deb |
        tar -x -O --wildcards "./lib/modules/*/$m.ko" > "$kdir/modules/$m.ko.tmp"
    mv "$kdir/modules/$m.ko.tmp" "$kdir/modules/$m.ko"
done

# 2. What runs inside: hull, the test binaries, the shared test rootfs, all at their host paths
#    (the tests find them through paths compiled in: CARGO_BIN_EXE_hull, CARGO_MANIFEST_DIR).
cd "$repo"
cargo build
args=()
for t in $VM_TESTS; do args+=(--test "$t"); done
bins=
if [ -n "$VM_TESTS" ]; then
    bins=$(cargo test "${args[@]}" --no-run --message-format=json | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])')
fi
[ "$(grep -c . <<<"$bins")" = "$(echo $VM_TESTS | wc -w)" ] || { say "test binaries not found: $bins"; exit 1; }
[ "$VM_BENCH" = 1 ] && cargo build --release

# The shared busybox rootfs, made where and as tests/common/bundle.rs makes it (rootfs_dir; the
# marker name read from there).
marker=$(sed -n 's/.*ROOTFS_MARKER: &str = "\(.*\)";/\1/p' tests/common/bundle.rs)
rootfs=/var/tmp/hull-test-rootfs$(printf %s "$repo" | tr / -)
if [ ! -e "$rootfs/$marker" ]; then
    tmp=$rootfs.tmp-$$
    sh bundles/build-rootfs.sh "$tmp"
    mkdir -p "$tmp"/mnt "$tmp"/out "$tmp"/data "$tmp"/run
    touch "$tmp"/etc/hosts "$tmp"/etc/resolv.conf "$tmp"/run/.containerenv "$tmp/$marker"
    rm -rf "$rootfs" && mv "$tmp" "$rootfs"
fi

# 3. The initramfs: static busybox (+ applet links) and tini, the binaries stripped, with their
#    libraries from ldd, the modules, /init, the test runner and its config; systemd (the host's,
#    Debian's) with systemctl and a unit set of one target and one service.
ird=$work/initramfs
rm -rf "$ird" && mkdir -p "$ird"/bin "$ird"/usr/bin "$ird"/etc "$ird"/root "$ird"/lib/modules
cp /bin/busybox "$ird"/bin/busybox
for a in $(/bin/busybox --list-full); do
    [ -e "$ird/$a" ] || { mkdir -p "$ird/$(dirname "$a")" && ln -s /bin/busybox "$ird/$a"; }
done
cp /usr/bin/tini-static "$ird"/usr/bin/
for m in $modules; do cp "$kdir/modules/$m.ko" "$ird"/lib/modules/; done
echo $modules > "$ird"/lib/modules/order   # /init loads them in this order
put() { mkdir -p "$ird$(dirname "$1")" && cp -L "$1" "$ird$1"; }
with_libs() { for lib in $(ldd "$1" | grep -o '/[^ ]*'); do [ -e "$ird$lib" ] || put "$lib"; done; }
for b in "$repo/target/x86_64-unknown-linux-musl/debug/hull" $bins; do
    put "$b" && strip "$ird$b" && with_libs "$b"
done
# CRIU for tests/checkpoint.rs (the host's kernel fails `criu check`; this one passes).
criu=$(command -v criu || true)
[ -n "$criu" ] || { say "no criu (apt-get install criu)"; exit 1; }
put "$criu" && with_libs "$criu"
# GNU tar, iproute2's ip and iptables (nft): CRIU archives a container's tmpfs with tar, saves
# and restores its network with `ip addr save` and iptables-save/-restore, and locks it with
# iptables-restore (busybox has no iptables, and its tar and ip lack those options).
rm -f "$ird"/bin/tar && put /bin/tar && with_libs /bin/tar   # (the applet link goes first)
put /usr/sbin/ip && with_libs /usr/sbin/ip                   # (before busybox's /sbin/ip in PATH)
# (CRIU saves the legacy tables too, with iptables-legacy-save, when iptables is the nft one.)
put /usr/sbin/xtables-nft-multi && with_libs /usr/sbin/xtables-nft-multi
put /usr/sbin/xtables-legacy-multi && with_libs /usr/sbin/xtables-legacy-multi
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-nft-multi "$ird/usr/sbin/$t"
    ln -sf xtables-legacy-multi "$ird/usr/sbin/${t%%-*}-legacy${t#${t%%-*}}"
done
mkdir -p "$ird"/usr/lib/x86_64-linux-gnu && cp -a /usr/lib/x86_64-linux-gnu/xtables "$ird"/usr/lib/x86_64-linux-gnu/
# podman and conmon for `podman container checkpoint/restore` with hull (tests/checkpoint.rs; its
# configuration is the test's own, but for the image signature policy).
for b in /usr/bin/podman /usr/bin/conmon; do put "$b" && with_libs "$b"; done
put /etc/containers/policy.json
if [ "$VM_SYSTEMD" = 1 ]; then
    [ -x /lib/systemd/systemd ] || { say "no /lib/systemd/systemd (apt-get install systemd, or VM_SYSTEMD=0)"; exit 1; }
    for b in /lib/systemd/systemd /usr/bin/systemctl; do put "$b" && with_libs "$b"; done
    mkdir -p "$ird"/etc/systemd/system "$ird"/lib/systemd/system "$ird"/var/lib
    cp "$here/hull-tests.target" "$here/hull-tests.service" "$ird"/etc/systemd/system/
    # The slices container engines put containers in (system.slice and -.slice are built in).
    cp /lib/systemd/system/machine.slice /lib/systemd/system/user.slice "$ird"/lib/systemd/system/
    cp -L /etc/os-release "$ird"/etc/os-release
    echo 6875c1c0cafe4e0fa1e7e57c9e5f0001 > "$ird"/etc/machine-id   # not a first boot
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ird"/etc/passwd
    printf 'root:x:0:\ntty:x:5:\n' > "$ird"/etc/group
fi
mkdir -p "$ird"/usr/lib/hull-vm && cp "$here/run-tests" "$ird"/usr/lib/hull-vm/
if [ "$VM_BENCH" = 1 ]; then
    # hull's release build, crun and hyperfine with their libraries, and a bundle per runtime
    # (the bench's: the runc spec template's true container, its own cgroup).
    for b in "$repo/target/x86_64-unknown-linux-musl/release/hull" "$(command -v crun)" "$(command -v hyperfine)"; do
        put "$b" && with_libs "$b"
    done
    cp "$here/bench-v2" "$ird"/usr/lib/hull-vm/
    for rt in hull crun; do
        mkdir -p "$ird/usr/lib/hull-vm/bench/$rt"
        jq --arg root "$rootfs" --arg cg "/hull-bench/$rt" '
            .ociVersion = "1.0.2" | .root.path = $root | .root.readonly = true | .process.args = ["true"] |
            .process.terminal = false | .linux.cgroupsPath = $cg | del(.hostname) |
            .linux.namespaces |= map(select(.type != "uts"))' bundles/busybox/config.json \
            > "$ird/usr/lib/hull-vm/bench/$rt/config.json"
    done
fi
mkdir -p "$ird$repo/target"
mkdir -p "$ird$(dirname "$rootfs")" && cp -a "$rootfs" "$ird$rootfs"
: > "$ird$repo/target/hull-test.lock"
cp "$here/init" "$ird/init" && chmod 755 "$ird/init"
{ printf 'SYSTEMD=%q\n' "$VM_SYSTEMD"; printf 'TESTS=%q\n' "$(echo $bins)"
  printf 'FILTER=%q\n' "$VM_FILTER"
  printf 'HULL=%q\n' "$repo/target/x86_64-unknown-linux-musl/debug/hull"
  if [ "$VM_BENCH" = 1 ]; then
      printf 'BENCH=/usr/lib/hull-vm/bench-v2\nBENCH_DIR=/usr/lib/hull-vm/bench\n'
      printf 'BENCH_HULL=%q\n' "$repo/target/x86_64-unknown-linux-musl/release/hull"
      printf 'BENCH_ROUNDS=%q\nBENCH_RUNS=%q\n' "${VM_BENCH_ROUNDS:-3}" "${VM_BENCH_RUNS:-10}"
  fi; } > "$ird/etc/hull-vm.conf"
# Uncompressed: unpacking gzip under emulation costs more (0.8 s) than qemu loading 40 MB.
rm -f "$work/initrd.gz"
(cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) > "$work/initrd.cpio"
say "initramfs $(du -h "$work/initrd.cpio" | cut -f1) ($([ "$VM_SYSTEMD" = 1 ] && echo systemd || echo shell) init), kernel $(cat "$kdir/version"), prepared in $(elapsed "$start") s"

# 4. Boot. The serial console goes to the log; tail streams it. qemu is killed (by its pid) on
#    timeout or interrupt. systemd: hull-tests.target alone, status output only for errors, its
#    log (warnings and up) straight to the console.
cmdline="console=ttyS0 quiet panic=-1 reboot=t mitigations=off acpi=off"
[ "$VM_SYSTEMD" = 1 ] && cmdline="$cmdline systemd.unit=hull-tests.target systemd.show_status=error
    systemd.log_level=warning systemd.log_target=console systemd.log_color=0"
cmdline="$cmdline $VM_APPEND"
: > "$log"
boot=$(date +%s.%N)
qemu-system-x86_64 -M microvm,acpi=off -accel tcg,thread=multi -smp 2 -m "$VM_MEM" \
    -nographic -no-reboot -kernel "$kdir/vmlinux" -initrd "$work/initrd.cpio" \
    -append "$(echo $cmdline)" </dev/null >"$log" 2>&1 &
qpid=$!
trap 'kill "$qpid" 2>/dev/null || true' EXIT
tail -n +1 -f --pid="$qpid" "$log" &
timed_out=0 up= begin=
while kill -0 "$qpid" 2>/dev/null; do
    [ -z "$up" ] && grep -q 'hull-vm: userspace up' "$log" && up=$(elapsed "$boot")
    [ -z "$begin" ] && grep -q 'hull-vm: BEGIN TESTS' "$log" && begin=$(elapsed "$boot")
    t=$(elapsed "$boot" | cut -d. -f1)
    if [ "$t" -ge "$VM_TIMEOUT" ]; then
        timed_out=1; kill "$qpid"; break
    fi
    if [ -z "$begin" ] && [ "$t" -ge "$VM_START_TIMEOUT" ]; then
        timed_out=2; kill "$qpid"; break
    fi
    # systemd's end when it cannot go on (no unit to start, a crash): no use waiting.
    if grep -q '^Freezing execution' "$log"; then
        timed_out=3; kill "$qpid"; break
    fi
    sleep 0.2
done
wait "$qpid" || true
wait || true   # tail
trap - EXIT

# 5. The verdict, from the log alone.
out=$(tr -d '\r' < "$log")
fail=()
[ "$timed_out" = 1 ] && fail+=("timed out after $VM_TIMEOUT s")
[ "$timed_out" = 2 ] && fail+=("the tests did not start within $VM_START_TIMEOUT s of boot$(
    [ "$VM_SYSTEMD" = 1 ] && echo " (did systemd come up and start hull-tests.service?)")")
[ "$timed_out" = 3 ] && fail+=("systemd froze (Freezing execution)")
grep -q 'hull-vm: FATAL' <<<"$out" && fail+=("$(grep -o 'hull-vm: FATAL.*' <<<"$out" | head -n1)")
if [ "$VM_SYSTEMD" = 1 ] && ! grep -q '^hull-vm: tests start' <<<"$out"; then
    fail+=("systemd did not start hull-tests.service (see its messages in the log)")
elif [ "$VM_SYSTEMD" = 1 ] && ! grep -q '^hull-vm: systemd pid1: yes' <<<"$out"; then
    fail+=("systemd is not PID 1 in the VM")
fi
grep -q 'Kernel panic' <<<"$out" && fail+=("kernel panic")
end=$(grep -o 'hull-vm: END TESTS exit code [0-9]*' <<<"$out" || true)
[ -n "$end" ] || fail+=("no end marker")
if [ "$VM_BENCH" = 1 ]; then
    grep -q '^hull-vm: bench exit code 0' <<<"$out" || fail+=("the bench did not finish")
    grep -q '^hull-vm-bench: error' <<<"$out" && fail+=("$(grep -m1 '^hull-vm-bench: error.*' <<<"$out")")
fi
[ -n "$end" ] && [ "${end##* }" != 0 ] && fail+=("test exit code ${end##* }")
results=$(grep '^test result:' <<<"$out" || true)
[ "$(grep -c . <<<"$results")" = "$(echo $VM_TESTS | wc -w)" ] || fail+=("missing 'test result:' lines")
[ -n "$results" ] && grep -qv '^test result: ok\. [0-9]* passed; 0 failed' <<<"$results" && fail+=("tests failed")
# A filter that selects nothing must not pass silently.
[ -z "$results" ] || [ -z "$VM_TESTS" ] || grep -q '^test result: .* [1-9][0-9]* passed' <<<"$results" || fail+=("no test passed")
echo
say "---- summary ----"
grep -E '^hull-vm: (systemd pid1|kernel|/sys/fs/cgroup is|cgroup\.subtree_control|.* exit code)' <<<"$out" || true
[ -n "$results" ] && echo "$results"
failed=$(sed -n '/^failures:$/,/^test result:/{/^    [^ ]/p}' <<<"$out" | sort -u)
[ -n "$failed" ] && { echo "failed tests:"; echo "$failed"; }
# Where each failing test panicked, and the first line of its message.
grep -A1 "^thread '.*' .*panicked at" <<<"$out" | grep -v '^--$' || true
say "boot to userspace ${up:-?} s, to the tests' start ${begin:-?} s, VM $(elapsed "$boot") s, lane wall time $(elapsed "$start") s, log $log"
if [ ${#fail[@]} -gt 0 ]; then
    say "FAIL: $(IFS=';'; echo "${fail[*]}")"
    exit 1
fi
say "PASS"
