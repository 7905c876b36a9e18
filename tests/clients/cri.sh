#!/bin/bash
# Lane: Kubernetes CRI through containerd's CRI plugin, hull as the runtime handler `hull`
# (runc v2 shim with BinaryName), driven by a small Python gRPC client (cri/cri_test.py).
# Usage: tests/clients/cri.sh   (as root; see README.md)
LANE=cri
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3   # Debian's python, which sees python3-grpcio and python3-protobuf
lane_setup
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null && command -v protoc > /dev/null ||
    die "needs the Debian packages python3-grpcio python3-protobuf protobuf-compiler"
build_rootfs

# Python bindings of the CRI proto (k8s.io/cri-api v1, as shipped by the k8s-cri crate).
mkdir -p "$WORK/py"
protoc -I "$CLIENTS_DIR/cri" --python_out="$WORK/py" "$CLIENTS_DIR/cri/api.proto" || die "protoc failed"
# Images from the busybox rootfs: the workload image and a pause image (pid 1 sleeps).
"$PY" "$CLIENTS_DIR/cri/mkimage.py" "$WORK/rootfs.tar" "$WORK/images.tar" \
    'localhost/bb:latest=[]=["/bin/sh"]' 'localhost/pause:latest=["/bin/sleep","2147483647"]=[]' ||
    die "mkimage.py failed"

# The CRI plugin with a runtime handler `hull`: runc v2 shim, BinaryName = hull (through the
# argv-logging wrapper), a private runtime root. No CNI: pods use the host network (and so no
# hostname, no netns). restrict_oom_score_adj: the sandbox asks for -998, which needs
# CAP_SYS_RESOURCE.
RUNTIME_ROOT=$WORK/runtime-root
CONTAINERD_CRI=1 start_containerd "
[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = \"localhost/pause:latest\"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    snapshotter = \"overlayfs\"
    default_runtime_name = \"hull\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.hull]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.hull.options]
        BinaryName = \"$WRAPPER\"
        Root = \"$RUNTIME_ROOT\"
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = \"$WORK/cni/bin\"
    conf_dir = \"$WORK/cni/net.d\"
"
x ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$WORK/images.tar"
[ "$RC" = 0 ] || die "ctr images import failed"

export CRI_SOCK=$CONTAINERD_SOCK CRI_PY=$WORK/py CRI_HANDLER=hull CG_PARENT CRI_WORK=$WORK \
    RUNTIME_LOG RUNTIME_ROOT CRI_TIMEOUT=$TIMEOUT
lane_cleanup() { timeout 120 "$PY" "$CLIENTS_DIR/cri/cri_test.py" cleanup; }

timeout -k 5 600 "$PY" "$CLIENTS_DIR/cri/cri_test.py" test | tee "$WORK/cri.out"
[ "${PIPESTATUS[0]}" = 124 ] && { FAILED=$((FAILED + 1)); echo "not ok - cri client timed out"; }
PASSED=$((PASSED + $(grep -c '^ok - ' "$WORK/cri.out")))
FAILED=$((FAILED + $(grep -c '^not ok - ' "$WORK/cri.out")))
grep -q '^ok - \|^not ok - ' "$WORK/cri.out" || { FAILED=$((FAILED + 1)); echo "not ok - cri client ran no scenario"; }
lane_finish
