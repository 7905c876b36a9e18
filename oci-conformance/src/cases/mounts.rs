//! config.md mounts and Linux mount options; config-linux idmapped mounts.

use super::*;
use crate::suite::{c, mdesc, mopt, moptional, msuper, Report};
use serde_json::json;
use std::fs;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "mounts",
            cases: vec![
                c(
                    "order",
                    "config#mounts",
                    "mounts are mounted in the listed order (nested and repeated destinations)",
                ),
                c(
                    "type",
                    "config#posix-platform-mounts",
                    "type selects the filesystem (tmpfs)",
                ),
                c(
                    "relative-dest",
                    "config#mounts",
                    "a relative destination is interpreted relative to /",
                ),
                c(
                    "bind-abs",
                    "config#mounts",
                    "a bind mount with an absolute source path",
                ),
                c(
                    "bind-rel",
                    "config#mounts",
                    "a bind mount source relative to the bundle",
                ),
                c(
                    "bind-nonrec",
                    "config#linux-mount-options",
                    "bind does not carry submounts of the source",
                ),
                c(
                    "rbind",
                    "config#linux-mount-options",
                    "rbind carries submounts of the source",
                ),
                c(
                    "data",
                    "config#linux-mount-options",
                    "unknown options are passed as filesystem data (tmpfs mode=, size=)",
                ),
            ],
            run: mounts,
        },
        Group {
            name: "mount-options",
            cases: vec![
                c(
                    "ro",
                    "config#linux-mount-options",
                    "option ro makes the mount read-only",
                ),
                c(
                    "rw",
                    "config#linux-mount-options",
                    "option rw (after ro) makes the mount read-write",
                ),
                c(
                    "nosuid",
                    "config#linux-mount-options",
                    "option nosuid is applied",
                ),
                c(
                    "suid",
                    "config#linux-mount-options",
                    "option suid (after nosuid) clears nosuid",
                ),
                c(
                    "nodev",
                    "config#linux-mount-options",
                    "option nodev is applied",
                ),
                c(
                    "dev",
                    "config#linux-mount-options",
                    "option dev (after nodev) clears nodev",
                ),
                c(
                    "noexec",
                    "config#linux-mount-options",
                    "option noexec is applied",
                ),
                c(
                    "exec",
                    "config#linux-mount-options",
                    "option exec (after noexec) clears noexec",
                ),
                c(
                    "noexec-effect",
                    "config#linux-mount-options",
                    "noexec prevents executing a program from the mount",
                ),
                c(
                    "noatime",
                    "config#linux-mount-options",
                    "option noatime is applied",
                ),
                c(
                    "atime",
                    "config#linux-mount-options",
                    "option atime (after noatime) clears noatime",
                ),
                c(
                    "relatime",
                    "config#linux-mount-options",
                    "option relatime is applied",
                ),
                c(
                    "strictatime",
                    "config#linux-mount-options",
                    "option strictatime is applied (neither noatime nor relatime)",
                ),
                c(
                    "nostrictatime",
                    "config#linux-mount-options",
                    "option nostrictatime (after strictatime) restores the default (relatime)",
                ),
                c(
                    "norelatime",
                    "config#linux-mount-options",
                    "option norelatime is accepted",
                ),
                c(
                    "nodiratime",
                    "config#linux-mount-options",
                    "option nodiratime is applied",
                ),
                c(
                    "diratime",
                    "config#linux-mount-options",
                    "option diratime (after nodiratime) clears nodiratime",
                ),
                c(
                    "sync",
                    "config#linux-mount-options",
                    "option sync is applied",
                ),
                c(
                    "async",
                    "config#linux-mount-options",
                    "option async (after sync) clears sync",
                ),
                c(
                    "dirsync",
                    "config#linux-mount-options",
                    "option dirsync is applied",
                ),
                c(
                    "lazytime",
                    "config#linux-mount-options",
                    "option lazytime is applied",
                ),
                c(
                    "nolazytime",
                    "config#linux-mount-options",
                    "option nolazytime (after lazytime) clears lazytime",
                ),
                c(
                    "iversion",
                    "config#linux-mount-options",
                    "option iversion is accepted",
                ),
                c(
                    "noiversion",
                    "config#linux-mount-options",
                    "option noiversion is accepted",
                ),
                c(
                    "loud",
                    "config#linux-mount-options",
                    "option loud is accepted",
                ),
                c(
                    "silent",
                    "config#linux-mount-options",
                    "option silent is accepted",
                ),
                c(
                    "defaults",
                    "config#linux-mount-options",
                    "option defaults gives a rw, suid, dev, exec mount",
                ),
                c(
                    "remount",
                    "config#linux-mount-options",
                    "option remount changes an existing mount (remount,ro)",
                ),
            ],
            run: mount_options,
        },
        Group {
            name: "mount-options-should",
            cases: vec![
                c(
                    "nosymfollow",
                    "config#linux-mount-options",
                    "option nosymfollow is applied (SHOULD)",
                ),
                c(
                    "symfollow",
                    "config#linux-mount-options",
                    "option symfollow (after nosymfollow) clears nosymfollow (SHOULD)",
                ),
            ],
            run: mount_options_should,
        },
        Group {
            name: "mount-recursive",
            cases: vec![
                c(
                    "rro",
                    "config#linux-mount-options",
                    "option rro makes submounts read-only (SHOULD)",
                ),
                c(
                    "rrw",
                    "config#linux-mount-options",
                    "option rrw makes submounts read-write (SHOULD)",
                ),
                c(
                    "rnosuid",
                    "config#linux-mount-options",
                    "option rnosuid applies to submounts (SHOULD)",
                ),
                c(
                    "rsuid",
                    "config#linux-mount-options",
                    "option rsuid clears nosuid on submounts (SHOULD)",
                ),
                c(
                    "rnodev",
                    "config#linux-mount-options",
                    "option rnodev applies to submounts (SHOULD)",
                ),
                c(
                    "rdev",
                    "config#linux-mount-options",
                    "option rdev clears nodev on submounts (SHOULD)",
                ),
                c(
                    "rnoexec",
                    "config#linux-mount-options",
                    "option rnoexec applies to submounts (SHOULD)",
                ),
                c(
                    "rexec",
                    "config#linux-mount-options",
                    "option rexec clears noexec on submounts (SHOULD)",
                ),
                c(
                    "rnoatime",
                    "config#linux-mount-options",
                    "option rnoatime applies to submounts (SHOULD)",
                ),
                c(
                    "ratime",
                    "config#linux-mount-options",
                    "option ratime clears noatime on submounts (SHOULD)",
                ),
                c(
                    "rnodiratime",
                    "config#linux-mount-options",
                    "option rnodiratime applies to submounts (SHOULD)",
                ),
                c(
                    "rdiratime",
                    "config#linux-mount-options",
                    "option rdiratime clears nodiratime on submounts (SHOULD)",
                ),
                c(
                    "rrelatime",
                    "config#linux-mount-options",
                    "option rrelatime applies to submounts (SHOULD)",
                ),
                c(
                    "rstrictatime",
                    "config#linux-mount-options",
                    "option rstrictatime applies to submounts (SHOULD)",
                ),
                c(
                    "rnorelatime",
                    "config#linux-mount-options",
                    "option rnorelatime is accepted (SHOULD)",
                ),
                c(
                    "rnostrictatime",
                    "config#linux-mount-options",
                    "option rnostrictatime is accepted (SHOULD)",
                ),
                c(
                    "rnosymfollow",
                    "config#linux-mount-options",
                    "option rnosymfollow applies to submounts (SHOULD)",
                ),
                c(
                    "rsymfollow",
                    "config#linux-mount-options",
                    "option rsymfollow clears nosymfollow on submounts (SHOULD)",
                ),
            ],
            run: mount_recursive,
        },
        Group {
            name: "mount-propagation",
            cases: vec![
                c(
                    "p-shared",
                    "config#linux-mount-options",
                    "option shared makes the mount shared",
                ),
                c(
                    "p-rshared",
                    "config#linux-mount-options",
                    "option rshared makes the mount shared",
                ),
                c(
                    "p-slave",
                    "config#linux-mount-options",
                    "option slave makes the mount a slave",
                ),
                c(
                    "p-rslave",
                    "config#linux-mount-options",
                    "option rslave makes the mount a slave",
                ),
                c(
                    "p-private",
                    "config#linux-mount-options",
                    "option private makes the mount private",
                ),
                c(
                    "p-rprivate",
                    "config#linux-mount-options",
                    "option rprivate makes the mount private",
                ),
                c(
                    "p-unbindable",
                    "config#linux-mount-options",
                    "option unbindable makes the mount unbindable",
                ),
                c(
                    "p-runbindable",
                    "config#linux-mount-options",
                    "option runbindable makes the mount unbindable",
                ),
            ],
            run: mount_propagation,
        },
        Group {
            name: "idmapped-mounts",
            cases: vec![
                c(
                    "idmap-nomap",
                    "config#linux-mount-options",
                    "idmap without mappings and without a user namespace generates an error",
                ),
                c(
                    "idmap",
                    "config#posix-platform-mounts",
                    "uidMappings/gidMappings with idmap give an id-mapped bind mount (SHOULD)",
                ),
                c(
                    "ridmap",
                    "config#linux-mount-options",
                    "ridmap id-maps submounts too (SHOULD)",
                ),
                c(
                    "idmap-uid-only",
                    "config#posix-platform-mounts",
                    "uidMappings without gidMappings (MUST come together) generates an error",
                ),
            ],
            run: idmapped,
        },
    ]
}

