//! Limits per demo: which mechanism the host offers (cgroup v2 with a delegated subtree, cgroup v1, rlimits), and the jail's arguments that apply it to one demo.
//!
//! Pure but for `detect` (reads /proc and the cgroup mounts, and on v2
//! makes the delegated subtree usable) and `remove` (removes a demo's
//! cgroups). What runs the limits is `jail.rs`, in the demo's own process.

use std::path::{Path, PathBuf};

use protocol::DemoLimits;

/// How the kernel holds demos to their limits on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// A cgroup v2 subtree delegated to showroomd (`Delegate=yes`): one leaf
    /// a demo under `demos`, with `memory.max` and `pids.max`.
    CgroupV2 { demos: PathBuf },
    /// cgroup v1's memory and pids hierarchies, writable by root: one
    /// cgroup a demo under each of these.
    CgroupV1 { memory: PathBuf, pids: PathBuf },
    /// Neither: `RLIMIT_AS` for memory (address space, not resident memory)
    /// and `RLIMIT_NPROC` for processes (counted per uid: every demo runs as
    /// the same account, so they share it).
    Rlimits,
}

/// One line for the start-up log: which mechanism, and why.
impl std::fmt::Display for Enforcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Enforcement::CgroupV2 { demos } => write!(
                f,
                "demo limits: cgroup v2 (delegated subtree {}): memory.max, pids.max",
                demos.display()
            ),
            Enforcement::CgroupV1 { memory, pids } => write!(
                f,
                "demo limits: cgroup v1 (memory under {}, pids under {})",
                memory.display(),
                pids.display()
            ),
            Enforcement::Rlimits => write!(
                f,
                "demo limits: rlimits (no writable cgroup v2 subtree with memory and pids, nor cgroup v1): memory as RLIMIT_AS per process, processes as RLIMIT_NPROC shared by every demo of the account"
            ),
        }
    }
}

impl Enforcement {
    /// Finds the best mechanism the host offers to this process. `key`
    /// tells apart the showroomds of one host (each state folder its own
    /// subtree): demos of the same name under two of them never share a cgroup.
    pub fn detect(key: &str) -> (Enforcement, Option<String>) {
        let mut why_not = Vec::new();
        match v2_subtree() {
            Ok(demos) => return (Enforcement::CgroupV2 { demos }, None),
            Err(e) => why_not.push(format!("cgroup v2: {e}")),
        }
        match v1_dirs(key) {
            Ok((memory, pids)) => return (Enforcement::CgroupV1 { memory, pids }, None),
            Err(e) => why_not.push(format!("cgroup v1: {e}")),
        }
        (Enforcement::Rlimits, Some(why_not.join("; ")))
    }

    /// The jail's arguments for one demo (see `jail.rs`): the cgroups to make,
    /// their limits and join, and where its memory-limit deaths are counted.
    pub fn jail_args(&self, name: &str, limits: &DemoLimits) -> Vec<String> {
        let mut out = Vec::new();
        let mut set = |dir: &Path, file: &str, value: String| {
            out.push("--set".to_owned());
            out.push(format!("{}={value}", dir.join(file).display()));
        };
        match self {
            Enforcement::CgroupV2 { demos } => {
                let dir = demos.join(name);
                if let Some(m) = limits.memory {
                    set(&dir, "memory.max", m.to_string());
                    // No swap to hide in: the limit is the memory it has.
                    set(&dir, "memory.swap.max", "0".into());
                }
                if let Some(p) = limits.procs {
                    set(&dir, "pids.max", p.to_string());
                }
                let mut args = vec!["--cgroup".into(), dir.display().to_string()];
                args.extend(out);
                args.extend([
                    "--oom-events".into(),
                    dir.join("memory.events").display().to_string(),
                ]);
                args
            }
            Enforcement::CgroupV1 { memory, pids } => {
                let (m, p) = (memory.join(name), pids.join(name));
                if let Some(bytes) = limits.memory {
                    set(&m, "memory.limit_in_bytes", bytes.to_string());
                }
                if let Some(n) = limits.procs {
                    set(&p, "pids.max", n.to_string());
                }
                let mut args = vec![
                    "--cgroup".into(),
                    m.display().to_string(),
                    "--cgroup".into(),
                    p.display().to_string(),
                ];
                args.extend(out);
                args.extend([
                    "--oom-events".into(),
                    m.join("memory.oom_control").display().to_string(),
                ]);
                args
            }
            Enforcement::Rlimits => vec![],
        }
    }

