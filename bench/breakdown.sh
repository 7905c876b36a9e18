#!/bin/sh
# Where the milliseconds of `hull run` go: RUNS runs of a container running `true` (the bench's
# bundle, in the same private mount namespace as bench/bench.sh), each with --debug, whose log
# lines carry nanosecond timestamps at the phases of create, the init, start and delete. Prints,
# per phase, the median time since the runtime's main() (after the sealed re-exec) over the
# runs, and the median whole-process wall time from outside (hyperfine) for what lies before
# main() and after exit (two execs, process teardown). The log lines cost about 10 us each.
# usage: bench/breakdown.sh HULL_BINARY [RUNS]
set -eu
hull=$(realpath "${1:?usage: breakdown.sh HULL_BINARY [RUNS]}")
runs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/hull-breakdown.XXXXXX)
trap 'rm -rf "$work"; "$hull" --root /run/hull-breakdown delete --force breakdown >/dev/null 2>&1 || true; rm -rf /run/hull-breakdown; rmdir /sys/fs/cgroup/*/hull-bench 2>/dev/null || true' EXIT
rootfs="$top/bundles/busybox/rootfs"
[ -x "$rootfs/bin/busybox" ] || "$top/bundles/build-rootfs.sh" "$rootfs"
jq --arg root "$rootfs" '
    .ociVersion = "1.0.2" | .root.path = $root | .root.readonly = true | .process.args = ["true"] |
    .process.terminal = false | .linux.cgroupsPath = "/hull-bench/breakdown" | del(.hostname) |
    .linux.namespaces |= map(select(.type != "uts"))' "$top/bundles/busybox/config.json" > "$work/config.json"
cat > "$work/inner.sh" <<INNER
set -e
mount -t tmpfs -o size=4k hide /sys/fs/cgroup/unified
# The parent cgroup exists beforehand, as in bench.sh.
for h in /sys/fs/cgroup/*/; do [ -e "\${h}cgroup.procs" ] && mkdir -p "\${h}hull-bench"; done; true
for i in \$(seq 1 $runs); do
  "$hull" --debug --log "$work/log.\$i" --root /run/hull-breakdown run --bundle "$work" breakdown
done
hyperfine -N --warmup 3 --runs $runs --export-json "$work/wall.json" \
  "$hull --root /run/hull-breakdown run --bundle $work breakdown" >/dev/null 2>&1
INNER
unshare --mount --propagation private sh "$work/inner.sh"
# Each log line: time="YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" level=debug msg="..."; the offsets of the
# phase lines from the first one, in ms, then the median per phase over the runs.
for f in "$work"/log.*; do
  awk -F'"' '/level=debug/ {
      split($2, t, "T"); split(t[2], h, ":"); s = h[1] * 3600 + h[2] * 60 + substr(h[3], 1, length(h[3]) - 1)
      if (!n++) t0 = s
      msg = $4; sub(/, pid [0-9]+/, "", msg); sub(/with [0-9]+$/, "", msg)
      if (msg !~ /^(hull|create|init|run): /) next
      if (!(msg in seen)) { seen[msg] = 1; printf "%d\t%.3f\t%s\n", n, (s - t0) * 1000, msg }
    }' "$f"
done | sort -t"$(printf '\t')" -k3,3 -k2,2n | awk -F'\t' '
    { k = $3; v[k, ++c[k]] = $2; if (!(k in ord) || $1 < ord[k]) ord[k] = $1 }
    END { for (k in c) { m = v[k, int((c[k] + 1) / 2)]; printf "%8.3f ms  %s\n", m, k } }' | sort -n
jq -r '.results[0] | "whole process, from outside (hyperfine, median of \(.times | length)): \(.median * 100000 | round / 100) ms"' "$work/wall.json"
