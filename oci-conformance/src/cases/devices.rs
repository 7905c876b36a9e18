//! config-linux.md: devices and the allowed device list (device cgroup).

use super::*;
use crate::suite::c;
use serde_json::json;
use std::fs;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "devices",
            cases: vec![
                c(
                    "dev-c",
                    "config-linux#devices",
                    "a type c device is created with its major/minor",
                ),
                c(
                    "dev-b",
                    "config-linux#devices",
                    "a type b device is created with its major/minor",
                ),
                c(
                    "dev-p",
                    "config-linux#devices",
                    "a type p (fifo) device is created",
                ),
                c(
                    "dev-u",
                    "config-linux#devices",
                    "a type u (unbuffered char) device is created as a char device",
                ),
                c(
                    "dev-mode",
                    "config-linux#devices",
                    "fileMode is the device's permission bits",
                ),
                c(
                    "dev-owner",
                    "config-linux#devices",
                    "uid/gid are the device's owner and group",
                ),
                c(
                    "dev-outside",
                    "config-linux#devices",
                    "a device path outside /dev is created",
                ),
            ],
            run: devices,
        },
        Group {
            name: "device-conflict",
            cases: vec![c(
                "dev-conflict",
                "config-linux#devices",
                "a non-matching file already at the device path generates an error",
            )],
            run: conflict,
        },
        Group {
            name: "device-cgroup",
            cases: vec![
                c(
                    "devcg-deny",
                    "config-linux#allowed-device-list",
                    "a device not allowed after a deny-all entry cannot be opened (EPERM)",
                ),
                c(
                    "devcg-allow",
                    "config-linux#allowed-device-list",
                    "an allow entry after deny-all permits the access it lists",
                ),
                c(
                    "devcg-order",
                    "config-linux#allowed-device-list",
                    "entries are applied in order (a later deny w overrides an earlier allow rw)",
                ),
            ],
            run: device_cgroup,
        },
    ]
}

fn devices(g: &mut G) {
    let mut b = g.bundle("devices");
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/oci-char", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000, "gid": 29},
        {"path": "/dev/oci-block", "type": "b", "major": 7, "minor": 200, "fileMode": 0o660, "uid": 0, "gid": 6},
        {"path": "/dev/oci-fifo", "type": "p", "fileMode": 0o600},
        {"path": "/dev/oci-unbuf", "type": "u", "major": 1, "minor": 3, "fileMode": 0o666},
        {"path": "/oci-outside/oci-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}
    ]);
    if g.forced_skip("dev-c") {
        // rootless: no device nodes can be made, only the fifo is left to check
        b.config["linux"]["devices"] = json!([{"path": "/dev/oci-fifo", "type": "p", "fileMode": 0o600}]);
    }
    let Some(rep) = g.checker_or_fail_rest(
        &mut b,
        &[
            "--stat",
            "/dev/oci-char",
            "--stat",
            "/dev/oci-block",
            "--stat",
            "/dev/oci-fifo",
            "--stat",
            "/dev/oci-unbuf",
            "--stat",
            "/oci-outside/oci-null",
        ],
    ) else { return };
    let (ch, bl, fi, un, out) = (
        rep.probe(0),
        rep.probe(1),
        rep.probe(2),
        rep.probe(3),
        rep.probe(4),
    );
    g.check(
        "dev-c",
        ensure(
            ch["type"] == "c" && ch["major"] == 10 && ch["minor"] == 229,
            || format!("stat: {}", ch),
        ),
    );
    g.check(
        "dev-b",
        ensure(
            bl["type"] == "b" && bl["major"] == 7 && bl["minor"] == 200,
            || format!("stat: {}", bl),
        ),
    );
    g.check(
        "dev-p",
        ensure(fi["type"] == "p", || format!("stat: {}", fi)),
    );
    g.check(
        "dev-u",
        ensure(
            un["type"] == "c" && un["major"] == 1 && un["minor"] == 3,
            || format!("stat: {}", un),
        ),
    );
    g.check(
        "dev-mode",
        ensure(
            ch["mode"] == 0o640 && bl["mode"] == 0o660 && fi["mode"] == 0o600,
            || {
                format!(
                    "modes {:o} {:o} {:o} (want 640 660 600)",
                    ch["mode"].as_u64().unwrap_or(0),
                    bl["mode"].as_u64().unwrap_or(0),
                    fi["mode"].as_u64().unwrap_or(0)
                )
            },
        ),
    );
    g.check(
        "dev-owner",
        ensure(
            ch["uid"] == 1000 && ch["gid"] == 29 && bl["gid"] == 6,
            || {
                format!(
                    "/dev/oci-char {}:{}, /dev/oci-block gid {}",
                    ch["uid"], ch["gid"], bl["gid"]
                )
            },
        ),
    );
    g.check(
        "dev-outside",
        ensure(
            out["type"] == "c" && out["major"] == 1 && out["minor"] == 3,
            || format!("stat: {}", out),
        ),
    );
}

fn conflict(g: &mut G) {
    let mut b = g.bundle("dev-conflict");
    let _ = fs::write(b.dir.join("rootfs/oci-conflict"), "regular file\n");
    b.config["linux"]["devices"] =
        json!([{"path": "/oci-conflict", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]);
    expect_error_case(g, "dev-conflict", &mut b, false);
}

fn device_cgroup(g: &mut G) {
    let mut b = g.bundle("devcg");
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/oci-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666},
        {"path": "/dev/oci-misc", "type": "c", "major": 10, "minor": 241, "fileMode": 0o666}
    ]);
    b.config["linux"]["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "w"}
    ]});
    let Some(rep) = g.checker_or_fail_rest(
        &mut b,
        &[
            "--open-r",
            "/dev/oci-misc",
            "--open-r",
            "/dev/oci-fuse",
            "--open-w",
            "/dev/oci-fuse",
        ],
    ) else { return };
    let (tun, fr, fw) = (rep.probe(0), rep.probe(1), rep.probe(2));
    // EPERM (1) is what the device cgroup returns; anything else means the
    // cgroup let the open through (the driver may still refuse it)
    g.check(
        "devcg-deny",
        ensure(tun["ok"] == false && tun["errno"] == 1, || {
            format!("open /dev/oci-misc (10:241, not allowed): {}", tun)
        }),
    );
    g.check(
        "devcg-allow",
        ensure(fr["ok"] == true || fr["errno"] != 1, || {
            format!("open /dev/oci-fuse for reading (allowed rw): {}", fr)
        }),
    );
    g.check(
        "devcg-order",
        ensure(fw["ok"] == false && fw["errno"] == 1, || {
            format!(
                "open /dev/oci-fuse for writing (allow rw, then deny w): {}",
                fw
            )
        }),
    );
}
