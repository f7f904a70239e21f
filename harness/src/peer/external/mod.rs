//! External peers: a program per side, started with the plan and reporting its observations as
//! JSON (`docs/external-peers.md`). The shipped stacks under `peers/` and a user's own program
//! are all played this way.

pub mod catalogue;
mod kept_lines;
pub mod schema;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub use catalogue::ExternalKind;

use super::{BrowserInfo, Peer, PeerError, PeerPlan};
use crate::net::netns::NetNs;
use crate::observe::Observations;
use crate::process::ChildGroup;
use crate::scenario::media::CodecSpec;
use crate::scenario::steps::Actor;
use crate::scenario::{MediaKind, PeerKind, Scenario, StepKind};
use kept_lines::KeptLines;

/// How long a program may take to write its last observations after SIGTERM.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long the last output of a program that exited may take to be read.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// How many of those a failure quotes.
const STDERR_LINES_QUOTED: usize = 5;

/// One side of a case played by an external program.
pub struct ExternalPeer {
    kind: Arc<ExternalKind>,
    /// What its stack's version command printed.
    version: String,
    namespace: Option<NetNs>,
    /// `aiortc offerer`, for errors.
    label: String,
    running: Option<Running>,
}

/// A started program.
struct Running {
    child: ChildGroup,
    /// Holds the plan and the observations; removed with the peer.
    folder: tempfile::TempDir,
    stderr: Arc<Mutex<KeptLines>>,
    /// The tasks reading its output: once it exited, its last lines are read before its report
    /// is final (its exit can be seen before they are).
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// The last report that validated.
    last: Observations,
    /// Set once the program exited: its report is then final.
    done: Option<Result<Observations, PeerError>>,
}

impl ExternalPeer {
    /// A peer of `kind` (whose stack reported `version`), started on this machine's network, or
    /// inside `namespace`.
    pub fn new(kind: Arc<ExternalKind>, version: String, namespace: Option<NetNs>) -> ExternalPeer {
        ExternalPeer {
            label: kind.name.as_str().to_string(),
            kind,
            version,
            namespace,
            running: None,
        }
    }

    fn error(&self, reason: impl Into<String>) -> PeerError {
        PeerError::new(&self.label, reason)
    }
}

impl Running {
    fn observations_path(&self) -> PathBuf {
        self.folder.path().join("observations.json")
    }

    /// The report on disk, if one was written: validated, or why it is not valid together with
    /// whether it says `"finished": true` all the same.
    fn read_report(&self) -> Option<Result<Observations, (String, bool)>> {
        let text = std::fs::read(self.observations_path()).ok()?;
        let value: serde_json::Value = match serde_json::from_slice(&text) {
            Ok(value) => value,
            Err(e) => return Some(Err((format!("its observations are not JSON: {e}"), false))),
        };
        let says_finished = value.get("finished") == Some(&serde_json::Value::Bool(true));
        Some(schema::read_observations(&value).map_err(|e| (e, says_finished)))
    }

    /// The observations with the program's stderr lines added as its console.
    fn with_stderr(&self, mut observations: Observations) -> Observations {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        observations.console.extend(lines.lines());
        observations
    }

    fn last_words(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let tail = lines.last(STDERR_LINES_QUOTED);
        if tail.is_empty() {
            "it wrote nothing on stderr".into()
        } else {
            format!("its last words: {}", tail.join(" | "))
        }
    }
}

#[async_trait::async_trait]
impl Peer for ExternalPeer {
    fn kind(&self) -> PeerKind {
        self.kind.kind()
    }

