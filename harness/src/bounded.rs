//! Short-lived commands (`ip`, `--version`, installers, a test's run of the CLI) run to their end
//! within a time limit, like `Command::output` and `Command::status` but never waiting unbounded:
//! a command still running at its limit is killed and reported as timed out.

use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a running command is looked at; short next to any limit, cheap for a sleeping one.
const POLL: Duration = Duration::from_millis(10);

/// `Command::output` and `Command::status` with a time limit.
pub trait BoundedCommand {
    /// Runs the command to its end as `Command::output` does (stdin closed, stdout and stderr
    /// captured); an error of kind `TimedOut` if it ran past `limit` (it is killed then).
    fn output_within(&mut self, limit: Duration) -> io::Result<Output>;

    /// Runs the command to its end as `Command::status` does, its stdio as the caller set it;
    /// an error of kind `TimedOut` if it ran past `limit` (it is killed then).
    fn status_within(&mut self, limit: Duration) -> io::Result<ExitStatus>;
}

impl BoundedCommand for Command {
    fn output_within(&mut self, limit: Duration) -> io::Result<Output> {
        let child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        wait_with_output_within(child, limit)
    }

    fn status_within(&mut self, limit: Duration) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        wait_until(&mut child, Instant::now() + limit, limit)
    }
}

/// Waits for a spawned `child` as `Child::wait_with_output` does (its piped stdout and stderr
/// captured), for at most `limit` from now; an error of kind `TimedOut` past it (it is killed then).
pub fn wait_with_output_within(mut child: Child, limit: Duration) -> io::Result<Output> {
    let deadline = Instant::now() + limit;
    drop(child.stdin.take()); // as wait_with_output: the command sees the end of its input
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_until(&mut child, deadline, limit)?;
    // What the command started in turn may still hold its pipes open: bounded too.
    let collect = |pipe: mpsc::Receiver<Vec<u8>>| {
        let left = deadline.saturating_duration_since(Instant::now()).max(POLL);
        pipe.recv_timeout(left).map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("exited, but its output stayed open past {limit:?}"),
            )
        })
    };
    Ok(Output {
        status,
        stdout: collect(stdout)?,
        stderr: collect(stderr)?,
    })
}

/// Waits for `child` until `deadline`, killing and reaping it there.
fn wait_until(child: &mut Child, deadline: Instant, limit: Duration) -> io::Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("still running after {limit:?}, killed"),
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Reads `pipe` to its end on a thread of its own (a full pipe would stall the command), and
/// hands over what it read.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(bytes);
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_ends_in_time_gives_its_status_and_both_outputs() {
        let output = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output_within(Duration::from_secs(10))
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[test]
    fn a_command_past_its_limit_is_killed_and_reported_as_timed_out() {
        let started = Instant::now();
        let error = Command::new("sh")
            .args(["-c", "echo partial; sleep 30"])
            .output_within(Duration::from_millis(200))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    }

    #[test]
    fn output_held_open_by_a_grandchild_does_not_hold_the_caller_past_the_limit() {
        let started = Instant::now();
        let error = Command::new("sh")
            .args(["-c", "sleep 3 & echo started"])
            .output_within(Duration::from_millis(300))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("output stayed open"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    }

    #[test]
    fn status_within_keeps_the_callers_stdio_and_bounds_the_wait() {
        let status = Command::new("true")
            .stdout(Stdio::null())
            .status_within(Duration::from_secs(10))
            .unwrap();
        assert!(status.success());
        let error = Command::new("sleep")
            .arg("30")
            .status_within(Duration::from_millis(200))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
