//! Logging in the two shapes clients read: text, and logrus-shaped JSON
//! (`{"level":"error","msg":"...","time":"<RFC3339>"}`, one object per line).
//!
//! At non-debug levels only the final error is written (podman parses the whole log file as one
//! JSON object). The plain error also goes to stderr, where conmon and users see it.

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

/// A warning: on stderr, and in the log file only with `--debug` (without it the log file holds
/// just the final error, which podman parses as one JSON object).
pub fn warn(msg: impl AsRef<str>) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if l.debug && l.file.is_some() {
        write_line(&mut l, "warning", msg.as_ref(), false);
    }
    let _ = writeln!(std::io::stderr(), "hull: warning: {}", msg.as_ref());
}

/// The final error of a command: one line in the log file and the plain text on stderr.
pub fn error(msg: impl AsRef<str>) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    write_line(&mut l, "error", msg.as_ref(), true);
}

fn write_line(l: &mut Logger, level: &str, msg: &str, also_stderr: bool) {
    let line = match l.format {
        Format::Json => {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": now_rfc3339() });
            format!("{v}\n")
        }
        Format::Text => format!("time=\"{}\" level={} msg={:?}\n", now_rfc3339(), level, msg),
    };
    match l.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
            if also_stderr {
                let _ = writeln!(std::io::stderr(), "{msg}");
            }
        }
        None if also_stderr => {
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Current time in RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}
