//! A tcpdump that records one interface into a file while the harness runs, as a child process
//! that never outlives the harness (see [`crate::process`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::tcpdump::{drain_stderr, dropped_by_kernel, tcpdump_args, wait_until_listening};
use crate::net::netns::NetNs;
use crate::process::ChildGroup;

/// How long tcpdump may take to start capturing.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long tcpdump may take to write its last packets after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running capture.
pub struct Capture {
    process: ChildGroup,
    file: PathBuf,
    stderr: tokio::task::JoinHandle<String>,
}

impl Capture {
    /// Starts `tcpdump` capturing every packet of `interface` (in `namespace`, when given) into
    /// `file`, and returns once it says it is listening.
    pub async fn start(
        tcpdump: &Path,
        interface: &str,
        file: PathBuf,
        namespace: Option<&NetNs>,
    ) -> Result<Capture, String> {
        let mut command = match namespace {
            None => Command::new(tcpdump),
            Some(ns) => ns.command(tcpdump),
        };
        command
            .args(tcpdump_args(interface, None, &file))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = ChildGroup::spawn("tcpdump", command).map_err(|e| e.to_string())?;
        let mut stderr = process
            .take_stderr()
            .ok_or("tcpdump's stderr was not piped")?;
        wait_until_listening(&mut stderr, START_TIMEOUT)
            .await
            .map_err(|e| format!("tcpdump did not start capturing on {interface}: {e}"))?;
        Ok(Capture {
            process,
            file,
            stderr: drain_stderr(stderr),
        })
    }

    /// The pcap file it writes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stops the capture, letting tcpdump write what it holds; returns how many packets the
    /// kernel dropped (a capture that lost packets says so in the report).
    pub async fn stop(mut self) -> Option<u64> {
        self.process.terminate();
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        while self.process.exit_status().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.process.kill();
        let text = tokio::time::timeout(Duration::from_secs(2), self.stderr)
            .await
            .ok()?
            .ok()?;
        dropped_by_kernel(&text)
    }
}
