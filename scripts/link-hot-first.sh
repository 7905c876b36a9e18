#!/bin/sh
# The linker for hull's binary (.cargo/config.toml): cc, with the functions that run on every
# container's path placed first in .text, in the order of bench/hot-functions.txt. They are
# scattered over the whole binary otherwise, and the kernel maps code 64 KB around each page
# fault: `run` mapped 3.2 MB of its 4.3 MB of code while running about 1 MB of it, and that is
# most of its peak RSS (docs/benchmarks.md). The list holds demangled names without the crates'
# hashes (v0 mangling, so generic instantiations stay apart); they are matched here against the
# symbols of the objects being linked. The ordering needs lld (--symbol-ordering-file): the copy
# rustup ships with the toolchain (its gcc-ld directory). Other outputs, and hosts without nm,
# c++filt or that lld, are linked as they are.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/bench/hot-functions.txt"
out=""
prev=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out=$a
  prev=$a
done
case "$(basename "$out")" in
  hull|hull-*) ;;
  *) exec cc "$@" ;;
esac
gccld="$(rustc --print sysroot 2> /dev/null)/lib/rustlib/$(rustc -vV 2> /dev/null | sed -n 's/^host: //p')/bin/gcc-ld"
if [ ! -r "$list" ] || ! command -v nm > /dev/null || ! command -v c++filt > /dev/null || [ ! -x "$gccld/ld.lld" ]; then
  exec cc "$@"
fi
tmp=$(mktemp -d)
objs=""
for a in "$@"; do
  case $a in *.o) objs="$objs $a" ;; esac
done
: > "$tmp/mangled"
if [ -n "$objs" ]; then
  # shellcheck disable=SC2086 # one word per object
  nm --defined-only -j $objs 2> /dev/null | sort -u > "$tmp/mangled"
fi
c++filt --format=rust < "$tmp/mangled" | sed -E 's/\[[0-9a-f]+\]//g' > "$tmp/demangled"
# Each listed name at its place in the list: Rust functions as the objects' mangled names, C
# functions (musl's, in libc.a rather than the objects) under their own names.
paste "$tmp/mangled" "$tmp/demangled" | awk -F'\t' 'NR == FNR { if (!($0 in want)) want[$0] = NR; if ($0 !~ /::/) print NR "\t" $0; next }
    ($2 in want) { print want[$2] "\t" $1 }' "$list" - | sort -n -s -k1,1 | cut -f2 | awk '!seen[$0]++' > "$tmp/order"
cc "$@" -B"$gccld" -fuse-ld=lld -Wl,--symbol-ordering-file="$tmp/order" -Wl,--no-warn-symbol-ordering
rc=$?
rm -rf "$tmp"
exit $rc