    /// `prlimit`'s options for the demo's own process (and so every child):
    /// open files always; memory and processes only where no cgroup holds them.
    pub fn prlimit_opts(&self, limits: &DemoLimits) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(n) = limits.nofile {
            out.push(format!("--nofile={n}:{n}"));
        }
        if *self == Enforcement::Rlimits {
            if let Some(m) = limits.memory {
                out.push(format!("--as={m}:{m}"));
            }
            if let Some(p) = limits.procs {
                out.push(format!("--nproc={p}:{p}"));
            }
        }
        out
    }

    /// A demo's cgroups.
    pub fn dirs(&self, name: &str) -> Vec<PathBuf> {
        match self {
            Enforcement::CgroupV2 { demos } => vec![demos.join(name)],
            Enforcement::CgroupV1 { memory, pids } => vec![memory.join(name), pids.join(name)],
            Enforcement::Rlimits => vec![],
        }
    }

    /// Removes a demo's cgroups (with the demo, or its deploy rolled back),
    /// trying for up to `within`: the kernel refuses while a process of it
    /// (its jail, pasta) is still on its way out. Blocking.
    pub fn remove(&self, name: &str, within: std::time::Duration) {
        let start = std::time::Instant::now();
        for d in self.dirs(name) {
            loop {
                match std::fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) if start.elapsed() < within => {
                        std::thread::sleep(std::time::Duration::from_millis(50))
                    }
                    Err(e) => {
                        tracing::warn!(demo = name, cgroup = %d.display(), error = %e, "cannot remove the demo's cgroup");
                        break;
                    }
                }
            }
        }
    }
}

/// The demo's limits with the config's defaults where it set none.
pub fn effective(own: &DemoLimits, defaults: &DemoLimits) -> DemoLimits {
    DemoLimits {
        memory: own.memory.or(defaults.memory),
        procs: own.procs.or(defaults.procs),
        tmp_size: own.tmp_size.or(defaults.tmp_size),
        nofile: own.nofile.or(defaults.nofile),
    }
}

/// What `list`, `status` and `watch` say of a demo its memory limit killed.
pub fn oom_reason(limit: Option<u64>) -> String {
    match limit {
        Some(bytes) => format!("out of memory (limit {})", protocol::human_size(bytes)),
        None => "out of memory".into(),
    }
}

/// How many times the kernel's OOM killer struck in a cgroup, from v1's
/// `memory.oom_control` or v2's `memory.events` (both say `oom_kill N`).
pub fn oom_kills(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// This process's cgroup in the hierarchy whose line in /proc/self/cgroup
/// `pick` accepts (v1: it names the controller; v2: `0::`).
fn own_cgroup(pick: impl Fn(&str) -> bool) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        pick(controllers).then(|| path.to_owned())
    })
}

/// The mount points of cgroup file systems: (type, options, mount point).
fn cgroup_mounts() -> Vec<(String, String, PathBuf)> {
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dir, fstype, opts) = (f.get(1)?, f.get(2)?, f.get(3)?);
            fstype
                .starts_with("cgroup")
                .then(|| (fstype.to_string(), opts.to_string(), PathBuf::from(dir)))
        })
        .collect()
}

