//! Argument shapes clap does not accept by itself: single-dash long flags (`-bundle X`, which
//! containerd sends as `-no-subreaper`). Normalisation stops at the command of `exec`, so a
//! container's own arguments are never rewritten.

/// Long flag names hull knows; only these are rewritten from `-name` to `--name`.
const LONG_FLAGS: &[&str] = &[
    "root", "log", "log-format", "debug", "systemd-cgroup", "rootless", "version", "help", "bundle",
    "pid-file", "console-socket", "no-pivot", "no-new-keyring", "preserve-fds", "detach", "keep",
    "force", "all", "format", "quiet", "no-subreaper", "process", "cwd", "env", "tty", "user",
    "additional-gids", "process-label", "apparmor", "no-new-privs", "cap", "cgroup", "ignore-paused",
    "resources", "stats", "interval", "pidfd-socket", "memory", "pids-limit", "cpu-quota", "cpu-period", "cpu-share",
    "cpuset-cpus", "cpuset-mems", "memory-swap", "memory-reservation", "blkio-weight",
];

/// Flags that take a separate value, so the next argument is not a positional.
const VALUE_FLAGS: &[&str] = &[
    "--root", "--log", "--log-format", "--bundle", "-b", "--pid-file", "--console-socket", "--preserve-fds",
    "--format", "-f", "--rootless", "--process", "-p", "--cwd", "--env", "-e", "--user", "-u",
    "--additional-gids", "-g", "--process-label", "--apparmor", "--cap", "-c", "--cgroup",
    "--resources", "-r", "--interval", "--pidfd-socket",
];

pub fn normalize(argv: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut positionals = 0;
    let mut expect_value = false;
    let mut after_rootless = false;
    let mut verb = String::new();
    for (i, a) in argv.into_iter().enumerate() {
        if i == 0 || (positionals >= 2 && verb == "exec") {
            out.push(a);
            continue;
        }
        if expect_value || (after_rootless && matches!(a.as_str(), "true" | "false" | "auto")) {
            expect_value = false;
            after_rootless = false;
            out.push(a);
            continue;
        }
        after_rootless = false;
        let a = match a.strip_prefix('-') {
            Some(rest) if !rest.starts_with('-') && rest.len() > 1 => {
                let name = rest.split('=').next().unwrap_or(rest);
                if LONG_FLAGS.contains(&name) {
                    format!("-{a}")
                } else {
                    a
                }
            }
            _ => a,
        };
        if a.starts_with('-') {
            // `--rootless` takes an optional value: only true/false/auto count as its value.
            expect_value = VALUE_FLAGS.contains(&a.as_str()) && a != "--rootless";
            after_rootless = a == "--rootless";
        } else {
            // The verb, then the id: after those, `run`'s or `exec`'s arguments are left alone.
            positionals += 1;
            if positionals == 1 {
                verb = a.clone();
            }
        }
        out.push(a);
    }
    out
}

/// The verb of a normalised command line: its first positional argument, skipping flags and
/// their values (`--rootless` takes only true, false or auto as its value).
pub fn verb(argv: &[String]) -> Option<&str> {
    let mut it = argv.iter().skip(1).peekable();
    while let Some(a) = it.next() {
        if a == "--rootless" {
            if it.peek().is_some_and(|v| matches!(v.as_str(), "true" | "false" | "auto")) {
                it.next();
            }
        } else if VALUE_FLAGS.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{normalize, verb};

    #[test]
    fn the_verb_is_the_first_positional() {
        let v = |a: &[&str]| verb(&n(a)).map(String::from);
        assert_eq!(v(&["hull", "--root", "run", "-log", "/l", "exec", "run", "x"]).as_deref(), Some("exec"));
        assert_eq!(v(&["hull", "--rootless", "true", "--debug", "create", "x"]).as_deref(), Some("create"));
        assert_eq!(v(&["hull", "--rootless", "state", "x"]).as_deref(), Some("state"));
        assert_eq!(v(&["hull", "--debug"]), None);
    }

    fn n(v: &[&str]) -> Vec<String> {
        normalize(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn single_dash_long_flags_become_double() {
        assert_eq!(n(&["hull", "-root", "/x", "create", "-bundle", "b", "id"]), n(&["hull", "--root", "/x", "create", "--bundle", "b", "id"]));
        assert_eq!(n(&["hull", "-log-format=json", "state", "x"])[1], "--log-format=json");
    }

    #[test]
    fn short_flags_and_unknown_words_stay() {
        assert_eq!(n(&["hull", "kill", "-a", "x", "9"])[2], "-a");
        assert_eq!(n(&["hull", "-x"])[1], "-x");
    }

    #[test]
    fn a_rootless_value_is_not_the_verb() {
        let v = n(&["hull", "--rootless", "true", "exec", "id", "ls", "-all"]);
        assert_eq!(v[6], "-all", "the container's arguments must stay as they are: {v:?}");
    }

    #[test]
    fn arguments_after_the_id_are_untouched() {
        let v = n(&["hull", "exec", "id", "ls", "-all"]);
        assert_eq!(v[4], "-all");
        assert_eq!(n(&["hull", "create", "id", "-bundle", "b"])[3], "--bundle");
    }
}
