//! `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result};

/// The type setrlimit(2) takes its resource as: glibc and musl differ.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(t: PosixRlimitType) -> (Resource, &'static str) {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    }
}

/// Set every configured limit on the calling process (inherited by the container process).
pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let (res, name) = resource(l.typ());
        let lim = libc::rlimit { rlim_cur: l.soft(), rlim_max: l.hard() };
        // SAFETY: setrlimit reads a fully initialised rlimit.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            let e = nix::errno::Errno::last();
            let value = if l.soft() == l.hard() { l.soft().to_string() } else { format!("{}:{}", l.soft(), l.hard()) };
            if e == nix::errno::Errno::EPERM {
                // Only a hard limit above the current one is refused: it needs CAP_SYS_RESOURCE
                // in the initial user namespace (a rootless runtime, or one without that
                // capability, has its caller's hard limit as the ceiling).
                let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                // SAFETY: getrlimit writes the rlimit it is given.
                unsafe { libc::getrlimit(res, &mut cur) };
                return Err(Error::Other(format!(
                    "setrlimit {name} {value}: operation not permitted: the hard limit {} is above the runtime's {}, and raising it needs CAP_SYS_RESOURCE in the host's user namespace",
                    l.hard(),
                    cur.rlim_max
                )));
            }
            return Err(Error::sys(format!("setrlimit {name} {value}"), e));
        }
    }
    Ok(())
}