fn s(x: &str) -> String {
    x.to_string()
}

fn mounts(g: &mut G) {
    let src = match g.host_tree_with_submount("src", 0) {
        Ok(p) => p,
        Err(e) => {
            g.fail_rest(&format!("host setup: {}", e));
            return;
        }
    };
    let srcs = src.to_string_lossy().into_owned();
    // rootless, a non-recursive bind of a tree with (locked) submounts is refused:
    // bind-abs then binds a directory without submounts (bind-nonrec is skipped)
    let abs_src = if g.forced_skip("bind-nonrec") {
        let d = g.dir.join("src-plain");
        let _ = fs::create_dir_all(&d);
        let _ = fs::write(d.join("hello"), "hello\n");
        d.to_string_lossy().into_owned()
    } else {
        srcs.clone()
    };
    let mut b = g.bundle("mounts");
    let _ = fs::create_dir_all(b.dir.join("bindsrc"));
    let _ = fs::write(b.dir.join("bindsrc/hello"), "relative\n");
    for m in [
        tmpfs("/oci-m1", &["size=1m"]),
        tmpfs("/oci-m1/sub", &["size=1m"]),
        tmpfs("/oci-m2", &["size=1m"]),
        tmpfs("/oci-m2", &["size=2m"]),
        bindm("/oci-bind-abs", &abs_src, &["bind"]),
        bindm("/oci-bind-rel", "bindsrc", &["bind"]),
        bindm("/oci-rbind", &srcs, &["rbind"]),
        tmpfs("/oci-data", &["mode=0711", "size=2m"]),
    ] {
        b.add_mount(m);
    }
    let probes = [
        "--statvfs",
        "/oci-m2",
        "--read",
        "/oci-bind-abs/hello",
        "--read",
        "/oci-bind-rel/hello",
        "--readdir",
        "/oci-bind-abs/sub",
        "--read",
        "/oci-rbind/sub/subfile",
        "--stat",
        "/oci-data",
        "--statvfs",
        "/oci-data",
    ];
    let Some(rep) = g.checker_or_fail_rest(&mut b, &probes) else { return };
    let ms = rep.mounts();
    let idx = |mp: &str| ms.iter().position(|m| m["mountpoint"] == mp);
    let m2: Vec<&&Value> = ms.iter().filter(|m| m["mountpoint"] == "/oci-m2").collect();
    let sv2 = rep.probe(0);
    let top_size = sv2["bsize"].as_u64().unwrap_or(0) * sv2["blocks"].as_u64().unwrap_or(0);
    let order_ok = match (idx("/oci-m1"), idx("/oci-m1/sub")) {
        (Some(a), Some(b2)) => a < b2,
        _ => false,
    } && m2.len() == 2
        && m2[1]["parent"] == m2[0]["id"]
        && top_size == 2 << 20;
    g.check(
        "order",
        ensure(order_ok, || {
            format!(
                "/oci-m1 at {:?}, /oci-m1/sub at {:?}, {} mounts at /oci-m2, visible /oci-m2 size {} (want the second, 2 MiB)",
                idx("/oci-m1"),
                idx("/oci-m1/sub"),
                m2.len(),
                top_size
            )
        }),
    );
    g.check(
        "type",
        ensure(
            rep.mount("/oci-m1")
                .map(|m| m["fstype"] == "tmpfs")
                .unwrap_or(false),
            || format!("{:?}", rep.mount("/oci-m1").map(mdesc)),
        ),
    );
    g.check(
        "bind-abs",
        ensure(rep.probe(1)["data"] == "hello\n", || {
            format!("read /oci-bind-abs/hello: {}", rep.probe(1))
        }),
    );
    g.check(
        "bind-rel",
        ensure(rep.probe(2)["data"] == "relative\n", || {
            format!("read /oci-bind-rel/hello: {}", rep.probe(2))
        }),
    );
    let sub_listing = &rep.probe(3)["names"];
    g.check(
        "bind-nonrec",
        ensure(
            rep.mount("/oci-bind-abs/sub").is_none()
                && sub_listing
                    .as_array()
                    .map(|a| a.is_empty())
                    .unwrap_or(false),
            || {
                format!(
                    "submount visible under a non-recursive bind: {:?}; listing {}",
                    rep.mount("/oci-bind-abs/sub").map(mdesc),
                    sub_listing
                )
            },
        ),
    );
    g.check(
        "rbind",
        ensure(
            rep.mount("/oci-rbind/sub").is_some() && rep.probe(4)["data"] == "sub\n",
            || format!("read /oci-rbind/sub/subfile: {}", rep.probe(4)),
        ),
    );
    let st = rep.probe(5);
    let sv = rep.probe(6);
    let size = sv["bsize"].as_u64().unwrap_or(0) * sv["blocks"].as_u64().unwrap_or(0);
    g.check(
        "data",
        ensure(st["mode"] == 0o711 && size == 2 << 20, || {
            format!("mode {:o}, size {}", st["mode"].as_u64().unwrap_or(0), size)
        }),
    );
    // relative destinations (deprecated, but MUST be interpreted relative to /) in their own container
    let mut b = g.bundle("mounts-rel");
    b.add_mount(json!({"destination": "oci-relmnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        ensure(rep.mount("/oci-relmnt").is_some(), || {
            "nothing mounted at /oci-relmnt".into()
        })
    });
    g.check("relative-dest", r);
}

