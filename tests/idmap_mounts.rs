//! Idmapped bind mounts (config.md `mounts[].uidMappings`/`gidMappings`, options `idmap` and
//! `ridmap`): ownership seen through the mount with and without a container user namespace, the
//! recursive variant on a submount, the errors config.md requires, and `features`.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};

/// A directory with `owned-by-0` and `owned-by-1000` (uid and gid).
fn source_dir(t: &Test, name: &str) -> PathBuf {
    let d = t.dir(name);
    for id in [0, 1000] {
        let f = d.join(format!("owned-by-{id}"));
        fs::write(&f, "x").unwrap();
        chown(&f, Some(id), Some(id)).unwrap();
    }
    d
}

/// Destinations are under a tmpfs at /mnt, so the shared test rootfs gets no new directories (and
/// a container root in a user namespace can create them).
fn scratch_mnt(b: &mut Bundle) {
    b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
}

fn bind(dest: &str, src: &Path, options: &[&str], maps: Option<Value>) -> Value {
    let mut m = json!({"destination": dest, "type": "bind", "source": src.to_str().unwrap(), "options": options});
    if let Some(maps) = maps {
        m["uidMappings"] = maps.clone();
        m["gidMappings"] = maps;
    }
    m
}

/// 0 <-> 1000: on-disk id 0 shows as 1000 and 1000 as 0.
fn swap() -> Value {
    json!([{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1000, "hostID": 0, "size": 1}])
}

fn userns(b: &mut Bundle) {
    b.add_namespace(json!({"type": "user"}));
    b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
}

#[test]
fn mappings_without_user_namespace() {
    let Some(t) = setup("idmap_plain") else { return };
    let src = source_dir(&t, "src");
    let mut b = t.bundle();
    scratch_mnt(&mut b);
    b.add_mount(bind("/mnt/m", &src, &["bind", "idmap"], Some(swap())));
    b.add_mount(bind("/mnt/plain", &src, &["bind"], None));
    b.sh("stat -c '%n=%u:%g' /mnt/m/owned-by-0 /mnt/m/owned-by-1000 /mnt/plain/owned-by-0");
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "/mnt/m/owned-by-0"), "1000:1000", "{out}");
    assert_eq!(kv(&out, "/mnt/m/owned-by-1000"), "0:0", "{out}");
    assert_eq!(kv(&out, "/mnt/plain/owned-by-0"), "0:0", "the source itself is unchanged\n{out}");
    t.finish();
}

/// With a container user namespace (0 -> 100000): `idmap` without mappings uses the container's
/// mapping, so the on-disk owners show unchanged inside; explicit mappings still win; an
/// unmapped bind shows the overflow id.
#[test]
fn with_container_user_namespace() {
    let Some(t) = setup("idmap_userns") else { return };
    let src = source_dir(&t, "src");
    let mut b = t.bundle();
    userns(&mut b);
    scratch_mnt(&mut b);
    b.add_mount(bind("/mnt/m", &src, &["bind", "idmap"], None));
    // On-disk 0 -> host 101000 -> 1000 in the container.
    b.add_mount(bind("/mnt/explicit", &src, &["bind", "idmap"], Some(json!([{"containerID": 0, "hostID": 101000, "size": 1}]))));
    b.add_mount(bind("/mnt/plain", &src, &["bind"], None));
    b.sh("stat -c '%n=%u:%g' /mnt/m/owned-by-0 /mnt/m/owned-by-1000 /mnt/explicit/owned-by-0 /mnt/plain/owned-by-1000; \
          touch /mnt/m/new && stat -c 'new=%u' /mnt/m/new");
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "/mnt/m/owned-by-0"), "0:0", "{out}");
    assert_eq!(kv(&out, "/mnt/m/owned-by-1000"), "1000:1000", "{out}");
    assert_eq!(kv(&out, "/mnt/explicit/owned-by-0"), "1000:1000", "{out}");
    assert_eq!(kv(&out, "/mnt/plain/owned-by-1000"), "65534:65534", "{out}");
    // The container's root writes through the mapping as on-disk root.
    assert_eq!(kv(&out, "new"), "0", "{out}");
    let meta = fs::metadata(src.join("new")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0, "a file the container's root created");
    t.finish();
}

/// `ridmap` idmaps the submounts of an rbind too; `idmap` only the top mount.
#[test]
fn ridmap_reaches_submounts() {
    let Some(t) = setup("idmap_ridmap") else { return };
    let src = source_dir(&t, "src");
    let _sub = HostTmpfs::mount(&src.join("sub"));
    fs::write(src.join("sub/f"), "x").unwrap();
    let mut b = t.bundle();
    scratch_mnt(&mut b);
    b.add_mount(bind("/mnt/r", &src, &["rbind", "ridmap"], Some(swap())));
    b.add_mount(bind("/mnt/i", &src, &["rbind", "idmap"], Some(swap())));
    b.sh("stat -c '%n=%u' /mnt/r/owned-by-0 /mnt/r/sub/f /mnt/i/owned-by-0 /mnt/i/sub/f");
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "/mnt/r/owned-by-0"), "1000", "{out}");
    assert_eq!(kv(&out, "/mnt/r/sub/f"), "1000", "ridmap must reach the submount\n{out}");
    assert_eq!(kv(&out, "/mnt/i/owned-by-0"), "1000", "{out}");
    assert_eq!(kv(&out, "/mnt/i/sub/f"), "0", "idmap leaves the submount alone\n{out}");
    drop(_sub);
    t.finish();
}

#[test]
fn bad_idmapped_mounts_are_errors() {
    let Some(t) = setup("idmap_bad") else { return };
    let src = source_dir(&t, "src");
    let only_uid = {
        let mut m = bind("/mnt", &src, &["bind", "idmap"], None);
        m["uidMappings"] = swap();
        m
    };
    let cases: Vec<(&str, Value, bool, &str)> = vec![
        ("uid-only", only_uid, false, "mounts[1].gidMappings"),
        ("no-maps-no-userns", bind("/mnt", &src, &["bind", "idmap"], None), false, "mounts[1].options"),
        ("tmpfs", json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                         "uidMappings": swap(), "gidMappings": swap()}), false, "mounts[1]"),
        // procfs cannot be idmapped: the kernel's refusal, named.
        ("proc", bind("/mnt", Path::new("/proc"), &["bind", "idmap"], Some(swap())), false, "does not support idmapped mounts"),
        ("proc-userns", bind("/mnt", Path::new("/proc"), &["bind", "idmap"], None), true, "mounts[1]: idmapped mount of \"/proc\""),
    ];
    for (name, m, with_userns, needle) in cases {
        let id = t.id_with(name);
        let mut b = t.bundle_for(&id);
        if with_userns {
            userns(&mut b);
        }
        b.set("/mounts", json!([{"destination": "/proc", "type": "proc", "source": "proc"}, m]));
        let out = t.try_create(&b, &[]);
        out.assert_err(needle);
        t.assert_gone(&id);
    }
    t.finish();
}

#[test]
fn features_report_idmap() {
    let Some(t) = setup("idmap_features") else { return };
    let out = t.rt_raw(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true, "{f}");
    let opts = f["mountOptions"].as_array().unwrap();
    assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")), "{opts:?}");
    t.finish();
}
