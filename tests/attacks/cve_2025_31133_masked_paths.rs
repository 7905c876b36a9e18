//! CVE-2025-31133: masked paths are bind mounts of /dev/null; a /dev/null replaced by a symlink
//! (to /proc/sys/kernel/core_pattern, /proc/sysrq-trigger) between its creation and the masking
//! would make each masked path a writable copy of that file. Here /dev is a volume shared with an
//! attacker container that swaps `null` (the real device) with such a symlink as fast as it can
//! while victims are created: each victim must be refused, or have its masked files masked by
//! the null device itself.

use crate::common::*;
use crate::support::*;
use serde_json::json;

#[test]
fn dev_null_swapped_for_a_symlink_never_masks() {
    let Some(t) = setup("cve_2025_31133_dev_null") else { return };
    let dev = t.dir("shared-dev");
    for d in ["pts", "shm", "mqueue"] {
        std::fs::create_dir_all(dev.join(d)).unwrap();
    }
    let null = std::ffi::CString::new(dev.join("null").to_str().unwrap()).unwrap();
    // SAFETY: mknod reads the NUL-terminated path only.
    assert_eq!(unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) }, 0, "mknod null");
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("evil")).unwrap();

    let mut attacker = t.bundle();
    with_tools(&t, &mut attacker, &["swap"]);
    attacker.add_mount(json!({"destination": "/shared", "type": "bind", "source": dev.to_str().unwrap(), "options": ["rbind", "rw"]}));
    attacker.args(&["/tools/swap", "/shared", "null", "evil"]);
    t.create_start(&attacker);

    let (mut masked, mut refused) = (0, 0);
    for i in 0..30 {
        let id = t.id_with(&format!("victim{i}"));
        let mut b = t.bundle_for(&id);
        // /dev is the shared volume instead of a tmpfs of its own.
        let mounts = b.config["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev") {
            *m = json!({"destination": "/dev", "type": "bind", "source": dev.to_str().unwrap(), "options": ["rbind", "rw"]});
        }
        b.set("/linux/maskedPaths", json!(["/proc/timer_list", "/proc/keys"]));
        b.sh("stat -c '%n %F %t:%T' /proc/timer_list /proc/keys");
        let out = t.run(&b, &[]);
        let _ = t.rt(&["delete", "--force", &id]);
        if !out.ok() {
            assert!(out.stderr.contains("/dev/null"), "create failed for another reason:\n{}", out.show());
            refused += 1;
            continue;
        }
        for l in out.stdout.lines() {
            assert!(l.ends_with("character special file 1:3"), "a masked path is not the null device: {l}\n{}", out.show());
        }
        masked += 1;
    }
    std::fs::write(dev.join("stop"), "").unwrap();
    eprintln!("30 creates: {masked} masked with the null device, {refused} refused");
    t.finish();
}