fn opt_check(
    dest: &'static str,
    present: &'static [&'static str],
    absent: &'static [&'static str],
) -> impl Fn(&Report, usize) -> Result<(), String> {
    move |r: &Report, _| {
        let m = r
            .mount(dest)
            .ok_or_else(|| format!("nothing mounted at {}", dest))?;
        let has = |o: &str| mopt(m, o) || msuper(m, o);
        let missing: Vec<&str> = present.iter().copied().filter(|o| !has(o)).collect();
        let extra: Vec<&str> = absent.iter().copied().filter(|o| has(o)).collect();
        ensure(missing.is_empty() && extra.is_empty(), || {
            format!(
                "{} (missing {:?}, unexpected {:?})",
                mdesc(m),
                missing,
                extra
            )
        })
    }
}

fn mount_options(g: &mut G) {
    let exe_src = g.dir.join("exe-src");
    let _ = fs::create_dir_all(&exe_src);
    let _ = fs::write(exe_src.join("run.sh"), "#!/bin/sh\nexit 0\n");
    let _ = fs::set_permissions(
        exe_src.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    );
    let exes = exe_src.to_string_lossy().into_owned();
    let t = |k: &'static str,
             opts: &[&str],
             present: &'static [&'static str],
             absent: &'static [&'static str]| {
        let dest: &'static str = Box::leak(format!("/oci-o/{}", k).into_boxed_str());
        item(
            k,
            vec![tmpfs(dest, opts)],
            vec![],
            opt_check(dest, present, absent),
        )
    };
    let items = vec![
        t("ro", &["ro"], &["ro"], &[]),
        t("rw", &["ro", "rw"], &["rw"], &["ro"]),
        t("nosuid", &["nosuid"], &["nosuid"], &[]),
        t("suid", &["nosuid", "suid"], &[], &["nosuid"]),
        t("nodev", &["nodev"], &["nodev"], &[]),
        t("dev", &["nodev", "dev"], &[], &["nodev"]),
        t("noexec", &["noexec"], &["noexec"], &[]),
        t("exec", &["noexec", "exec"], &[], &["noexec"]),
        item(
            "noexec-effect",
            vec![bindm("/oci-o/noexec-bind", &exes, &["bind", "noexec"])],
            vec![s("--exec"), s("/oci-o/noexec-bind/run.sh")],
            |r, o| {
                let p = r.probe(o);
                ensure(p["ok"] == false && p["errno"] == 13, || {
                    format!("exec: {}", p)
                })
            },
        ),
        t("noatime", &["noatime"], &["noatime"], &[]),
        t("atime", &["noatime", "atime"], &[], &["noatime"]),
        t("relatime", &["relatime"], &["relatime"], &["noatime"]),
        t(
            "strictatime",
            &["strictatime"],
            &[],
            &["noatime", "relatime"],
        ),
        t(
            "nostrictatime",
            &["strictatime", "nostrictatime"],
            &["relatime"],
            &[],
        ),
        t("norelatime", &["norelatime"], &[], &[]),
        t("nodiratime", &["nodiratime"], &["nodiratime"], &[]),
        t(
            "diratime",
            &["nodiratime", "diratime"],
            &[],
            &["nodiratime"],
        ),
        t("sync", &["sync"], &["sync"], &[]),
        t("async", &["sync", "async"], &[], &["sync"]),
        t("dirsync", &["dirsync"], &["dirsync"], &[]),
        t("lazytime", &["lazytime"], &["lazytime"], &[]),
        t(
            "nolazytime",
            &["lazytime", "nolazytime"],
            &[],
            &["lazytime"],
        ),
        t("iversion", &["iversion"], &[], &[]),
        t("noiversion", &["noiversion"], &[], &[]),
        t("loud", &["loud"], &[], &[]),
        t("silent", &["silent"], &[], &[]),
        t(
            "defaults",
            &["defaults"],
            &["rw"],
            &["nosuid", "nodev", "noexec"],
        ),
        item(
            "remount",
            vec![
                tmpfs("/oci-o/remount", &["size=1m"]),
                tmpfs("/oci-o/remount", &["remount", "ro"]),
            ],
            vec![],
            |r, _| {
                let n = r
                    .mounts()
                    .iter()
                    .filter(|m| m["mountpoint"] == "/oci-o/remount")
                    .count();
                let m = r
                    .mount("/oci-o/remount")
                    .ok_or("nothing mounted at /oci-o/remount")?;
                ensure(n == 1 && (mopt(m, "ro") || msuper(m, "ro")), || {
                    format!("{} mount(s) at /oci-o/remount; top: {}", n, mdesc(m))
                })
            },
        ),
    ];
    run_items(g, "mopts", items, &|_| {});
}

