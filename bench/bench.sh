#!/bin/sh
# Time `run` of a container running `true`, and the create/start/delete --force lifecycle of the
# same container, for hull, runc and crun in one hyperfine run each, all inside the same private
# mount namespace (crun 1.8 refuses hybrid cgroup hosts unless the cgroup2 mount at
# /sys/fs/cgroup/unified is hidden, see TESTING.md), and print the ratios (ROUNDS rounds, the
# runtimes' order rotating, so that a drift of the machine's speed does not land on one of them).
# usage: bench/bench.sh HULL_BINARY [RUNS]
set -eu
hull=$(realpath "${1:?usage: bench.sh HULL_BINARY [RUNS]}")
runs=${2:-100}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/hull-bench.XXXXXX)
# Containers a stopped run left behind (their ids are reused) go first, and at the end.
cleanup() {
  for rt in hull runc crun; do
    bin=$rt; [ "$rt" = hull ] && bin=$hull
    for id in "bench-$rt" "life-$rt"; do "$bin" --root "/run/hull-bench-$rt" delete --force "$id" > /dev/null 2>&1 || true; done
    rm -rf "/run/hull-bench-$rt"
  done
  for d in /sys/fs/cgroup/*/hull-bench; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  rm -rf "$work"
}
cleanup_start() { w=$work; work=/nonexistent; cleanup; work=$w; }
cleanup_start
trap cleanup EXIT
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
# `run` is timed as the runtime's own command (hyperfine -N starts it without a shell and
# discards its output): a shell around it would add its own start-up to every runtime's time.
cmd() { echo "$1 --root /run/hull-bench-$2 run --bundle $work/$2 bench-$2"; }
life() {
  r="$1 --root /run/hull-bench-$2"
  echo "$r create --bundle $work/$2 life-$2 >/dev/null && $r start life-$2 && $r delete --force life-$2"
}
# hyperfine times each command's runs in one block, so a drift of the machine's speed during
# the run lands on one runtime. Instead: ROUNDS rounds of RUNS/ROUNDS runs each, the order of the
# three runtimes rotating from round to round; the ratios are taken per round, and the median
# round is reported with the spread.
rounds=${ROUNDS:-5}
per=$(( (runs + rounds - 1) / rounds ))
{
  echo "set -e"
  echo "mount -t tmpfs -o size=4k hide /sys/fs/cgroup/unified"
  # The parent cgroup exists before the runs, as a container manager's does (docker's /docker,
  # the kubelet's pod cgroups): runc and crun leave a parent they made, hull removes the levels
  # it made, so without this hull alone would make and remove /hull-bench on every run.
  echo "for h in /sys/fs/cgroup/*/; do [ -e \"\${h}cgroup.procs\" ] && mkdir -p \"\${h}hull-bench\"; done; true"
  for i in $(seq 1 "$rounds"); do
    case $(( i % 3 )) in 1) order="hull runc crun" ;; 2) order="runc crun hull" ;; 0) order="crun hull runc" ;; esac
    for kind in run life; do
      args=""
      for rt in $order; do
        bin=$rt; [ "$rt" = hull ] && bin=$hull
        if [ "$kind" = run ]; then
          args="$args -n $rt \"$(cmd "$bin" "$rt")\""
        else
          args="$args -n $rt \"sh -c '$(life "$bin" "$rt")'\""
        fi
      done
      echo "hyperfine -N --warmup 3 --runs $per --export-json $work/$kind-$i.json $args >/dev/null 2>>$work/hyperfine.err || { cat $work/hyperfine.err; exit 1; }"
    done
  done
} > "$work/inner.sh"
unshare --mount --propagation private sh "$work/inner.sh"
report() {
  what=$1
  shift
  jq -s -r --arg what "$what" '
    def med: sort | .[(length - 1) / 2 | floor];
    def r2: . * 100 | round / 100;
    map(.results | map({(.command): .median}) | add) as $rounds |
    ($rounds | map(.hull) | med) as $h | ($rounds | map(.runc) | med) as $r | ($rounds | map(.crun) | med) as $c |
    ($rounds | map(.hull / .runc)) as $hr | ($rounds | map(.hull / .crun)) as $hc |
    "median \($what) time: hull \($h*10000|round/10) ms, runc \($r*10000|round/10) ms, crun \($c*10000|round/10) ms (\($rounds|length) rounds)",
    "\($what) ratio hull/runc: \($hr | med | r2) (rounds \($hr | min | r2)-\($hr | max | r2))",
    "\($what) ratio hull/crun: \($hc | med | r2) (rounds \($hc | min | r2)-\($hc | max | r2))"' "$@"
}
report run "$work"/run-*.json
report lifecycle "$work"/life-*.json

