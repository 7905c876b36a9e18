//! Command-line shapes (CONTRACT.md §1), logs (§4), `--version` and `spec` (§3).
mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

/// Every shape creates a container under the test root that `state` then finds.
#[test]
fn argument_shapes() {
    let Some(t) = setup("cli_arg_shapes") else { return };
    let root_eq = format!("--root={STATE_ROOT}");
    // B and ID are replaced by the bundle dir and the container id.
    let shapes: &[(&str, &[&str])] = &[
        ("--bundle=B", &["--root", STATE_ROOT, "create", "--bundle=B", "ID"]),
        ("flags after the id", &["--root", STATE_ROOT, "create", "ID", "--bundle", "B"]),
        ("single-dash long flag", &["--root", STATE_ROOT, "create", "-bundle", "B", "ID"]),
        ("--root=X", &[&root_eq, "create", "--bundle", "B", "ID"]),
        ("-b B", &["--root", STATE_ROOT, "create", "-b", "B", "ID"]),
    ];
    for (i, (what, shape)) in shapes.iter().enumerate() {
        let id = t.id_with(&format!("a{i}"));
        let mut b = t.bundle_for(&id);
        b.args(&["sleep", "100000"]);
        b.write();
        let bundle_eq = format!("--bundle={}", b.dir_str());
        let args: Vec<&str> = shape
            .iter()
            .map(|a| match *a {
                "B" => b.dir_str(),
                "ID" => id.as_str(),
                "--bundle=B" => bundle_eq.as_str(),
                other => other,
            })
            .collect();
        let out = t.rt_raw(&args);
        assert!(out.ok(), "shape {what}\n{}", out.show());
        assert!(Path::new(STATE_ROOT).join(&id).is_dir(), "shape {what}: no state under the given root");
        let st = t.state(&id).unwrap();
        assert_eq!(st["status"], "created", "shape {what}: {st}");
        assert_eq!(st["bundle"], b.dir_str(), "shape {what}: {st}");
        let out = t.rt_raw(&[&format!("--root={STATE_ROOT}"), "delete", "--force", &id]);
        assert!(out.ok(), "{}", out.show());
        t.assert_gone(&id);
    }
    t.finish();
}

fn check_json_log(log: &Path, needle: &str) {
    let text = fs::read_to_string(log).unwrap_or_else(|e| panic!("log file {}: {e}", log.display()));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "at non-debug level only the final error is logged, one line:\n{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {}", lines[0]));
    assert_eq!(v["level"], "error", "{v}");
    let msg = v["msg"].as_str().unwrap_or_else(|| panic!("no string msg: {v}"));
    assert!(msg.contains(needle), "msg should mention {needle:?}: {v}");
    let time = v["time"].as_str().unwrap_or_else(|| panic!("no time: {v}"));
    assert!(is_rfc3339(time), "time is not RFC 3339: {v}");
}

#[test]
fn log_json_on_failure() {
    let Some(t) = setup("cli_log_json") else { return };
    let id = t.id();

    let log = t.scratch.join("a.log");
    let out = t.rt(&["--log", log.to_str().unwrap(), "--log-format", "json", "state", &id]);
    out.assert_err("container does not exist");
    check_json_log(&log, "container does not exist");

    // `=` forms, and the global flags after --root.
    let log = t.scratch.join("b.log");
    let missing = t.scratch.join("no-such-bundle");
    let out = t.rt(&[
        &format!("--log={}", log.display()),
        "--log-format=json",
        "create",
        &format!("--bundle={}", missing.display()),
        &id,
    ]);
    out.assert_err(missing.to_str().unwrap());
    check_json_log(&log, missing.to_str().unwrap());
    t.assert_gone(&id);
    t.finish();
}

