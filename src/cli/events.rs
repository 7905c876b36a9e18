//! `events`: container statistics once (`--stats`) or every `--interval`, plus OOM events, in
//! the JSON shape of runc's `types/events.go`.

use std::time::{Duration, Instant};

use clap::Args;
use libcgroups::stats::Stats;
use serde_json::{json, Value};

use super::units::parse_go_duration;
use super::Globals;
use crate::cgroups::Cgroup;
use crate::container::{derive_status, validate_id, State, Status};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print statistics once and exit
    #[arg(long)]
    pub stats: bool,
    /// Interval between statistics (Go duration: 5s, 100ms)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Container id
    pub id: String,
}

fn blkio_list(v: &[libcgroups::stats::BlkioDeviceStat]) -> Value {
    Value::from(
        v.iter()
            .map(|d| json!({"major": d.major, "minor": d.minor, "op": d.op_type.clone().unwrap_or_default(), "value": d.value}))
            .collect::<Vec<_>>(),
    )
}

/// runc's `types.Stats` from libcgroups' statistics.
pub fn stats_json(s: &Stats) -> Value {
    let mem = |m: &libcgroups::stats::MemoryData| json!({"limit": m.limit, "usage": m.usage, "max": m.max_usage, "failcnt": m.fail_count});
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(k, h)| (k.clone(), json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count})))
        .collect();
    json!({
        "cpu": {
            "usage": {
                "total": s.cpu.usage.usage_total,
                "percpu": s.cpu.usage.per_core_usage_total,
                "percpu_kernel": s.cpu.usage.per_core_usage_kernel,
                "percpu_user": s.cpu.usage.per_core_usage_user,
                "kernel": s.cpu.usage.usage_kernel,
                "user": s.cpu.usage.usage_user,
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttled_periods": s.cpu.throttling.throttled_periods,
                "throttled_time": s.cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem(&s.memory.memory),
            "swap": mem(&s.memory.memswap),
            "kernel": mem(&s.memory.kernel),
            "kernelTCP": mem(&s.memory.kernel_tcp),
            "raw": s.memory.stats,
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blkio_list(&s.blkio.service_bytes),
            "ioServicedRecursive": blkio_list(&s.blkio.serviced),
            "ioQueueRecursive": blkio_list(&s.blkio.queued),
            "ioServiceTimeRecursive": blkio_list(&s.blkio.service_time),
            "ioWaitTimeRecursive": blkio_list(&s.blkio.wait_time),
            "ioMergedRecursive": blkio_list(&s.blkio.merged),
            "ioTimeRecursive": blkio_list(&s.blkio.time),
            "sectorsRecursive": blkio_list(&s.blkio.sectors),
        },
        "hugetlb": hugetlb,
    })
}

/// The OOM-kill counter of the container's memory cgroup (v1 memory.oom_control, v2
/// memory.events).
fn oom_kills(state: &State) -> u64 {
    let rel = state.cgroup.rel();
    for (file, key) in [
        (std::path::Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control"), "oom_kill"),
        (std::path::Path::new("/sys/fs/cgroup").join(rel).join("memory.events"), "oom_kill"),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
                .unwrap_or(0);
        }
    }
    0
}

/// Write one event line; false once the reader has gone (the stream then ends quietly).
fn emit(v: Value) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").and_then(|()| out.flush()).is_ok()
}

fn print_stats(cg: &Cgroup, id: &str) -> Result<bool> {
    let stats = cg.stats()?;
    Ok(emit(json!({"type": "stats", "id": id, "data": stats_json(&stats)})))
}

pub fn run(g: &Globals, a: EventsArgs) -> Result<()> {
    validate_id(&a.id)?;
    let dir = g.root.join(&a.id);
    let state = State::load(&dir)?;
    if derive_status(&dir, &state) == Status::Stopped {
        return Err(Error::WrongState("container not running".into()));
    }
    let cg = Cgroup::open(&state.cgroup, &state.id)?;
    if a.stats {
        return print_stats(&cg, &a.id).map(|_| ());
    }
    let interval = parse_go_duration(&a.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::Usage(format!("--interval {:?}: expected a duration such as 5s", a.interval)))?;
    let mut ooms = oom_kills(&state);
    let mut next = Instant::now();
    // OOM kills are checked often; statistics every interval. The stream ends with the container.
    loop {
        if Instant::now() >= next {
            if !print_stats(&cg, &a.id)? {
                return Ok(());
            }
            next += interval;
        }
        let now = oom_kills(&state);
        if now > ooms {
            if !emit(json!({"type": "oom", "id": a.id})) {
                return Ok(());
            }
            ooms = now;
        }
        if derive_status(&dir, &state) == Status::Stopped {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100).min(interval));
    }
}
