#!/bin/bash
# The verbs beyond run and the lifecycle (bench/bench.sh times those), for hull, runc and crun in
# the same run, all in one private mount namespace (crun 1.8 needs the hybrid host's cgroup2
# mount hidden, see TESTING.md):
#   - exec of `true` into a running container (hyperfine);
#   - state and list with N containers present, and the delete of each of them;
#   - throughput: 100 `run`s, 4 at a time, in containers per second (median of fifteen rounds, and
#     the median of the rounds' own ratios);
#   - peak RSS of `run` and of `create` (GNU time, the runtime and what it waited for);
#   - user and system CPU of `run` (hyperfine);
#   - binary size;
#   - instructions executed (valgrind's callgrind) by hull's verbs that callgrind can follow:
#     state of a missing container, state of a created one, list, spec, features. Noise cannot
#     move these; create/run/exec cannot be counted (valgrind lacks fsopen and clone3 with
#     namespaces).
# Writes key=value lines to OUT (read by bench/report.sh).
# usage: bench/suite.sh HULL_BINARY OUT [N_CONTAINERS]
set -eu
hull=$(realpath "${1:?usage: suite.sh HULL_BINARY OUT [N]}")
out=$(realpath -m "${2:?usage: suite.sh HULL_BINARY OUT [N]}")
n=${3:-1000}
tp_rounds=15
tp_median=$(( (tp_rounds + 1) / 2 ))
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/hull-bench-suite.XXXXXX)
# Containers a stopped run left behind go first, and at the end.
cleanup() {
  for rt in hull runc crun; do
    bin=$rt; [ "$rt" = hull ] && bin=$hull
    for id in $("$bin" --root "/run/hull-bench-$rt" list -q 2> /dev/null); do
      "$bin" --root "/run/hull-bench-$rt" delete --force "$id" > /dev/null 2>&1 || true
    done
    rm -rf "/run/hull-bench-$rt"
  done
  for d in /sys/fs/cgroup/*/hull-bench; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  true
}
cleanup
trap 'cleanup; rm -rf "$work"' EXIT
rootfs="$top/bundles/busybox/rootfs"
[ -x "$rootfs/bin/busybox" ] || "$top/bundles/build-rootfs.sh" "$rootfs"
for rt in hull runc crun; do
  for kind in true sleep; do
    mkdir -p "$work/$rt-$kind"
    args='["true"]'; [ "$kind" = sleep ] && args='["sleep","100000"]'
    jq --arg root "$rootfs" --arg cg "/hull-bench/$rt-$kind" --argjson args "$args" '
        .ociVersion = "1.0.2" | .root.path = $root | .root.readonly = true | .process.args = $args |
        .process.terminal = false | .linux.cgroupsPath = $cg | del(.hostname) |
        .linux.namespaces |= map(select(.type != "uts"))' \
      "$top/bundles/busybox/config.json" > "$work/$rt-$kind/config.json"
  done
done
# The N containers of the state/list figures and the 100 of the throughput figure: a bundle
# each, for a cgroup each under the prefix (containers alive at the same time do not share one).
for rt in hull runc crun; do
  jq '.linux.cgroupsPath = "@CG@"' "$work/$rt-sleep/config.json" > "$work/$rt-sleep.tmpl"
  jq '.linux.cgroupsPath = "@CG@"' "$work/$rt-true/config.json" > "$work/$rt-true.tmpl"
  for i in $(seq "$n"); do
    mkdir -p "$work/$rt-many/$i"
    sed "s|@CG@|/hull-bench/$rt-many/$i|" "$work/$rt-sleep.tmpl" > "$work/$rt-many/$i/config.json"
  done
  for i in $(seq 100); do
    mkdir -p "$work/$rt-tp/$i"
    sed "s|@CG@|/hull-bench/$rt-tp/$i|" "$work/$rt-true.tmpl" > "$work/$rt-tp/$i/config.json"
  done
done

cat > "$work/inner.sh" <<EOF
set -eu
# Big enough for what crun writes into it for 1,000 containers (a file is a page).
mount -t tmpfs -o size=64m hide /sys/fs/cgroup/unified
# Every container's parent cgroup exists beforehand, as a container manager's does (see
# bench.sh): runc and crun leave parents they made, hull removes the levels it made.
for h in /sys/fs/cgroup/*/; do
  [ -e "\${h}cgroup.procs" ] || continue
  for rt in hull runc crun; do mkdir -p "\${h}hull-bench/\$rt-many" "\${h}hull-bench/\$rt-tp"; done
done
say() { echo "\$1=\$2" >> "$out"; }
bin() { if [ "\$1" = hull ]; then echo "$hull"; else echo "\$1"; fi; }
hf() { hyperfine -N --warmup 3 --runs "\$1" --export-json "$work/hf.json" "\$2" > /dev/null 2>> "$work/hyperfine.err"; }
: > "$out"
say machine "\$(nproc) cores, kernel \$(uname -r), cgroup v1 hybrid (cgroup2 mount hidden for crun)"
for rt in hull runc crun; do
  b=\$(bin \$rt); r="\$b --root /run/hull-bench-\$rt"
  say "size.\$rt" "\$(stat -L -c %s \$(command -v \$b))"
  # run: CPU from hyperfine, peak RSS from GNU time (median of 9).
  hf 30 "\$r run --bundle $work/\$rt-true run-\$rt"
  say "run.user_ms.\$rt" "\$(jq '.results[0].user * 1000 | . * 100 | round / 100' $work/hf.json)"
  say "run.system_ms.\$rt" "\$(jq '.results[0].system * 1000 | . * 100 | round / 100' $work/hf.json)"
  for verb in run create; do
    for i in \$(seq 9); do
      if [ \$verb = run ]; then
        /usr/bin/time -f %M -o "$work/rss" \$r run --bundle $work/\$rt-true rss-\$rt > /dev/null
      else
        /usr/bin/time -f %M -o "$work/rss" \$r create --bundle $work/\$rt-sleep rss-\$rt > /dev/null
        \$r delete --force rss-\$rt
      fi
      tail -1 "$work/rss"
    done | sort -n | sed -n 5p > "$work/rss.med"
    say "rss_kb.\$verb.\$rt" "\$(cat $work/rss.med)"
  done
  # exec into a running container.
  \$r run -d --bundle $work/\$rt-sleep ex-\$rt > /dev/null
  hf 30 "\$r exec ex-\$rt true"
  say "exec_ms.\$rt" "\$(jq '.results[0].median * 1000 | . * 100 | round / 100' $work/hf.json)"
  \$r delete --force ex-\$rt
  # state and list with $n containers present (created, each in its own default cgroup).
  for i in \$(seq $n); do \$r create --bundle $work/\$rt-many/\$i m-\$i > /dev/null; done
  hf 20 "\$r state m-1"
  say "state_ms_$n.\$rt" "\$(jq '.results[0].median * 1000 | . * 100 | round / 100' $work/hf.json)"
  hf 10 "\$r list"
  say "list_ms_$n.\$rt" "\$(jq '.results[0].median * 1000 | . * 100 | round / 100' $work/hf.json)"
  t0=\$(date +%s.%N)
  for i in \$(seq $n); do \$r delete --force m-\$i; done
  t1=\$(date +%s.%N)
  say "delete_ms.\$rt" "\$(awk -v a=\$t0 -v b=\$t1 'BEGIN { printf "%.2f", (b - a) * 1000 / $n }')"
  rm -rf /run/hull-bench-\$rt
done
# throughput: 100 runs, 4 at a time, in fifteen rounds; the runtimes' order goes through the six
# permutations in turn, so that each runs about as often before as after each other one. Each
# batch starts a second after the last one ended, so that the kernel's deferred clean-up of one
# runtime's containers (network namespaces, cgroups) is not billed to the next. Reported: the
# median round of each runtime, and the median of the rounds' own hull/crun and hull/runc ratios
# (the two runtimes of a round ran within seconds of each other, so a slow minute of the machine
# moves both). A single round's ratio moves by 10-15 % on these shared VMs: fifteen rounds (nine
# before) keep the medians within a few percent.
orders=("hull runc crun" "crun runc hull" "runc crun hull" "hull crun runc" "crun hull runc" "runc hull crun")
for round in \$(seq $tp_rounds); do
  for rt in \${orders[\$(( (round - 1) % 6 ))]}; do
    r="\$(bin \$rt) --root /run/hull-bench-\$rt"
    sleep 1
    t0=\$(date +%s.%N)
    seq 100 | xargs -P 4 -I{} \$r run --bundle $work/\$rt-tp/{} tp-\$rt-{} > /dev/null
    t1=\$(date +%s.%N)
    awk -v a=\$t0 -v b=\$t1 'BEGIN { printf "%.1f\\n", 100 / (b - a) }' >> "$work/tp.\$rt"
  done
done
for rt in runc crun; do
  say "throughput_ratio_rounds.\$rt" "\$(paste -d' ' $work/tp.hull $work/tp.\$rt | awk '{ printf "%s%.2f", (NR > 1 ? "/" : ""), \$1 / \$2 }')"
  say "throughput_ratio_median.\$rt" "\$(paste -d' ' $work/tp.hull $work/tp.\$rt | awk '{ printf "%.2f\\n", \$1 / \$2 }' | sort -n | sed -n ${tp_median}p)"
done
for rt in hull runc crun; do
  say "throughput_per_s.\$rt" "\$(sort -n $work/tp.\$rt | sed -n ${tp_median}p)"
  say "throughput_rounds.\$rt" "\$(paste -sd/ $work/tp.\$rt)"
  rm -rf /run/hull-bench-\$rt
done
EOF
unshare --mount --propagation private bash "$work/inner.sh" || { cat "$work/hyperfine.err" 2>/dev/null; exit 1; }

# Instructions (callgrind), hull only: the figures the CI gate compares with bench/instructions.txt.
"$here/instructions.sh" "$hull" >> "$out"