/// Errors take runc's shapes (issue 13 item 7), which scripts written against runc look for:
/// without `--log`, stderr holds one logrus line (`time="..." level=error msg="..."`, or the JSON
/// object with `--log-format json`); with `--log`, the file gets that line and stderr the plain
/// message (what conmon forwards and containerd shows).
#[test]
fn error_shapes_follow_runc() {
    let Some(t) = setup("cli_err_shape") else { return };
    let id = t.id();
    let out = t.rt(&["delete", &id]);
    assert_eq!(out.code, Some(1), "{}", out.show());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line\n{}", out.show());
    let line = lines[0];
    let time = line.strip_prefix("time=\"").and_then(|r| r.split('"').next()).unwrap_or_else(|| panic!("no time=: {line}"));
    assert!(is_rfc3339(time), "{line}");
    assert!(line.contains(" level=error msg=\"container does not exist\""), "{line}");

    // A message with quotes is quoted as Go's %q does, and reads back whole.
    let missing = t.scratch.join("no such bundle");
    let out = t.rt(&["create", "--bundle", missing.to_str().unwrap(), &id]);
    let quoted = format!("level=error msg=\"bundle \\\"{}\\\": ", missing.display());
    assert!(out.stderr.contains(&quoted), "want {quoted}\n{}", out.show());
    assert!(out.error_text().starts_with(&format!("bundle {:?}: ", missing)), "{}", out.show());

    let out = t.rt(&["--log-format", "json", "delete", &id]);
    let v: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap_or_else(|e| panic!("stderr is not one JSON object ({e})\n{}", out.show()));
    assert_eq!((v["level"].as_str(), v["msg"].as_str()), (Some("error"), Some("container does not exist")), "{v}");

    let log = t.scratch.join("shape.log");
    let out = t.rt(&["--log", log.to_str().unwrap(), "delete", &id]);
    assert_eq!(out.stderr.trim(), "container does not exist", "plain on stderr with --log\n{}", out.show());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.starts_with("time=\"") && logged.contains("level=error msg=\"container does not exist\""), "{logged}");
    t.finish();
}

#[test]
fn version_output() {
    let Some(t) = setup("cli_version") else { return };
    for flag in ["--version", "-v"] {
        let out = t.rt_raw(&[flag]);
        out.assert_ok();
        let mut lines = out.stdout.lines();
        let first = lines.next().unwrap_or_default();
        let words: Vec<&str> = first.split_whitespace().collect();
        let name = if is_hull() { "hull".to_string() } else { runtime_name() };
        assert_eq!(words.first(), Some(&name.as_str()), "first line `{name} version X.Y.Z`: {first:?}");
        assert_eq!(words.get(1), Some(&"version"), "{first:?}");
        let ver = words.get(2).unwrap_or(&"");
        let core: Vec<&str> = ver.split(|c: char| !c.is_ascii_digit()).take(3).collect();
        assert!(core.len() == 3 && core.iter().all(|p| !p.is_empty()), "version X.Y.Z: {first:?}");
        let rest: Vec<&str> = lines.collect();
        assert!(rest.iter().any(|l| l.starts_with("commit:")), "no `commit:` line\n{}", out.show());
        assert!(rest.iter().any(|l| l.starts_with("spec:")), "no `spec:` line\n{}", out.show());
    }
    t.finish();
}

