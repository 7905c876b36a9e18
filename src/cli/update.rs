//! `update`: change a container's resource limits in place, from flags or from LinuxResources
//! JSON (`--resources FILE`, `-` for stdin, as containerd and podman send).

use std::io::Read;

use clap::Args;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use super::units::parse_memory_size;
use super::Globals;
use crate::cgroups::Cgroup;
use crate::container::{ContainerDir, Status};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_share: Option<u64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (docker units: 64m, 1g; -1 unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

fn read_resources(src: &str) -> Result<Value> {
    let text = if src == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Error::Other(format!("read resources from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(src).map_err(|e| Error::io("read", src, e))?
    };
    serde_json::from_str(&text).map_err(|e| Error::Other(format!("resources {src:?}: {e}")))
}

fn mem(flag: &str, v: &Option<String>) -> Result<Option<i64>> {
    v.as_deref()
        .map(|s| parse_memory_size(s).ok_or_else(|| Error::Usage(format!("--{flag} {s:?}: not a memory size"))))
        .transpose()
}

fn set(obj: &mut Map<String, Value>, section: &str, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        let s = obj.entry(section).or_insert_with(|| json!({}));
        s[key] = v;
    }
}

/// The resources to apply: the JSON (if any) with the flags on top.
fn build(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut v = match &a.resources {
        Some(src) => read_resources(src)?,
        None => json!({}),
    };
    let obj = v.as_object_mut().ok_or_else(|| Error::Usage("resources must be a JSON object".into()))?;
    set(obj, "blockIO", "weight", a.blkio_weight.map(Value::from));
    set(obj, "cpu", "period", a.cpu_period.map(Value::from));
    set(obj, "cpu", "quota", a.cpu_quota.map(Value::from));
    set(obj, "cpu", "shares", a.cpu_share.map(Value::from));
    set(obj, "cpu", "realtimePeriod", a.cpu_rt_period.map(Value::from));
    set(obj, "cpu", "realtimeRuntime", a.cpu_rt_runtime.map(Value::from));
    set(obj, "cpu", "cpus", a.cpuset_cpus.clone().map(Value::from));
    set(obj, "cpu", "mems", a.cpuset_mems.clone().map(Value::from));
    set(obj, "memory", "limit", mem("memory", &a.memory)?.map(Value::from));
    set(obj, "memory", "reservation", mem("memory-reservation", &a.memory_reservation)?.map(Value::from));
    set(obj, "memory", "swap", mem("memory-swap", &a.memory_swap)?.map(Value::from));
    set(obj, "memory", "kernel", mem("kernel-memory", &a.kernel_memory)?.map(Value::from));
    set(obj, "memory", "kernelTCP", mem("kernel-memory-tcp", &a.kernel_memory_tcp)?.map(Value::from));
    set(obj, "pids", "limit", a.pids_limit.map(Value::from));
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err(Error::Usage("Intel RDT is not available on this host".into()));
    }
    let text = v.to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Other(format!("resources: {}: {}", e.path(), e.inner())))
}

pub fn run(g: &Globals, a: UpdateArgs) -> Result<()> {
    let res = build(&a)?;
    let dir = ContainerDir::open(&g.root, &a.id)?;
    let state = dir.load()?;
    if dir.status(&state) == Status::Stopped {
        return Err(Error::WrongState("container not running".into()));
    }
    Cgroup::open_managed(&state.cgroup, &state.id)?.update(&res)
}