    /// The stack behind the peer, for the report's list of what was tested (no driver).
    fn browser(&self) -> Option<BrowserInfo> {
        Some(BrowserInfo {
            kind: self.kind.kind(),
            version: self.version.clone(),
            user_agent: self.kind.about.clone(),
            driver_version: String::new(),
            endpoint: None,
        })
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.label = format!("{} {}", self.kind.name.as_str(), plan.role.as_str());
        let run_folder = crate::leftovers::run_folder().map_err(|e| self.error(e))?;
        let folder = tempfile::Builder::new()
            .prefix(&format!(
                "{}-{}-",
                self.kind.name.as_str(),
                plan.role.as_str()
            ))
            .tempdir_in(run_folder)
            .map_err(|e| self.error(format!("cannot create its folder: {e}")))?;
        let plan_path = folder.path().join("plan.json");
        let plan_json = serde_json::to_vec_pretty(plan).expect("a plan is JSON");
        std::fs::write(&plan_path, plan_json)
            .map_err(|e| self.error(format!("cannot write its plan: {e}")))?;

        let line = self.kind.command_line();
        let (program, args) = line
            .split_first()
            .expect("a manifest's command is not empty");
        let mut command = match &self.namespace {
            Some(ns) => ns.command(program),
            None => tokio::process::Command::new(program),
        };
        command
            .args(args)
            .arg("--plan")
            .arg(&plan_path)
            .arg("--observations")
            .arg(folder.path().join("observations.json"))
            .current_dir(folder.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGroup::spawn(&self.label, command)
            .map_err(|e| self.error(format!("{e} (command: {})", line.join(" "))))?;
        // Both output streams are the program's log: stacks log to either (pion's logger writes
        // to stdout), and the report keeps the last lines of both, in arrival order.
        let stderr = Arc::new(Mutex::new(KeptLines::default()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.take_stderr() {
            readers.push(keep_lines(pipe, stderr.clone()));
        }
        if let Some(pipe) = child.take_stdout() {
            readers.push(keep_lines(pipe, stderr.clone()));
        }
        self.running = Some(Running {
            child,
            folder,
            stderr,
            readers,
            last: Observations::default(),
            done: None,
        });
        Ok(())
    }

    async fn observations(&mut self) -> Result<Observations, PeerError> {
        let label = self.label.clone();
        let Some(running) = self.running.as_mut() else {
            return Ok(Observations::default());
        };
        if let Some(done) = &running.done {
            return done.clone();
        }
        let exited = running.child.exit_status();
        let report = running.read_report();
        // A program may stay up after it finished (echoing, answering, waiting for `bye`), and
        // what it sees then still counts, as it does for the built-in peers: only its exit makes
        // a report final.
        if exited.is_none() {
            return match report {
                Some(Ok(o)) => {
                    running.last = o;
                    Ok(running.with_stderr(running.last.clone()))
                }
                // A finished report must be valid; an unfinished one that is not may still be
                // replaced, and the last valid one stands meanwhile.
                Some(Err((invalid, true))) => Err(PeerError::new(&label, invalid)),
                _ => Ok(running.with_stderr(running.last.clone())),
            };
        }
        // What it wrote before it exited; a process it left behind holding the pipes open
        // does not hold the case up.
        for reader in running.readers.drain(..) {
            let _ = tokio::time::timeout(OUTPUT_DRAIN_TIMEOUT, reader).await;
        }
        let done = match report {
            Some(Ok(mut o)) => {
                if !o.finished {
                    let status = exited.map(|s| s.to_string()).unwrap_or_default();
                    o.errors
                        .push(format!("the program exited ({status}) before it finished"));
                    o.finished = true;
                }
                Ok(running.with_stderr(o))
            }
            Some(Err((invalid, _))) => Err(PeerError::new(&label, invalid)),
            None => Err(PeerError::new(
                &label,
                format!(
                    "exited ({}) without reporting its observations; {}",
                    exited.map(|s| s.to_string()).unwrap_or_default(),
                    running.last_words()
                ),
            )),
        };
        running.done = Some(done.clone());
        done
    }

    async fn close(&mut self) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        if running.child.exit_status().is_none() {
            running.child.terminate();
            let deadline = tokio::time::Instant::now() + TERM_GRACE;
            while running.child.exit_status().is_none() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        running.child.kill();
    }
}

/// Keeps the lines read from `pipe` in `kept` (its start and its end), in the background.
fn keep_lines(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    kept: Arc<Mutex<KeptLines>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    })
}

/// Why `kind` cannot play `scenario`, if it declared a feature the scenario needs unsupported:
/// the case is then skipped with this reason, never failed for an adapter's gap.
pub fn unsupported_reason(kind: &ExternalKind, scenario: &Scenario) -> Option<String> {
    features_needed(scenario).into_iter().find_map(|feature| {
        kind.unsupported(&feature)
            .map(|why| format!("{} cannot `{feature}`: {why}", kind.name.as_str()))
    })
}

/// The features a scenario asks of both peers (a step is asked of both: one acts, the other
/// plays its counterpart).
fn features_needed(scenario: &Scenario) -> Vec<String> {
    let mut needed: Vec<&str> = Vec::new();
    let mut codecs: Vec<String> = Vec::new();
    let steps = scenario.steps();
    let mut codec = |spec: &str| {
        if let Ok(parsed) = CodecSpec::parse(spec) {
            codecs.push(format!("codec_{}", parsed.name.to_ascii_lowercase()));
        }
    };
    // A codec is needed when a track accepts only it, or the media must arrive in it; one of
    // several a track would accept is only preferred.
    for codecs in steps.iter().filter_map(|s| s.codecs.as_ref()) {
        if let [only] = codecs.as_slice() {
            codec(only);
        }
    }
    for spec in scenario
        .expect
        .media
        .iter()
        .filter_map(|m| m.codec.as_deref())
    {
        codec(spec);
    }
    for step in &steps {
        needed.push(step.kind.as_str());
        if step.kind.is_round() && step.by == Actor::Both {
            needed.push("glare");
        }
        if step.negotiated == Some(true) {
            needed.push("negotiated_channel");
        }
        if step.binary == Some(true) {
            needed.push("binary");
        }
        if step.kind == StepKind::AddTrack {
            needed.push(match step.media {
                Some(MediaKind::Audio) => "media_audio",
                _ => "media_video",
            });
        }
    }
    if scenario.perfect_negotiation {
        needed.push("perfect_negotiation");
    }
    if scenario.network.is_some() {
        needed.push("network");
    }
    let mut needed: Vec<String> = needed.into_iter().map(String::from).collect();
    needed.extend(codecs);
    needed.dedup();
    needed
}