#[test]
fn spec_writes_default_config() {
    let Some(t) = setup("cli_spec") else { return };
    let d = t.dir("spec");
    t.rt_raw(&["spec", "--bundle", d.to_str().unwrap()]).assert_ok();
    let v: Value = serde_json::from_slice(&fs::read(d.join("config.json")).unwrap()).unwrap();
    assert!(v["ociVersion"].is_string(), "{v}");
    assert_eq!(v["root"]["path"], "rootfs", "{v}");
    assert!(v["process"]["args"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    let ns: Vec<&str> = v["linux"]["namespaces"].as_array().unwrap().iter().filter_map(|n| n["type"].as_str()).collect();
    for want in ["pid", "mount", "network", "ipc", "uts"] {
        assert!(ns.contains(&want), "default namespaces {ns:?} lack {want}");
    }
    assert!(!ns.contains(&"user"));

    let d = t.dir("spec-rootless");
    t.rt_raw(&["spec", "--rootless", "--bundle", d.to_str().unwrap()]).assert_ok();
    let v: Value = serde_json::from_slice(&fs::read(d.join("config.json")).unwrap()).unwrap();
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"), "rootless spec needs a user namespace: {v}");
    assert!(v["linux"]["uidMappings"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    t.finish();
}

/// `hull spec` writes the template as runc does: the spec's key order (not alphabetical) and tab
/// indents.
#[test]
fn spec_keeps_the_spec_key_order() {
    let Some(t) = setup("cli_spec_order") else { return };
    let dir = t.dir("spec-order");
    t.rt_raw(&["spec", "--bundle", dir.to_str().unwrap()]).assert_ok();
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let top: Vec<&str> = text.lines().filter(|l| l.starts_with("\t\"")).map(|l| l.trim().split('"').nth(1).unwrap()).collect();
    assert_eq!(top, ["ociVersion", "process", "root", "hostname", "mounts", "linux"], "{text}");
    assert!(text.contains("\n\t\t\"terminal\": true"), "tab indents: {text}");
    t.finish();
}

/// Rootless mode (issue 14, part 1): `--rootless auto` (the default) is rootless for a non-root
/// user, whose state root is then $XDG_RUNTIME_DIR/hull; without that variable the error says
/// what to set. Verbs that keep no state need none.
#[test]
fn rootless_default_root_is_under_xdg_runtime_dir() {
    let Some(t) = setup("cli_rootless_root") else { return };
    if !is_hull() {
        return;
    }
    use std::os::unix::process::CommandExt;
    // A copy of the binary and a runtime dir that user nobody can reach.
    let home = t.dir("nobody");
    for d in [&t.scratch, &home] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let bin = home.join("hull");
    std::fs::copy(runtime(), &bin).unwrap();
    let xdg = home.join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    // SAFETY: chown of paths this test made.
    let c = |p: &std::path::Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    unsafe {
        libc::chown(c(&home).as_ptr(), 65534, 65534);
        libc::chown(c(&xdg).as_ptr(), 65534, 65534);
    }
    let as_nobody = |xdg: Option<&std::path::Path>, args: &[&str]| -> Out {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(args).current_dir(&home).uid(65534).gid(65534).env_remove("XDG_RUNTIME_DIR");
        if let Some(x) = xdg {
            cmd.env("XDG_RUNTIME_DIR", x);
        }
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let o = spawn_retrying(&mut cmd).unwrap().wait_with_output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        Out { cmd: format!("{cmd:?}"), code: o.status.code(), signal: o.status.signal(), stdout: String::from_utf8_lossy(&o.stdout).into(), stderr: String::from_utf8_lossy(&o.stderr).into() }
    };
    as_nobody(None, &["list"]).assert_err("rootless mode: XDG_RUNTIME_DIR is not set");
    assert!(as_nobody(None, &["list"]).stderr.contains("/run/user/65534"));
    as_nobody(Some(&xdg), &["list"]).assert_ok();
    as_nobody(Some(&xdg), &["state", "nosuch"]).assert_err("container does not exist");
    as_nobody(None, &["spec"]).assert_ok();
    assert!(home.join("config.json").exists());
    as_nobody(Some(&xdg), &["--rootless", "false", "state", "nosuch"]).assert_err("container does not exist");
    as_nobody(Some(&xdg), &["--rootless", "maybe", "list"]).assert_err("expected true, false or auto");
    // Root with --rootless true: the same default root.
    let out = t.rt_raw_env(&["--rootless", "true", "list"], &[("XDG_RUNTIME_DIR", xdg.to_str().unwrap())]);
    out.assert_ok();
    t.finish();
}

/// The page-aligned RELRO range of an ELF64 executable (PT_GNU_RELRO; the start rounded down,
/// the end rounded down, as glibc's loader protects it), from its program headers.
fn relro_pages(elf: &[u8]) -> Option<(u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    (0..phnum).map(|i| phoff + i * phentsize).find(|&h| u32_at(h) == 0x6474_e552).map(|h| {
        let (vaddr, memsz) = (u64_at(h + 16), u64_at(h + 40));
        (vaddr & !0xfff, (vaddr + memsz) & !0xfff)
    })
}

/// A verb that sets no container process up (here `events`, which stays) runs with its
/// relocation-read-only data (GOT, .init_array, vtables) read-only, as a glibc program's start-up
/// makes it: musl's static start-up leaves it writable, and hull protects it itself.
#[test]
fn relocation_read_only_data_is_read_only() {
    let Some(t) = setup("cli_relro") else { return };
    if !is_hull() {
        return t.finish();
    }
    let (start, end) = relro_pages(&fs::read(t.bin()).unwrap()).expect("hull's binary has a PT_GNU_RELRO segment");
    assert!(start < end, "RELRO covers no whole page: {start:#x}-{end:#x}");
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create(&b);
    let events = t.rt_spawn(&["events", "--interval", "1h", &id]);
    let maps_path = format!("/proc/{}/maps", events.pid());
    // The stats line comes once the verb is past its start-up.
    wait_for("events to print its first stats", || (!events.stdout_now().is_empty()).then_some(()));
    let maps = fs::read_to_string(&maps_path).unwrap();
    let line = maps
        .lines()
        .find(|l| {
            let (a, b) = l.split_whitespace().next().unwrap().split_once('-').unwrap();
            let (a, b) = (u64::from_str_radix(a, 16).unwrap(), u64::from_str_radix(b, 16).unwrap());
            a <= start && start < b
        })
        .unwrap_or_else(|| panic!("no mapping holds RELRO at {start:#x}:\n{maps}"));
    assert!(line.split_whitespace().nth(1).unwrap().starts_with("r--"), "RELRO {start:#x}-{end:#x} is writable: {line}\n{maps}");
    // SAFETY: kill(2) on the events process this test spawned.
    unsafe { libc::kill(events.pid(), libc::SIGKILL) };
    let _ = events.wait();
    t.rt(&["delete", "--force", &id]).assert_ok();
    t.finish();
}
