//! What a harness process leaves on the machine, and removing what dead ones left.
//!
//! Every process the harness starts (drivers, browsers and their helpers, coturn) carries its
//! owner's identity in its environment ([`OWNER_ENV`], [`OWNER_START_ENV`]), and every temporary
//! file goes into the owner's run folder (`$TMPDIR/rtc-interop-run-<pid>-<start>`, which is also
//! the children's `TMPDIR`, so even a browser's own temporary folders land there). A process
//! killed with `kill -9` cannot clean up: its driver dies with it (parent-death signal) but the
//! browser the driver started lives on. [`sweep`] finds such leftovers by their owner, which is
//! gone, and removes them; a new run and `rtc-interop clean` call it.
//!
//! An owner is a pid *and* its start time, so a pid the kernel reuses is never mistaken for a
//! live owner.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Set in every child's environment (and so in everything it starts) to the harness's pid.
pub const OWNER_ENV: &str = "RTC_INTEROP_OWNER";
/// Set beside [`OWNER_ENV`] to the harness's start time (clock ticks since boot).
pub const OWNER_START_ENV: &str = "RTC_INTEROP_OWNER_START";

const RUN_FOLDER_PREFIX: &str = "rtc-interop-run-";

/// A harness process: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Its process id.
    pub pid: u32,
    /// When it started, in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether the process is still running (the same one, not a reuse of its pid).
    pub fn is_alive(&self) -> bool {
        start_time(self.pid).is_some_and(|start| start == self.start)
    }

    /// The name of its run folder.
    fn run_folder_name(&self) -> String {
        format!("{RUN_FOLDER_PREFIX}{}-{}", self.pid, self.start)
    }
}

/// What `/proc/<pid>/stat` says of a process that this module needs.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    /// Field 3: `Z` for a zombie.
    state: char,
    /// Field 5: its process group.
    group: u32,
    /// Field 22: clock ticks since boot.
    start: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3.
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        group: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The start time of process `pid`, if it runs.
fn start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|s| s.start)
}

static RUN_FOLDER: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// This process's run folder, created (private to this user) on first use and removed when the
/// process exits.
pub fn run_folder() -> Result<&'static Path, String> {
    RUN_FOLDER
        .get_or_init(|| {
            let path = std::env::temp_dir().join(Owner::me().run_folder_name());
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(|e| format!("cannot create the run folder {}: {e}", path.display()))?;
            // SAFETY: registers a plain extern "C" function; it runs once, at process exit.
            unsafe {
                libc::atexit(remove_run_folder_at_exit);
            }
            Ok(path)
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

extern "C" fn remove_run_folder_at_exit() {
    if let Some(Ok(path)) = RUN_FOLDER.get() {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// Processes still running that were started (directly or not) by harness process `owner`.
pub fn running_under(owner: u32) -> Vec<String> {
    let marker = format!("{OWNER_ENV}={owner}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
        })
        .map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                cmdline.trim()
            )
        })
        .collect()
}

/// What [`sweep`] removed.
#[derive(Debug, Default)]
pub struct Removed {
    /// Processes killed: pid and command name.
    pub processes: Vec<(u32, String)>,
    /// Run folders removed, with their size in bytes.
    pub folders: Vec<(PathBuf, u64)>,
    /// Network namespaces and interfaces removed.
    pub namespaces: Vec<String>,
    /// What could not be removed, and why.
    pub problems: Vec<String>,
}

impl Removed {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.folders.is_empty()
            && self.namespaces.is_empty()
            && self.problems.is_empty()
    }

    /// One line per kind of thing removed, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.processes.is_empty() {
            let names: Vec<String> = self
                .processes
                .iter()
                .map(|(pid, name)| format!("{name} ({pid})"))
                .collect();
            lines.push(format!(
                "killed {} process(es): {}",
                self.processes.len(),
                names.join(", ")
            ));
        }
        for (folder, bytes) in &self.folders {
            lines.push(format!(
                "removed {} ({:.1} MB)",
                folder.display(),
                *bytes as f64 / 1e6
            ));
        }
        if !self.namespaces.is_empty() {
            lines.push(format!(
                "removed network namespaces and interfaces: {}",
                self.namespaces.join(", ")
            ));
        }
        lines.extend(
            self.problems
                .iter()
                .map(|p| format!("could not clean up: {p}")),
        );
        lines
    }
}

