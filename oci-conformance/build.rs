//! Builds the in-container checker (src/bin/oci-checker.rs) as a STATIC executable
//! with plain rustc (`-C target-feature=+crt-static`, for the build's target: musl with
//! hull's configuration, glibc's libc.a for a gnu target) and lets the
//! runner embed it with include_bytes!.  The checker uses only std, so no crate
//! graph is needed.  If static linking fails (no libc.a), an empty file is
//! embedded and the runner asks for `--checker PATH` instead.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/bin/oci-checker.rs";
    println!("cargo:rerun-if-changed={}", src);
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("oci-checker-static");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").unwrap_or_default();
    let mut cmd = Command::new(&rustc);
    cmd.args([
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "oci_checker",
    ])
    .args([
        "-C",
        "opt-level=2",
        "-C",
        "panic=abort",
        "-C",
        "strip=symbols",
        "-C",
        "target-feature=+crt-static",
    ])
    .arg("-o")
    .arg(&out)
    .arg(src);
    if !target.is_empty() {
        cmd.args(["--target", &target]);
    }
    // do not inherit flags meant for the host crate graph
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS");
    let ok = match cmd.status() {
        Ok(st) => st.success(),
        Err(e) => {
            println!("cargo:warning=cannot run {}: {}", rustc, e);
            false
        }
    };
    if !ok {
        println!(
            "cargo:warning=static oci-checker build failed; the runner will need --checker PATH"
        );
        std::fs::write(&out, b"").unwrap();
    }
}
