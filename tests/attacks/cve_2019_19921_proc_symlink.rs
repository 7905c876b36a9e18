//! CVE-2019-19921: an image whose /proc (or /sys) is a symlink moves procfs (sysfs) to where the
//! symlink points, out of the place an LSM policy written for /proc protects. The runtime must
//! refuse to mount procfs or sysfs anywhere but on a directory reached without symlinks.

use crate::common::*;

fn attempt(name: &str, dir: &str, fs: &str) {
    let Some(t) = setup(name) else { return };
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    // The symlink's target exists, so following it would succeed.
    std::fs::create_dir_all(rootfs.join("elsewhere")).unwrap();
    std::fs::remove_dir_all(rootfs.join(dir)).unwrap();
    std::os::unix::fs::symlink("/elsewhere", rootfs.join(dir)).unwrap();
    b.sh("grep -E ' /elsewhere ' /proc/self/mountinfo; true");
    let out = t.run(&b, &[]);
    assert!(!out.stdout.contains(" /elsewhere "), "{fs} was mounted at the symlink's target\n{}", out.show());
    out.assert_err(&format!("\"/{dir}\" in the rootfs is a symlink (or lies behind one); {fs} must be mounted on a directory"));
    t.finish();
}

#[test]
fn proc_symlink_is_refused() {
    attempt("cve_2019_19921_proc", "proc", "procfs");
}

#[test]
fn sys_symlink_is_refused() {
    attempt("cve_2019_19921_sys", "sys", "sysfs");
}
