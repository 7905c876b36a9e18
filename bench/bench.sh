#!/bin/sh
# Time `run` of a container running `true`, and the create/start/delete --force lifecycle of the
# same container, for hull, runc and crun in one hyperfine run each, all inside the same private
# mount namespace (crun 1.8 refuses hybrid cgroup hosts unless the cgroup2 mount at
# /sys/fs/cgroup/unified is hidden, see TESTING.md), and print the ratios.
# usage: bench/bench.sh HULL_BINARY [RUNS]
set -eu
hull=$(realpath "${1:?usage: bench.sh HULL_BINARY [RUNS]}")
runs=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/hull-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$top/bundles/busybox/rootfs"
[ -x "$rootfs/bin/busybox" ] || "$top/bundles/build-rootfs.sh" "$rootfs"
for rt in hull runc crun; do
  mkdir -p "$work/$rt"
  jq --arg root "$rootfs" --arg cg "/hull-bench/$rt" '
      .ociVersion = "1.0.2" | .root.path = $root | .root.readonly = true | .process.args = ["true"] |
      .process.terminal = false | .linux.cgroupsPath = $cg | del(.hostname) |
      .linux.namespaces |= map(select(.type != "uts"))' \
    "$top/bundles/busybox/config.json" > "$work/$rt/config.json"
done
cmd() { echo "$1 --root /run/hull-bench-$2 run --bundle $work/$2 bench-$2 >/dev/null"; }
life() {
  r="$1 --root /run/hull-bench-$2"
  echo "$r create --bundle $work/$2 life-$2 >/dev/null && $r start life-$2 && $r delete --force life-$2"
}
cat > "$work/inner.sh" <<INNER
set -e
mount -t tmpfs -o size=4k hide /sys/fs/cgroup/unified
hyperfine -N --warmup 5 --runs $runs --export-json $work/result.json \
  -n hull "$(cmd "$hull" hull)" -n runc "$(cmd runc runc)" -n crun "$(cmd crun crun)"
hyperfine -N --warmup 5 --runs $runs --export-json $work/life.json \
  -n hull "$(life "$hull" hull)" -n runc "$(life runc runc)" -n crun "$(life crun crun)"
INNER
# -N runs commands without a shell; wrap each in sh -c so the redirection works.
sed -i 's/-n \([a-z]*\) "\([^"]*\)"/-n \1 "sh -c '"'"'\2'"'"'"/g' "$work/inner.sh"
unshare --mount --propagation private sh "$work/inner.sh"
report() {
  jq -r --arg what "$1" '
    (.results | map({(.command): .}) | add) as $r |
    "median \($what) time: hull \($r.hull.median*1000*10|round/10) ms, runc \($r.runc.median*1000*10|round/10) ms, crun \($r.crun.median*1000*10|round/10) ms",
    "\($what) ratio hull/runc: \(($r.hull.median / $r.runc.median * 100 | round) / 100)",
    "\($what) ratio hull/crun: \(($r.hull.median / $r.crun.median * 100 | round) / 100)"' "$2"
}
report run "$work/result.json"
report lifecycle "$work/life.json"
for rt in hull runc crun; do rmdir /sys/fs/cgroup/*/hull-bench 2>/dev/null || true; rm -rf "/run/hull-bench-$rt"; done
