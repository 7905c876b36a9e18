#!/bin/bash
# Run the client lanes one after the other and sum them up. `make test-clients` runs this under
# `tini -s` (a subreaper that reaps orphaned shims and container inits at once).
#   HULL_CLIENTS_LANES="containerd docker podman podman-rootless cri"   lanes to run (default: all)
#   HULL_CLIENTS_RUNTIME=/usr/sbin/runc                  run the same scenarios against runc
# Other settings: see lib.sh.
set -u
cd "$(dirname "$0")" || exit 1
LANES=${HULL_CLIENTS_LANES:-containerd docker podman podman-rootless cri}

missing=()
for b in containerd ctr containerd-shim-runc-v2 dockerd /usr/bin/docker podman conmon script jq tini \
         protoc /usr/bin/python3 /usr/sbin/runc; do
    command -v "$b" > /dev/null || missing+=("$b")
done
if [ "${#missing[@]}" != 0 ]; then
    echo "Bail out! missing: ${missing[*]}"
    echo "# apt-get install -y --no-install-recommends containerd docker.io podman conmon jq tini runc busybox-static protobuf-compiler python3-grpcio python3-protobuf"
    exit 1
fi

passed=0 failed=0 summary=()
t_all=$(date +%s)
for lane in $LANES; do
    t0=$(date +%s)
    out=$(mktemp)
    ./"$lane".sh 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    t=$(( $(date +%s) - t0 ))
    p=$(grep -c '^ok - ' "$out"); f=$(grep -c '^not ok - ' "$out")
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1   # a lane that bailed out
    passed=$((passed + p)); failed=$((failed + f))
    summary+=("$(printf '%-11s %3d passed %3d failed %4ds' "$lane" "$p" "$f" "$t")")
    summary+=("$(grep '^# timing: ' "$out" | sed 's/^# timing: /    /')")
    rm -f "$out"
done
echo "# ---- client lanes ($(basename "${HULL_CLIENTS_RUNTIME:-hull}"), $(( $(date +%s) - t_all ))s)"
for s in "${summary[@]}"; do [ -n "$s" ] && printf '# %s\n' "$s"; done
echo "clients: $passed passed, $failed failed"
[ "$failed" = 0 ]
