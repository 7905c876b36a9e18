#!/bin/sh
# crun-wrapper.sh: run crun on this hybrid cgroup host.
#
# crun 1.8 refuses hybrid hosts (cgroup v1 controllers plus cgroup2 at
# /sys/fs/cgroup/unified).  This wrapper runs it in a private mount namespace
# in which a small tmpfs hides /sys/fs/cgroup/unified, so crun drives the v1
# controllers (see ../shared/TESTING.md).  Mount propagation of everything else
# is left unchanged, so mounts made on the host still propagate into crun's
# namespace as they would for a runtime running directly on the host; only
# /sys/fs/cgroup is made private first, so that the hiding tmpfs can never
# propagate back to the host.  The namespace lives as long as the crun process.
#
# usage: crun-wrapper.sh [crun arguments...]     (CRUN=/path/to/crun to override)
CRUN=${CRUN:-/usr/bin/crun}
exec unshare --mount --propagation unchanged /bin/sh -c '
  mount --make-rprivate /sys/fs/cgroup &&
  mount -t tmpfs -o size=4k,mode=755 hide /sys/fs/cgroup/unified &&
  exec "$0" "$@"' "$CRUN" "$@"