fn mount_options_should(g: &mut G) {
    let items = vec![
        item(
            "nosymfollow",
            vec![tmpfs("/oci-o/nosymfollow", &["nosymfollow"])],
            vec![],
            opt_check("/oci-o/nosymfollow", &["nosymfollow"], &[]),
        ),
        item(
            "symfollow",
            vec![tmpfs("/oci-o/symfollow", &["nosymfollow", "symfollow"])],
            vec![],
            opt_check("/oci-o/symfollow", &[], &["nosymfollow"]),
        ),
    ];
    run_items(g, "mopts-should", items, &|_| {});
}

const MS_NOSYMFOLLOW: libc::c_ulong = 256;

fn mount_recursive(g: &mut G) {
    let plain = g.host_tree_with_submount("rec-plain", 0);
    let flagged = g.host_tree_with_submount(
        "rec-flags",
        libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | libc::MS_NOATIME
            | libc::MS_NODIRATIME
            | MS_NOSYMFOLLOW,
    );
    let (plain, flagged) = match (plain, flagged) {
        (Ok(a), Ok(b)) => (
            a.to_string_lossy().into_owned(),
            b.to_string_lossy().into_owned(),
        ),
        (Err(e), _) | (_, Err(e)) => {
            g.fail_rest(&format!("host setup: {}", e));
            return;
        }
    };
    let r = |k: &'static str,
             src: &str,
             present: &'static [&'static str],
             absent: &'static [&'static str]| {
        let dest: &'static str = Box::leak(format!("/oci-r/{}", k).into_boxed_str());
        let sub: &'static str = Box::leak(format!("{}/sub", dest).into_boxed_str());
        item(
            k,
            vec![bindm(dest, src, &["rbind", k])],
            vec![],
            opt_check(sub, present, absent),
        )
    };
    let items = vec![
        r("rro", &plain, &["ro"], &[]),
        r("rrw", &flagged, &["rw"], &["ro"]),
        r("rnosuid", &plain, &["nosuid"], &[]),
        r("rsuid", &flagged, &[], &["nosuid"]),
        r("rnodev", &plain, &["nodev"], &[]),
        r("rdev", &flagged, &[], &["nodev"]),
        r("rnoexec", &plain, &["noexec"], &[]),
        r("rexec", &flagged, &[], &["noexec"]),
        r("rnoatime", &plain, &["noatime"], &[]),
        r("ratime", &flagged, &[], &["noatime"]),
        r("rnodiratime", &plain, &["nodiratime"], &[]),
        r("rdiratime", &flagged, &[], &["nodiratime"]),
        r("rrelatime", &flagged, &["relatime"], &["noatime"]),
        r("rstrictatime", &flagged, &[], &["noatime", "relatime"]),
        r("rnorelatime", &plain, &[], &[]),
        r("rnostrictatime", &plain, &[], &[]),
        r("rnosymfollow", &plain, &["nosymfollow"], &[]),
        r("rsymfollow", &flagged, &[], &["nosymfollow"]),
    ];
    run_items(g, "mrec", items, &|_| {});
}

