//! CVE-2021-30465: mount destinations redirected through symlinks in the image, including a
//! symlink swapped with a directory (by another container sharing the volume) while create runs.
//! A destination is resolved inside the container's root (openat2 RESOLVE_IN_ROOT) and mounted
//! through the descriptor it resolved to, so neither an absolute nor a `../..` symlink, nor a
//! swap after the lookup, can move a mount onto the host or into the container's procfs.

use crate::common::*;
use crate::support::*;
use serde_json::json;

/// Mount points in a mountinfo text.
fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo.lines().filter_map(|l| l.split(' ').nth(4)).map(String::from).collect()
}

#[test]
fn symlinked_destinations_stay_inside_the_rootfs() {
    let Some(t) = setup("cve_2021_30465_static") else { return };
    let host = t.dir("host-target");
    std::fs::write(host.join("untouched"), "host file").unwrap();
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    let h = host.to_str().unwrap();
    // The symlinks' target exists inside the image too, as an attacker's image would have it.
    std::fs::create_dir_all(rootfs.join(h.trim_start_matches('/'))).unwrap();
    std::os::unix::fs::symlink(h, rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink(format!("../../../../../../../..{h}"), rootfs.join("rel")).unwrap();
    for (i, dest) in ["/abs", "/rel/sub"].iter().enumerate() {
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [format!("size={}k", 64 + i)]}));
    }
    b.sh("cat /proc/self/mountinfo");
    let out = t.run(&b, &[]);
    out.assert_ok();
    // Inside the container both mounts sit at the host path's spelling, inside its own root.
    let points = mount_points(&out.stdout);
    assert!(points.contains(&h.to_string()), "no tmpfs at {h} inside the container:\n{}", out.stdout);
    assert!(points.contains(&format!("{h}/sub")), "no tmpfs at {h}/sub inside the container:\n{}", out.stdout);
    // On the host nothing happened to the directory the symlinks name.
    assert!(host_mounts_mentioning(&host).is_empty(), "a mount landed on the host: {:?}", host_mounts_mentioning(&host));
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1, "the host directory changed");
    t.finish();
}

/// A second container flips `a` (a directory) and `b` (a symlink to /proc/sys/net) in a shared
/// volume as fast as it can, while containers that mount a tmpfs at /vol/a are created: each
/// tmpfs lands in the volume, or the create is refused; never inside procfs.
#[test]
fn a_destination_swapped_during_create_never_lands_in_procfs() {
    let Some(t) = setup("cve_2021_30465_race") else { return };
    let vol = t.dir("vol");
    std::fs::create_dir(vol.join("a")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/net", vol.join("b")).unwrap();
    let vol_mount = json!({"destination": "/vol", "type": "bind", "source": vol.to_str().unwrap(), "options": ["rbind", "rw"]});
    let mut swapper = t.bundle();
    with_tools(&t, &mut swapper, &["swap"]);
    swapper.add_mount(vol_mount.clone());
    swapper.args(&["/tools/swap", "/vol", "a", "b"]);
    t.create_start(&swapper);

    let (mut landed_in_vol, mut refused) = (0, 0);
    for i in 0..30 {
        let id = t.id_with(&format!("victim{i}"));
        let mut b = t.bundle_for(&id);
        b.add_mount(vol_mount.clone());
        b.add_mount(json!({"destination": "/vol/a", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
        b.sh("cat /proc/self/mountinfo");
        let out = t.run(&b, &[]);
        let _ = t.rt(&["delete", "--force", &id]);
        if !out.ok() {
            assert!(out.stderr.contains("procfs"), "create failed for another reason:\n{}", out.show());
            refused += 1;
            continue;
        }
        let points = mount_points(&out.stdout);
        let in_proc: Vec<_> = points.iter().filter(|p| p.starts_with("/proc/sys/")).collect();
        assert!(in_proc.is_empty(), "a mount landed inside procfs: {in_proc:?}\n{}", out.stdout);
        landed_in_vol += points.iter().filter(|p| p.as_str() == "/vol/a" || p.as_str() == "/vol/b").count();
    }
    std::fs::write(vol.join("stop"), "").unwrap();
    eprintln!("30 creates: {landed_in_vol} tmpfs in the volume, {refused} refused (resolved into procfs)");
    assert_eq!(landed_in_vol + refused, 30, "every create must either mount in the volume or be refused");
    t.finish();
}
