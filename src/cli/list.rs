use clap::Args;

use super::state::shown_pid;
use super::Globals;
use crate::container::status::derive_status;
use crate::container::{list_dirs, list_ids, State};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Print only the container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// The user name of a uid from the host's /etc/passwd, read directly (hull is a static musl
/// binary: no NSS modules), as Go's os/user does for runc.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

pub fn run(g: &Globals, a: ListArgs) -> Result<()> {
    use std::io::Write;
    // One write for the whole listing, not one per line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.quiet {
        for id in list_ids(&g.root)? {
            let _ = writeln!(out, "{id}");
        }
        let _ = out.flush();
        return Ok(());
    }
    // One read of /etc/passwd per owner, not per container.
    let mut names: std::collections::HashMap<u32, Option<String>> = std::collections::HashMap::new();
    let mut rows = Vec::new();
    // Each state.json is opened below the root's descriptor, refusing symlinks; a directory
    // without one (a create still making it) is left out, as `list -q` leaves it out.
    let ids = list_dirs(&g.root)?;
    let root = match ids.is_empty() {
        true => None,
        false => Some(crate::linux::open_fd(&g.root, nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY).map_err(|e| Error::sys(format!("open state root {:?}", g.root), e))?),
    };
    for id in &ids {
        let Some(root) = root.as_ref().map(std::os::fd::AsFd::as_fd) else { break };
        let dir = g.root.join(id);
        let Ok((st, uid)) = State::load_summary_and_owner(root, &g.root, id) else { continue };
        let status = derive_status(&dir, &st);
        let owner = names.entry(uid).or_insert_with_key(|uid| user_name(*uid)).clone();
        rows.push((st, status, owner));
    }
    match a.format.as_str() {
        "json" => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|(st, status, owner)| {
                    let mut v = st.oci_json(status.as_str(), shown_pid(st, *status));
                    v["owner"] = owner.clone().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null);
                    v
                })
                .collect();
            let _ = writeln!(out, "{}", serde_json::to_string(&list).unwrap_or_else(|_| "[]".into()));
        }
        "table" => {
            let mut lines = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
            for (st, status, owner) in &rows {
                lines.push(vec![
                    st.id.clone(),
                    shown_pid(st, *status).to_string(),
                    status.as_str().to_string(),
                    st.bundle.display().to_string(),
                    st.created.clone(),
                    owner.clone().unwrap_or_else(|| "null".into()),
                ]);
            }
            let widths: Vec<usize> = (0..6).map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0)).collect();
            for l in lines {
                let cols: Vec<String> = l.iter().enumerate().map(|(i, c)| format!("{:w$}", c, w = widths[i])).collect();
                let _ = writeln!(out, "{}", cols.join("   ").trim_end());
            }
        }
        other => return Err(Error::Usage(format!("invalid format option {other:?}: expected table or json"))),
    }
    // A reader that went away (`hull list | head`) is not an error.
    let _ = out.flush();
    Ok(())
}
