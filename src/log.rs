//! Logging in the two shapes clients read: text, and logrus-shaped JSON
//! (`{"level":"error","msg":"...","time":"<RFC3339>"}`, one object per line).
//!
//! At non-debug levels only the final error is written (podman parses the whole log file as one
//! JSON object). With a log file the plain error also goes to stderr, where conmon and users see
//! it; without one, stderr gets the log line itself, as from runc.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: Mutex<Logger> = Mutex::new(Logger { file: None, format: Format::Text, debug: false });

/// Set up the logger from the global flags. A log file that cannot be opened is reported on stderr
/// and logging falls back to stderr only.
pub fn init(path: Option<&str>, format: Format, debug: bool) {
    let file = path.and_then(|p| {
        match OpenOptions::new().create(true).append(true).custom_flags(libc::O_CLOEXEC).mode(0o644).open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("hull: cannot open log file {p:?}: {e}");
                None
            }
        }
    });
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    l.file = file;
    l.format = format;
    l.debug = debug;
}

pub fn debug_enabled() -> bool {
    LOGGER.lock().map(|l| l.debug).unwrap_or(false)
}

/// A debug message: written only with `--debug`, to the log file or else stderr.
pub fn debug(msg: impl AsRef<str>) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if l.debug {
        write_line(&mut l, "debug", msg.as_ref(), false);
    }
}

/// A warning. Without a log file it goes to stderr in the log's shape (runc's logrus line). With
/// one, stderr gets `hull: warning: ...` and the file gets it only with `--debug` (without it the
/// file holds just the final error, which podman parses as one JSON object).
pub fn warn(msg: impl AsRef<str>) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if l.file.is_none() {
        let line = format_line(l.format, "warning", msg.as_ref());
        let _ = std::io::stderr().write_all(line.as_bytes());
        return;
    }
    if l.debug {
        write_line(&mut l, "warning", msg.as_ref(), false);
    }
    let _ = writeln!(std::io::stderr(), "hull: warning: {}", msg.as_ref());
}

/// The final error of a command, as runc reports it: without a log file, one line on stderr in
/// the log's shape (`time="..." level=error msg="..."`, or the JSON object), which scripts
/// written against runc look for; with a log file, the line goes there and stderr gets the plain
/// message (conmon and containerd pass `--log` and show stderr or the file's `msg`).
pub fn error(msg: impl AsRef<str>) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    write_line(&mut l, "error", msg.as_ref(), true);
}

fn format_line(format: Format, level: &str, msg: &str) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": now_rfc3339() });
            format!("{v}\n")
        }
        Format::Text => format!("time=\"{}\" level={} msg={}\n", now_rfc3339(), level, logfmt_value(msg)),
    }
}

fn write_line(l: &mut Logger, level: &str, msg: &str, plain_on_stderr: bool) {
    let line = format_line(l.format, level, msg);
    match l.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
            if plain_on_stderr {
                let _ = writeln!(std::io::stderr(), "{msg}");
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// A value as logrus's text formatter writes it: bare when it is made only of letters, digits
/// and `-._/@^+`, else double-quoted with Go's escapes.
pub fn logfmt_value(v: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-._/@^+".contains(c);
    if !v.is_empty() && v.chars().all(bare) {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Current time in RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}