fn writable(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// v1: `<memory mount>/<own cgroup>/showroom-KEY` and the same under pids.
fn v1_dirs(key: &str) -> Result<(PathBuf, PathBuf), String> {
    let mounts = cgroup_mounts();
    let dir_for = |controller: &str| -> Result<PathBuf, String> {
        let (_, _, mnt) = mounts
            .iter()
            .find(|(t, o, _)| t == "cgroup" && o.split(',').any(|x| x == controller))
            .ok_or_else(|| format!("no {controller} hierarchy mounted"))?;
        let own = own_cgroup(|c| c.split(',').any(|x| x == controller)).unwrap_or_default();
        let base = mnt.join(own.trim_start_matches('/'));
        if !writable(&base) {
            return Err(format!("{} is not writable", base.display()));
        }
        Ok(base.join(format!("showroom-{key}")))
    };
    let (memory, pids) = (dir_for("memory")?, dir_for("pids")?);
    for d in [&memory, &pids] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    Ok((memory, pids))
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", p.display())
}

/// v2: this process's cgroup, when it offers memory and pids and is ours
/// to write (delegated). showroomd moves itself (and whatever else is in
/// it) into a leaf `showroomd`, since a cgroup that hands controllers to
/// its children may hold no process, and the demos get `demos/NAME`.
fn v2_subtree() -> Result<PathBuf, String> {
    let mnt = cgroup_mounts()
        .into_iter()
        .find(|(t, _, _)| t == "cgroup2")
        .map(|(_, _, m)| m)
        .ok_or("no cgroup2 file system mounted")?;
    let own = own_cgroup(|c| c.is_empty()).ok_or("this process has no cgroup v2")?;
    let mut base = mnt.join(own.trim_start_matches('/'));
    // A restarted showroomd finds itself in its own leaf: its parent is the subtree.
    if base.ends_with("showroomd") {
        base.pop();
    }
    let controllers = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    for c in ["memory", "pids"] {
        if !controllers.split_whitespace().any(|x| x == c) {
            return Err(format!(
                "{} offers no {c} controller (not delegated: the unit needs Delegate=yes)",
                base.display()
            ));
        }
    }
    if !writable(&base.join("cgroup.subtree_control")) || !writable(&base.join("cgroup.procs")) {
        return Err(format!("{} is not delegated to showroomd", base.display()));
    }
    let leaf = base.join("showroomd");
    std::fs::create_dir_all(&leaf).map_err(io(&leaf))?;
    let procs = std::fs::read_to_string(base.join("cgroup.procs")).map_err(io(&base))?;
    for pid in procs.split_whitespace() {
        // A process that ended meanwhile is no matter.
        let _ = std::fs::write(leaf.join("cgroup.procs"), pid);
    }
    let demos = base.join("demos");
    for dir in [&base, &demos] {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids")
            .map_err(io(&dir.join("cgroup.subtree_control")))?;
    }
    Ok(demos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kills_reads_v1_and_v2() {
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            3
        );
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_kills(""), 0);
    }

    #[test]
    fn reason_names_the_limit_as_given() {
        assert_eq!(oom_reason(Some(512 << 20)), "out of memory (limit 512M)");
        assert_eq!(oom_reason(Some(3 << 30)), "out of memory (limit 3G)");
    }

    #[test]
    fn v1_args_set_each_limit_in_its_own_hierarchy() {
        let e = Enforcement::CgroupV1 {
            memory: "/cg/memory/showroom-k".into(),
            pids: "/cg/pids/showroom-k".into(),
        };
        let limits = DemoLimits {
            memory: Some(512 << 20),
            procs: Some(200),
            tmp_size: None,
            nofile: Some(1024),
        };
        let args = e.jail_args("d", &limits).join(" ");
        assert!(args.contains("--cgroup /cg/memory/showroom-k/d --cgroup /cg/pids/showroom-k/d"));
        assert!(args.contains("--set /cg/memory/showroom-k/d/memory.limit_in_bytes=536870912"));
        assert!(args.contains("--set /cg/pids/showroom-k/d/pids.max=200"));
        assert!(args.ends_with("--oom-events /cg/memory/showroom-k/d/memory.oom_control"));
        assert_eq!(e.prlimit_opts(&limits), vec!["--nofile=1024:1024"]);
        let r = Enforcement::Rlimits.prlimit_opts(&limits);
        assert_eq!(
            r,
            vec![
                "--nofile=1024:1024",
                "--as=536870912:536870912",
                "--nproc=200:200"
            ]
        );
    }
}