fn mount_propagation(g: &mut G) {
    let src = g.dir.join("prop-src");
    let _ = fs::create_dir_all(&src);
    let setup = g
        .host_mount(&src.to_string_lossy(), &src, "", libc::MS_BIND, "")
        .and_then(|_| g.host_mount("", &src, "", libc::MS_SHARED, ""));
    if let Err(e) = setup {
        g.fail_rest(&format!("host setup: {}", e));
        return;
    }
    let srcs = src.to_string_lossy().into_owned();
    let p = |k: &'static str,
             opts: &[&str],
             want: &'static [&'static str],
             not: &'static [&'static str]| {
        let dest: &'static str = Box::leak(format!("/oci-p/{}", k).into_boxed_str());
        item(
            k,
            vec![bindm(dest, &srcs, opts)],
            vec![],
            move |r: &Report, _| {
                let m = r
                    .mount(dest)
                    .ok_or_else(|| format!("nothing mounted at {}", dest))?;
                let missing: Vec<&str> =
                    want.iter().copied().filter(|o| !moptional(m, o)).collect();
                let extra: Vec<&str> = not.iter().copied().filter(|o| moptional(m, o)).collect();
                ensure(missing.is_empty() && extra.is_empty(), || {
                    format!(
                        "{} (missing {:?}, unexpected {:?})",
                        mdesc(m),
                        missing,
                        extra
                    )
                })
            },
        )
    };
    let items = vec![
        p("p-shared", &["bind", "shared"], &["shared:"], &[]),
        p("p-rshared", &["rbind", "rshared"], &["shared:"], &[]),
        p("p-slave", &["bind", "slave"], &["master:"], &["shared:"]),
        p("p-rslave", &["rbind", "rslave"], &["master:"], &["shared:"]),
        p(
            "p-private",
            &["bind", "private"],
            &[],
            &["shared:", "master:"],
        ),
        p(
            "p-rprivate",
            &["rbind", "rprivate"],
            &[],
            &["shared:", "master:"],
        ),
        p(
            "p-unbindable",
            &["bind", "unbindable"],
            &["unbindable"],
            &[],
        ),
        p(
            "p-runbindable",
            &["rbind", "runbindable"],
            &["unbindable"],
            &[],
        ),
    ];
    // the container's copy of the (shared) host source must be a slave of it
    // for `slave` to be observable: rootfsPropagation slave gives exactly that
    run_items(g, "mprop", items, &|b: &mut Bundle| {
        b.config["linux"]["rootfsPropagation"] = json!("slave")
    });
}