/// Kills the processes and removes the run folders of harness processes that are gone and kept
/// their run folder in this process's temporary folder (`$TMPDIR`), and removes stale network
/// namespaces. Live runs (this one included) are left alone, and so are dead runs of another
/// `$TMPDIR`: whoever runs with that one sweeps them (a test isolating its own killed runs, two
/// CI jobs sharing a machine).
pub fn sweep() -> Removed {
    let mut removed = Removed::default();
    let temp = std::env::temp_dir();
    kill_orphans(&temp, &mut removed);
    remove_dead_run_folders(&temp, &mut removed);
    match crate::net::netns::sweep_stale(crate::net::netns::PREFIX) {
        Ok(names) => removed.namespaces = names,
        Err(crate::net::netns::NetnsError::Unavailable { .. }) => {}
        Err(e) => removed.problems.push(e.to_string()),
    }
    removed
}

/// Who started a process, as its environment says.
#[derive(Debug, PartialEq, Eq)]
struct Ownership {
    owner: Owner,
    /// The temporary folder holding the owner's run folder, when the process's `TMPDIR` is that
    /// run folder (as [`crate::process`] sets it).
    temp: Option<PathBuf>,
}

impl Ownership {
    /// Whether a sweep with temporary folder `temp` removes the process: its owner is gone and
    /// kept its run folder there (or the process no longer says where).
    fn is_orphan_in(&self, temp: &Path, me: Owner) -> bool {
        self.owner != me && !self.owner.is_alive() && self.temp.as_deref().is_none_or(|t| t == temp)
    }
}

/// The owner recorded in process `pid`'s environment, if a harness started it.
fn ownership_of(pid: u32) -> Option<Ownership> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let text = |name: &str| {
        let prefix = format!("{name}=");
        environ
            .split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(prefix.as_bytes()))
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let number = |name: &str| text(name)?.parse::<u64>().ok();
    let pid = u32::try_from(number(OWNER_ENV)?).ok()?;
    let owner = Owner {
        pid,
        // A process from a harness that did not record its start time: only the pid counts.
        start: number(OWNER_START_ENV).or_else(|| start_time(pid))?,
    };
    let temp = text("TMPDIR")
        .map(Path::new)
        .filter(|run_folder| run_folder.file_name() == Some(owner.run_folder_name().as_ref()))
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    Some(Ownership { owner, temp })
}

/// Kills every process a dead owner of temporary folder `temp` left: those carrying its name, and
/// their process groups (a browser's helper processes run with a cleared environment but stay in
/// the driver's group).
fn kill_orphans(temp: &Path, removed: &mut Removed) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = Owner::me();
    let pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    let orphans: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|&pid| ownership_of(pid).is_some_and(|o| o.is_orphan_in(temp, me)))
        .collect();
    let own_group = proc_stat(me.pid).map(|s| s.group);
    let groups: std::collections::HashSet<u32> = orphans
        .iter()
        .filter_map(|&pid| proc_stat(pid).map(|s| s.group))
        .filter(|&group| group > 1 && Some(group) != own_group)
        .collect();
    let mut killed = Vec::new();
    for pid in pids {
        let Some(stat) = proc_stat(pid) else { continue };
        if stat.state == 'Z' || !(orphans.contains(&pid) || groups.contains(&stat.group)) {
            continue;
        }
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map_or_else(|_| "?".into(), |n| n.trim().to_string());
        // SAFETY: plain syscall on a process whose owner is gone.
        if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
            removed.processes.push((pid, name));
            killed.push(pid);
        }
    }
    // Dying processes may still write into their run folder: let them go first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while killed
        .iter()
        .any(|&pid| proc_stat(pid).is_some_and(|s| s.state != 'Z'))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn remove_dead_run_folders(temp: &Path, removed: &mut Removed) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = parse_run_folder_name(&name) else {
            continue;
        };
        if owner.is_alive() {
            continue;
        }
        let path = entry.path();
        let bytes = size_of(&path);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.folders.push((path, bytes)),
            Err(e) => removed
                .problems
                .push(format!("cannot remove {}: {e}", path.display())),
        }
    }
}

