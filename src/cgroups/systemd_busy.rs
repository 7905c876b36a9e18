//! Waiting for a busy systemd: the systemd driver's D-Bus connection, retried with a bound.

use std::time::Duration;

/// How long hull waits for a busy systemd to accept a D-Bus connection.
pub const SYSTEMD_BUSY_LIMIT: Duration = Duration::from_secs(30);

/// Run `f` (which connects to systemd's private D-Bus socket) again while it fails because
/// systemd is busy (EAGAIN: its socket's backlog is full, or it did not answer in time), with a
/// growing pause, for at most `limit` (each try may itself take a while: libcgroups retries
/// seven times, with up to about 15 s of pauses). A systemd slowed down by a loaded machine
/// needed longer in the VM lane (issue 13). Other errors return at once.
pub fn while_systemd_busy<T>(limit: Duration, mut f: impl FnMut() -> std::result::Result<T, String>) -> std::result::Result<T, String> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        match f() {
            Err(e) if e.contains("EAGAIN") => {
                if start.elapsed() + pause > limit {
                    return Err(format!(
                        "systemd did not accept a D-Bus connection on /run/systemd/private within {} s (busy): {e}",
                        limit.as_secs()
                    ));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::while_systemd_busy;
    use std::time::Duration;

    #[test]
    fn a_busy_systemd_is_waited_for() {
        let mut calls = 0;
        let r = while_systemd_busy(Duration::from_secs(5), || {
            calls += 1;
            if calls < 4 { Err("dbus connection failed after 7 retries: EAGAIN: Try again".to_string()) } else { Ok(calls) }
        });
        assert_eq!(r, Ok(4));
    }

    #[test]
    fn other_errors_return_at_once_and_the_wait_is_bounded() {
        let mut calls = 0;
        let r: Result<(), String> = while_systemd_busy(Duration::from_secs(5), || {
            calls += 1;
            Err("unit not found".into())
        });
        assert_eq!((r.unwrap_err().as_str(), calls), ("unit not found", 1));
        let r: Result<(), String> = while_systemd_busy(Duration::from_millis(300), || Err("EAGAIN".into()));
        let e = r.unwrap_err();
        assert!(e.contains("within 0 s (busy)") && e.contains("/run/systemd/private"), "{e}");
    }
}
