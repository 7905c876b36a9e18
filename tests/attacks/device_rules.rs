//! Device nodes beyond the device rules: a container given CAP_MKNOD makes nodes for the host's
//! disk, /dev/mem and /dev/kmsg in its /dev (kmsg is the one that nothing but the device rules
//! keeps closed: opening it for writing needs no capability). It may create them (the node is only a name), but the
//! device cgroup (v1 devices.deny, v2 the eBPF filter) must refuse every open; the devices the
//! rules allow keep working, so the test is not refused for another reason.

use crate::common::*;
use crate::support::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn nodes_made_in_the_container_cannot_be_opened() {
    let Some(t) = setup("device_rules_mknod") else { return };
    let disk = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = (libc::major(disk), libc::minor(disk));
    let mut b = t.bundle();
    add_caps(&mut b, &["CAP_MKNOD"]);
    b.sh(&format!(
        "mknod /dev/hostdisk b {major} {minor} && echo made-disk; \
         mknod /dev/hostmem c 1 1 && echo made-mem; \
         mknod /dev/hostkmsg c 1 11 && echo made-kmsg; \
         (: > /dev/hostkmsg) 2>/dev/null && echo OPENED-KMSG; \
         head -c 1 /dev/hostdisk >/dev/null 2>&1 && echo OPENED-DISK; \
         head -c 1 /dev/hostmem >/dev/null 2>&1 && echo OPENED-MEM; \
         echo x > /dev/hostdisk 2>/dev/null && echo WROTE-DISK; \
         head -c 1 /dev/zero | wc -c | sed 's/^/zero=/'; echo null-ok > /dev/null && echo null=ok"
    ));
    let out = t.run_ok(&b);
    assert!(out.contains("made-disk") && out.contains("made-mem") && out.contains("made-kmsg"), "mknod itself should work with CAP_MKNOD:\n{out}");
    assert!(!out.contains("OPENED") && !out.contains("WROTE"), "a device outside the rules was opened:\n{out}");
    assert!(out.contains("zero=1") && out.contains("null=ok"), "allowed devices must still work:\n{out}");
    t.finish();
}