fn idmapped(g: &mut G) {
    // 1. idmap without mappings and without a user namespace: error required
    let mut b = g.bundle("idmap-nomap");
    let src = g.dir.join("idmap-src");
    let _ = fs::create_dir_all(&src);
    let _ = fs::write(src.join("owned-by-0"), "x");
    let _ = fs::write(src.join("owned-by-1000"), "x");
    let _ = std::os::unix::fs::chown(src.join("owned-by-0"), Some(0), Some(0));
    let _ = std::os::unix::fs::chown(src.join("owned-by-1000"), Some(1000), Some(1000));
    let srcs = src.to_string_lossy().into_owned();
    b.add_mount(bindm("/oci-idmap", &srcs, &["bind", "idmap"]));
    expect_error_case(g, "idmap-nomap", &mut b, false);
    // 2. a swap mapping (0<->1000) reads the same in either direction
    let swap = json!([{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1000, "hostID": 0, "size": 1}]);
    let mut b = g.bundle("idmap");
    b.add_mount(json!({"destination": "/oci-idmap", "type": "none", "source": srcs, "options": ["bind", "idmap"], "uidMappings": swap, "gidMappings": swap}));
    let r = g
        .run_checker(
            &mut b,
            &[
                "--stat",
                "/oci-idmap/owned-by-0",
                "--stat",
                "/oci-idmap/owned-by-1000",
            ],
        )
        .and_then(|rep| {
            let (a, b2) = (rep.probe(0), rep.probe(1));
            ensure(
                a["uid"] == 1000 && a["gid"] == 1000 && b2["uid"] == 0 && b2["gid"] == 0,
                || {
                    format!(
                        "owned-by-0 shows {}:{}, owned-by-1000 shows {}:{}",
                        a["uid"], a["gid"], b2["uid"], b2["gid"]
                    )
                },
            )
        });
    g.check("idmap", r);
    // uidMappings without gidMappings
    let mut b = g.bundle("idmap-uid-only");
    b.add_mount(json!({"destination": "/oci-idmap", "type": "none", "source": srcs, "options": ["bind", "idmap"], "uidMappings": swap}));
    b.valid = false;
    expect_error_case(g, "idmap-uid-only", &mut b, false);
    // 3. ridmap on an rbind with a (tmpfs) submount
    let tree = match g.host_tree_with_submount("ridmap-src", 0) {
        Ok(t) => t,
        Err(e) => {
            g.fail("ridmap", format!("host setup: {}", e));
            return;
        }
    };
    let _ = std::os::unix::fs::chown(tree.join("sub/subfile"), Some(0), Some(0));
    let mut b = g.bundle("ridmap");
    b.add_mount(json!({"destination": "/oci-ridmap", "type": "none", "source": tree.to_string_lossy(), "options": ["rbind", "ridmap"], "uidMappings": swap, "gidMappings": swap}));
    let r = g
        .run_checker(
            &mut b,
            &[
                "--stat",
                "/oci-ridmap/hello",
                "--stat",
                "/oci-ridmap/sub/subfile",
            ],
        )
        .and_then(|rep| {
            let (a, b2) = (rep.probe(0), rep.probe(1));
            ensure(a["uid"] == 1000 && b2["uid"] == 1000, || {
                format!(
                    "top file uid {}, submount file uid {} (both owned by 0 on disk)",
                    a["uid"], b2["uid"]
                )
            })
        });
    g.check("ridmap", r);
}
