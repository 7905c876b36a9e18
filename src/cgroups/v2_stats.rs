//! Statistics of a cgroup v2 directory from the controllers it has.
//!
//! libcgroups reads every controller's files and fails when one is not enabled in the cgroup:
//! the usual case for a systemd scope (systemd enables what the unit's settings need) and for a
//! subtree delegated to a rootless user. This reads what `cgroup.controllers` lists (cpu.stat is
//! always there) and leaves the rest zero, as runc does.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use libcgroups::stats::{BlkioDeviceStat, HugeTlbStats, MemoryData, Stats};

/// The cgroup's statistics; files that cannot be read count as zero.
pub fn read(dir: &Path) -> Stats {
    let mut s = Stats::default();
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    let cpu = flat_keyed(&dir.join("cpu.stat"));
    s.cpu.usage.usage_total = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
    s.cpu.usage.usage_user = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
    s.cpu.usage.usage_kernel = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
    s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = cpu.get("throttled_usec").copied().unwrap_or(0) * 1000;
    if has("memory") {
        let events = flat_keyed(&dir.join("memory.events"));
        s.memory.memory = MemoryData {
            usage: single(&dir.join("memory.current")),
            max_usage: single(&dir.join("memory.peak")),
            fail_count: events.get("max").copied().unwrap_or(0),
            limit: single(&dir.join("memory.max")),
        };
        s.memory.memswap = MemoryData {
            usage: single(&dir.join("memory.swap.current")),
            limit: single(&dir.join("memory.swap.max")),
            ..Default::default()
        };
        s.memory.stats = flat_keyed(&dir.join("memory.stat"));
        s.memory.cache = s.memory.stats.get("file").copied().unwrap_or(0);
    }
    if has("pids") {
        s.pids.current = single(&dir.join("pids.current"));
        // runc reports an unlimited pids.max as 0.
        s.pids.limit = match single(&dir.join("pids.max")) {
            u64::MAX => 0,
            n => n,
        };
    }
    if has("io") {
        for line in fs::read_to_string(dir.join("io.stat")).unwrap_or_default().lines() {
            let mut f = line.split_whitespace();
            let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else { continue };
            let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else { continue };
            for kv in f {
                let Some((k, v)) = kv.split_once('=') else { continue };
                let value = v.parse().unwrap_or(0);
                let stat = |op: &str| BlkioDeviceStat { major, minor, op_type: Some(op.to_string()), value };
                match k {
                    "rbytes" => s.blkio.service_bytes.push(stat("Read")),
                    "wbytes" => s.blkio.service_bytes.push(stat("Write")),
                    "rios" => s.blkio.serviced.push(stat("Read")),
                    "wios" => s.blkio.serviced.push(stat("Write")),
                    _ => {}
                }
            }
        }
    }
    if has("hugetlb") {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(size) = name.strip_prefix("hugetlb.").and_then(|n| n.strip_suffix(".current")) else { continue };
            let events = flat_keyed(&dir.join(format!("hugetlb.{size}.events")));
            s.hugetlb.insert(
                size.to_string(),
                HugeTlbStats { usage: single(&e.path()), max_usage: 0, fail_count: events.get("max").copied().unwrap_or(0) },
            );
        }
    }
    s
}

/// A one-value file; "max" reads as u64::MAX, anything unreadable as 0.
fn single(p: &Path) -> u64 {
    match fs::read_to_string(p).map(|t| t.trim().to_string()) {
        Ok(t) if t == "max" => u64::MAX,
        Ok(t) => t.parse().unwrap_or(0),
        Err(_) => 0,
    }
}

/// A flat-keyed file ("key value" lines).
fn flat_keyed(p: &Path) -> HashMap<String, u64> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::read;

    #[test]
    fn reads_only_the_controllers_the_cgroup_has() {
        let d = std::env::temp_dir().join(format!("hull-v2-stats-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let w = |f: &str, t: &str| std::fs::write(d.join(f), t).unwrap();
        w("cgroup.controllers", "memory pids");
        w("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n");
        w("memory.current", "4096\n");
        w("memory.max", "max\n");
        w("memory.events", "low 0\nhigh 0\nmax 2\noom 0\noom_kill 0\n");
        w("memory.stat", "anon 1024\nfile 2048\n");
        w("pids.current", "3\n");
        w("pids.max", "max\n");
        // Present but not enabled here: not read.
        w("hugetlb.2MB.current", "999\n");
        let s = read(&d);
        assert_eq!((s.cpu.usage.usage_total, s.cpu.usage.usage_user, s.cpu.usage.usage_kernel), (1_500_000, 1_000_000, 500_000));
        assert_eq!((s.cpu.throttling.periods, s.cpu.throttling.throttled_periods, s.cpu.throttling.throttled_time), (3, 1, 7000));
        assert_eq!((s.memory.memory.usage, s.memory.memory.limit, s.memory.memory.fail_count, s.memory.cache), (4096, u64::MAX, 2, 2048));
        assert_eq!((s.pids.current, s.pids.limit), (3, 0));
        assert!(s.hugetlb.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