/// The owner in a run folder's name, `rtc-interop-run-<pid>-<start>`.
fn parse_run_folder_name(name: &str) -> Option<Owner> {
    let (pid, start) = name.strip_prefix(RUN_FOLDER_PREFIX)?.split_once('-')?;
    Some(Owner {
        pid: pid.parse().ok()?,
        start: start.parse().ok()?,
    })
}

/// Bytes in the files under `path` (symlinks not followed).
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_a_live_owner_and_a_changed_start_time_is_not() {
        let me = Owner::me();
        assert!(me.start > 0);
        assert!(me.is_alive());
        let reused = Owner {
            start: me.start + 1,
            ..me
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn run_folder_names_round_trip() {
        let owner = Owner {
            pid: 4321,
            start: 987654,
        };
        assert_eq!(parse_run_folder_name(&owner.run_folder_name()), Some(owner));
        assert_eq!(parse_run_folder_name("rtc-interop-run-12"), None);
        assert_eq!(parse_run_folder_name("rtc-interop-profiles-x"), None);
    }

    #[test]
    fn a_dead_owners_process_is_killed_by_a_sweep_of_its_own_temporary_folder_only() {
        use std::os::unix::process::CommandExt;
        let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dead = Owner {
            pid: std::process::id(),
            start: Owner::me().start + 1,
        };
        let mut orphan = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .env(OWNER_ENV, dead.pid.to_string())
            .env(OWNER_START_ENV, dead.start.to_string())
            .env("TMPDIR", theirs.path().join(dead.run_folder_name()))
            .spawn()
            .unwrap();
        let pid = orphan.id();
        // `spawn` returns before the child's exec: its environment is the parent's until then.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while ownership_of(pid).is_none_or(|o| o.owner != dead) {
            assert!(
                std::time::Instant::now() < deadline,
                "no sleep with its owner"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            ownership_of(pid).unwrap().temp.as_deref(),
            Some(theirs.path())
        );

        let mut removed = Removed::default();
        kill_orphans(ours.path(), &mut removed);
        assert!(
            removed.processes.iter().all(|(p, _)| *p != pid),
            "{removed:?}"
        );
        assert_eq!(orphan.try_wait().unwrap(), None);

        kill_orphans(theirs.path(), &mut removed);
        assert!(
            removed.processes.contains(&(pid, "sleep".into())),
            "{removed:?}"
        );
        assert!(orphan.wait().unwrap().code().is_none());
    }

    #[test]
    fn only_folders_of_dead_owners_are_removed() {
        let temp = tempfile::tempdir().unwrap();
        let dead = Owner {
            pid: std::process::id(),
            start: Owner::me().start + 1,
        };
        let dead_folder = temp.path().join(dead.run_folder_name());
        std::fs::create_dir_all(dead_folder.join(".org.chromium.Chromium.abc")).unwrap();
        std::fs::write(dead_folder.join("profile"), [0u8; 1000]).unwrap();
        let live_folder = temp.path().join(Owner::me().run_folder_name());
        std::fs::create_dir(&live_folder).unwrap();
        let other = temp.path().join("something-else");
        std::fs::create_dir(&other).unwrap();

        let mut removed = Removed::default();
        remove_dead_run_folders(temp.path(), &mut removed);
        assert_eq!(removed.folders, vec![(dead_folder.clone(), 1000)]);
        assert!(!dead_folder.exists());
        assert!(live_folder.exists() && other.exists());
        assert!(
            removed.lines()[0].ends_with("(0.0 MB)"),
            "{:?}",
            removed.lines()
        );
    }
}
