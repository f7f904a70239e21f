//! Child processes (drivers, browsers, servers) that never outlive the harness.
//!
//! Each child starts in a process group of its own, so everything it starts in turn (a driver's
//! browser and the browser's helpers) can be killed with one signal. Groups are registered in a
//! process-wide list: dropping a [`ChildGroup`] kills its group, and [`kill_all`] (called on Ctrl-C)
//! kills every group still alive. Children also ask the kernel to kill them if the harness dies
//! without a chance to clean up.

use std::collections::HashSet;
use std::io;
use std::sync::Mutex;

use tokio::process::{Child, Command};

static LIVE_GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Set in the environment of every child (and so of everything it starts: a driver's browser and
/// the browser's helper processes) to the harness's pid, so leftovers can be found precisely.
pub const OWNER_ENV: &str = "RTC_INTEROP_OWNER";

/// Processes still running that were started (directly or not) by harness process `owner`.
pub fn leftovers_of(owner: u32) -> Vec<String> {
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

/// A spawned child and its process group.
pub struct ChildGroup {
    name: String,
    child: Child,
    pgid: i32,
}

impl ChildGroup {
    /// Starts `command` in a new process group. `name` is used in error messages.
    pub fn spawn(name: &str, mut command: Command) -> io::Result<ChildGroup> {
        command
            .process_group(0)
            .kill_on_drop(true)
            .env(OWNER_ENV, std::process::id().to_string());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {name}: {e}")))?;
        let pgid = child
            .id()
            .ok_or_else(|| io::Error::other(format!("{name} exited at once")))?
            as i32;
        LIVE_GROUPS
            .lock()
            .unwrap()
            .get_or_insert_with(HashSet::new)
            .insert(pgid);
        Ok(ChildGroup {
            name: name.to_string(),
            child,
            pgid,
        })
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id of the direct child.
    pub fn pid(&self) -> i32 {
        self.pgid
    }

    /// Whether the direct child has exited (and how), without waiting.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the whole group and reaps the direct child.
    pub fn kill(&mut self) {
        kill_group(self.pgid);
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: plain syscall; a group that is already gone yields ESRCH, which is fine.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    if let Some(groups) = LIVE_GROUPS.lock().unwrap().as_mut() {
        groups.remove(&pgid);
    }
}

/// Kills every process group this process started and has not killed yet (for Ctrl-C).
pub fn kill_all() {
    let groups: Vec<i32> = LIVE_GROUPS
        .lock()
        .unwrap()
        .as_ref()
        .map(|g| g.iter().copied().collect())
        .unwrap_or_default();
    for pgid in groups {
        kill_group(pgid);
    }
}
