//! CVE-2025-52881: the runtime's writes to procfs redirected. A volume mounted through a symlink
//! in the image (`/netdir -> /proc/sys/net`) would cover part of /proc/sys with files the attacker
//! controls; the runtime's sysctl write for `net.ipv4.ip_forward` would then follow a planted
//! symlink to any proc file (here the container's own kernel/hostname, so that a vulnerable
//! runtime harms nothing but the test; `kernel/core_pattern` would be the real target).
//! Config mounts may not land inside procfs (but the files lxcfs overmounts), and sysctls are
//! opened from a checked procfs without following symlinks or crossing mounts.

use crate::common::*;
use serde_json::json;

#[test]
fn a_volume_through_a_symlink_cannot_cover_proc_sys() {
    let Some(t) = setup("cve_2025_52881_sysctl") else { return };
    let vol = t.dir("vol");
    std::fs::create_dir(vol.join("ipv4")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/hostname", vol.join("ipv4/ip_forward")).unwrap();
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    std::os::unix::fs::symlink("/proc/sys/net", rootfs.join("netdir")).unwrap();
    b.add_mount(json!({"destination": "/netdir", "type": "bind", "source": vol.to_str().unwrap(), "options": ["rbind", "rw"]}));
    b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
    b.sh("echo hostname=$(hostname)");
    let out = t.run(&b, &[]);
    if out.ok() {
        assert_eq!(kv(&out.stdout, "hostname"), "hull", "the sysctl write was redirected to kernel/hostname\n{}", out.show());
    } else {
        out.assert_err("resolves inside procfs");
        assert!(out.stderr.contains("mounts[7]"), "the error must name the mount\n{}", out.show());
    }
    t.finish();
}

/// A tmpfs over a procfs file through a symlink is refused the same way, naming the mount.
#[test]
fn no_config_mount_lands_inside_procfs() {
    let Some(t) = setup("cve_2025_52881_mount") else { return };
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    std::os::unix::fs::symlink("/proc/sys/kernel", rootfs.join("k")).unwrap();
    b.add_mount(json!({"destination": "/k", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
    b.sh("true");
    t.run(&b, &[]).assert_err("mounts[7]: destination \"/k\" resolves inside procfs");
    t.finish();
}
