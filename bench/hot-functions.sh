#!/bin/sh
# Write bench/hot-functions.txt: the functions hull runs on a container's path, grouped by the
# process that runs them (see the end), which scripts/link-hot-first.sh places first in .text.
# A copy of hull built with its symbols runs `run`, create/start/delete, `exec`, `state` and
# `list` many times under perf's sampling (user time at 40 kHz: a function that runs for 50 ns
# per container is caught in almost every profile); names are demangled without the crates'
# hashes. Rerun after changes to the code
# path of create and run (`make hot-functions`); a stale list only costs memory, never
# correctness.
# usage: bench/hot-functions.sh [RUNS]
set -eu
runs=${1:-2000}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/hull-hot.XXXXXX)
cleanup() {
  "$work/hull" --root /run/hull-hot delete --force hot > /dev/null 2>&1 || true
  rm -rf /run/hull-hot
  [ -x "$work/hull" ] && perf buildid-cache -r "$work/hull" 2> /dev/null
  # perf keeps a directory per binary path it cached: this run's, and nothing else of ~/.debug.
  rm -rf "${HOME:-/root}/.debug$work"
  rm -rf "$work"
  for d in /sys/fs/cgroup/*/hull-bench /sys/fs/cgroup/hull-bench; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  true
}
trap cleanup EXIT
(cd "$top" && CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=target/hot cargo build --release --quiet)
bin="$work/hull"
cp "$top/target/hot/x86_64-unknown-linux-musl/release/hull" "$bin"
# The sealed process runs the binary through an overlayfs view perf cannot name: by build-id.
perf buildid-cache -a "$bin"
rootfs="$top/bundles/busybox/rootfs"
[ -x "$rootfs/bin/busybox" ] || "$top/bundles/build-rootfs.sh" "$rootfs"
for k in true sleep; do
  mkdir -p "$work/$k"
  args='["true"]'; [ $k = sleep ] && args='["sleep", "100000"]'
  jq --arg root "$rootfs" --argjson args "$args" '
      .ociVersion = "1.0.2" | .root.path = $root | .root.readonly = true | .process.args = $args |
      .process.terminal = false | .linux.cgroupsPath = "/hull-bench/hot" | del(.hostname) |
      .linux.namespaces |= map(select(.type != "uts"))' "$top/bundles/busybox/config.json" > "$work/$k/config.json"
done
cat > "$work/load.sh" <<LOAD
set -e
[ -e /sys/fs/cgroup/unified/cgroup.procs ] && mount -t tmpfs -o size=64m hide /sys/fs/cgroup/unified
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do [ -e "\${h}cgroup.procs" ] && mkdir -p "\${h}hull-bench"; done
r="$bin --root /run/hull-hot"
for i in \$(seq $runs); do \$r run --bundle $work/true hot > /dev/null; done
for i in \$(seq \$(( $runs / 10 ))); do \$r create --bundle $work/true hot > /dev/null; \$r start hot; \$r delete --force hot; done
\$r run -d --bundle $work/sleep hot > /dev/null
for i in \$(seq \$(( $runs / 10 ))); do \$r exec hot true; \$r state hot > /dev/null; \$r list > /dev/null; done
\$r delete --force hot
LOAD
unshare --mount --propagation private perf record -q -N --buildid-mmap -e cpu-clock:u -F 40000 -o "$work/perf.data" -- sh "$work/load.sh"
# The order, in groups, each hottest first: what create, run and exec run before they move onto
# the sealed view (samples from the installed file, in processes that also have samples from the
# view: every page they fault there is faulted again from the view afterwards, so those pages
# should be few); then what both the runtime side and the init run from the view; the runtime
# side's alone; the init's (and exec's helper's) alone, which a clone faults in afresh; last the
# verbs that run from the installed file only (start, state, list, delete).
perf script -i "$work/perf.data" --show-task-events --no-demangle -F comm,pid,ip,sym,dso 2> /dev/null |
  awk -v host="($bin)" '
    # pids come round again (pid_max is often 32768): a process is its pid and its fork.
    /PERF_RECORD_FORK\(/ { p = $0; sub(/.*PERF_RECORD_FORK\(/, "", p); sub(/:.*/, "", p); gen[p]++; next }
    /PERF_RECORD_/ { next }
    $1 == "hull" && NF == 5 && $4 != "[unknown]" && $4 !~ /^0x/ {
      proc = $2 "." gen[$2]; f = $4; n[f]++
      # The sealed view: the file as a detached mount names it, without the installed path.
      if ($NF == host) { hosted[proc] = 1; h[proc SUBSEP f] = 1 } else if ($NF ~ /\/hull\)$/) { viewed[proc] = 1; v[proc SUBSEP f] = 1 }
    }
    END {
      for (k in h) { split(k, a, SUBSEP); if (a[1] in viewed) pre[a[2]] = 1 }
      for (k in v) { split(k, a, SUBSEP); if (a[1] in hosted) rt[a[2]] = 1; else init[a[2]] = 1 }
      for (f in n) print ((f in pre) ? 0 : (f in rt && f in init) ? 1 : (f in rt) ? 2 : (f in init) ? 3 : 4) "\t" n[f] "\t" f
    }' | sort -t "$(printf '\t')" -k1,1n -k2,2nr | cut -f3 | c++filt --format=rust | sed -E 's/\[[0-9a-f]+\]//g' |
  awk '!seen[$0]++' > "$here/hot-functions.txt"
echo "bench/hot-functions.txt: $(wc -l < "$here/hot-functions.txt") functions"
