//! Attack programs, built from `tests/attacks/tools/*.c` with `gcc -static` (the busybox rootfs
//! has no compiler), and how a container gets them: a read-only bind mount at `/tools`.

use crate::common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Build `tools/<name>.c` into `<dir>/<name>` and return the binary's path.
pub fn build_tool(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = manifest_dir().join("tests/attacks/tools").join(format!("{name}.c"));
    let bin = dir.join(name);
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("gcc (the attack tests build their programs with gcc -static)");
    assert!(out.status.success(), "gcc -static {src:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    bin
}

/// Build the named tools into the test's `tools` dir and mount that dir at `/tools` (read-only).
pub fn with_tools(t: &Test, b: &mut Bundle, names: &[&str]) -> PathBuf {
    let dir = t.dir("tools");
    for n in names {
        if !dir.join(n).exists() {
            build_tool(&dir, n);
        }
    }
    b.add_mount(json!({"destination": "/tools", "type": "bind", "source": dir.to_str().unwrap(),
                       "options": ["rbind", "ro"]}));
    dir
}

/// Add capabilities to every set of the bundle's process.
pub fn add_caps(b: &mut Bundle, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let arr = b.config["process"]["capabilities"][set].as_array_mut().unwrap();
        for c in caps {
            arr.push(json!(c));
        }
    }
}

/// The file's bytes, to compare before and after an attack.
pub fn contents(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {p:?}: {e}"))
}
