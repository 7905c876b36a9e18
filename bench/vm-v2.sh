#!/bin/sh
# hull against crun on pure cgroup v2: `run` and the create/start/delete lifecycle of a `true`
# container, timed inside the cgroup v2 VM lane (QEMU software emulation, systemd as PID 1; see
# tests/vm/run-cgroupv2.sh and tests/vm/bench-v2), and the ratios per round as bench/bench.sh
# prints them. Times under emulation are many times the host's: only the ratios compare.
# usage: bench/vm-v2.sh [ROUNDS [RUNS]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
VM_TESTS=none VM_BENCH=1 VM_BENCH_ROUNDS=${1:-3} VM_BENCH_RUNS=${2:-10} "$top/tests/vm/run-cgroupv2.sh" > /dev/null
log=$top/target/vm/cgroupv2.log
tr -d '\r' < "$log" | sed -n 's/^hull-vm-bench: crun /versions: crun /p'
# Lines: "hull-vm-bench: <run|life> <round> <command>,<mean>,<stddev>,<median>,..." (seconds).
tr -d '\r' < "$log" | awk '
    $1 == "hull-vm-bench:" && ($2 == "run" || $2 == "life") {
        split($4, f, ","); med[$2, $3, f[1]] = f[4]; if ($3 > rounds) rounds = $3
    }
    function sorted_mid(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return a[int((n + 1) / 2)]
    }
    END {
        split("run life", kinds, " ")
        for (k = 1; k <= 2; k++) {
            kind = kinds[k]; name = (kind == "run") ? "run" : "lifecycle"
            n = 0
            for (r = 1; r <= rounds; r++) {
                if (!((kind, r, "hull") in med) || !((kind, r, "crun") in med)) continue
                n++; h[n] = med[kind, r, "hull"] * 1000; c[n] = med[kind, r, "crun"] * 1000
                q[n] = h[n] / c[n]; lo = (n == 1 || q[n] < lo) ? q[n] : lo; hi = (n == 1 || q[n] > hi) ? q[n] : hi
            }
            if (n == 0) { print "no " name " figures in the log"; exit 1 }
            printf "v2 VM median %s time: hull %.1f ms, crun %.1f ms (%d rounds)\n", name, sorted_mid(h, n), sorted_mid(c, n), n
            printf "v2 VM %s ratio hull/crun: %.2f (rounds %.2f-%.2f)\n", name, sorted_mid(q, n), lo, hi
        }
    }'
