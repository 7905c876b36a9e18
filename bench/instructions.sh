#!/bin/bash
# Instructions executed by hull's verbs that valgrind's callgrind can follow (create, run and exec
# cannot be: valgrind has no fsopen for the sealed binary, nor clone3 with namespaces). Noise
# cannot move these figures, so they compare builds exactly.
#   bench/instructions.sh HULL              print instr.<verb>=N lines
#   bench/instructions.sh HULL --check FILE  fail when a verb runs more than 10 % above FILE's figure
# A change that earns a slower path updates bench/instructions.txt, and its commit says why.
set -eu
hull=$(realpath "${1:?usage: instructions.sh HULL [--check FILE]}")
work=$(mktemp -d /tmp/hull-instr.XXXXXX)
root=/run/hull-instr-$$
cleanup() { "$hull" --root "$root" delete --force instr-c > /dev/null 2>&1 || true; rm -rf "$work" "$root"; }
trap cleanup EXIT
here=$(cd "$(dirname "$0")" && pwd)
rootfs="$(dirname "$here")/bundles/busybox/rootfs"
[ -x "$rootfs/bin/busybox" ] || "$(dirname "$here")/bundles/build-rootfs.sh" "$rootfs" > /dev/null
mkdir -p "$work/b" "$work/spec"
jq --arg root "$rootfs" '.root.path = $root | .process.terminal = false | .process.args = ["sleep", "100"] |
    .linux.cgroupsPath = "/hull-bench/instr"' "$(dirname "$here")/bundles/busybox/config.json" > "$work/b/config.json"
"$hull" --root "$root" create --bundle "$work/b" instr-c
count() { # count NAME ARGS...: instructions of `hull ARGS` (callgrind's "Collected" total)
  local name=$1; shift
  (cd "$work/spec" && valgrind --tool=callgrind --callgrind-out-file=/dev/null "$hull" "$@" > /dev/null 2> "$work/vg.err") || true
  local n; n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/vg.err")
  [ -n "$n" ] || { cat "$work/vg.err" >&2; echo "instructions.sh: no count for $name" >&2; exit 1; }
  echo "instr.$name=$n"
  rm -f "$work/spec/config.json"
}
{
  count state-missing --root "$root" state no-such-container
  count state --root "$root" state instr-c
  count list --root "$root" list
  count spec spec
  count features features
} > "$work/counts"
if [ "${2:-}" != --check ]; then cat "$work/counts"; exit 0; fi
want=${3:?--check needs the file of recorded figures}
fail=0
while IFS='=' read -r key n; do
  rec=$(sed -n "s/^$key=//p" "$want")
  [ -n "$rec" ] || { echo "$key: $n (no recorded figure in $want)"; fail=1; continue; }
  verdict=$(awk -v n="$n" -v r="$rec" 'BEGIN { printf "%+.1f %%", (n - r) * 100 / r; exit (n > r * 1.10) }') && ok=1 || ok=0
  echo "$key: $n instructions, recorded $rec ($verdict)"
  [ "$ok" = 1 ] || { echo "  more than 10 % above the recorded figure: make it faster, or update $want and say why in the commit"; fail=1; }
done < "$work/counts"
exit $fail
