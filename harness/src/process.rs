//! Child processes (drivers, browsers, servers) that never outlive the harness.
//!
//! Each child starts in a process group of its own, so everything it starts in turn (a driver's
//! browser and the browser's helpers) can be killed with one signal. Groups are registered in a
//! process-wide list: dropping a [`ChildGroup`] kills its group, and [`kill_all`] (called on Ctrl-C)
//! kills every group still alive. Children also ask the kernel to kill them if the harness dies
//! without a chance to clean up; what they started in turn is found and removed by the next run
//! (see [`crate::leftovers`]), by the owner each child carries in its environment.

use std::collections::HashSet;
use std::io;
use std::sync::Mutex;

use tokio::process::{Child, Command};

use crate::leftovers::{OWNER_ENV, OWNER_START_ENV, Owner};

static LIVE_GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// A spawned child and its process group.
pub struct ChildGroup {
    name: String,
    child: Child,
    pgid: i32,
}

impl ChildGroup {
    /// Starts `command` in a new process group. `name` is used in error messages.
    pub fn spawn(name: &str, mut command: Command) -> io::Result<ChildGroup> {
        let owner = Owner::me();
        // Temporary files of the child and of everything it starts (a browser's own folders
        // included) go into the run folder, which goes when the harness does.
        let run_folder = crate::leftovers::run_folder()
            .map_err(|e| io::Error::other(format!("cannot start {name}: {e}")))?;
        command
            .process_group(0)
            .kill_on_drop(true)
            .env(OWNER_ENV, owner.pid.to_string())
            .env(OWNER_START_ENV, owner.start.to_string())
            .env("TMPDIR", run_folder);
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

    /// The child's stderr, when it was piped (once).
    pub fn take_stderr(&mut self) -> Option<tokio::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The child's stdout, when it was piped (once).
    pub fn take_stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Asks the whole group to stop (SIGTERM); [`ChildGroup::kill`] is the end of it.
    pub fn terminate(&self) {
        // SAFETY: plain syscall; a group that is already gone yields ESRCH, which is fine.
        unsafe {
            libc::killpg(self.pgid, libc::SIGTERM);
        }
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
