//! The result of one case: the verdict and the evidence behind it, as reports show it.
//!
//! Times inside a [`CaseResult`] are milliseconds since the case started (`started_at_ms`, epoch).

use serde::{Deserialize, Serialize};

use crate::ice_servers::IceServerUse;
use crate::observe::{
    Candidate, DataChannelLog, Description, MediaTrackLog, Observations, SelectedPair, StepLog,
    Transition, parse_candidate,
};
use crate::peer::BrowserInfo;
use crate::relay::TraceEntry;
use crate::scenario::{NatType, NativeProfile, PeerKind};

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every expectation was met.
    Passed,
    /// An expectation was not met, or the case could not run.
    Failed,
    /// The case was not run (the reason is in `failure`).
    Skipped,
    /// The case failed, as the scenario says it is known to (the reason is in `failure`).
    #[serde(rename = "xfail")]
    ExpectedFailure,
    /// The case passed although the scenario says it is known to fail: time to update the scenario.
    #[serde(rename = "xpass")]
    UnexpectedPass,
    /// The case failed, then passed on a retry (`--retries`): it does not fail the run, but it is
    /// never counted as a plain pass. The failed attempts are in `attempts`.
    Flaky,
}

impl Status {
    /// `passed`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::ExpectedFailure => "xfail",
            Status::UnexpectedPass => "xpass",
            Status::Flaky => "flaky",
        }
    }

    /// Whether this status fails the run (exit code 1).
    pub fn fails_run(self) -> bool {
        matches!(self, Status::Failed | Status::UnexpectedPass)
    }
}

/// How a run's cases ended, counted once: every reporter and the exit code read this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// How many cases.
    pub total: usize,
    /// `passed`.
    pub passed: usize,
    /// `failed`.
    pub failed: usize,
    /// `skipped`.
    pub skipped: usize,
    /// `xfail`: known failures that failed as expected.
    pub expected_failures: usize,
    /// `xpass`: known failures that passed.
    pub unexpected_passes: usize,
    /// `flaky`: failed, then passed on a retry.
    pub flaky: usize,
}

impl RunSummary {
    /// The counts of `results`.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Self {
        let mut summary = RunSummary::default();
        for r in results {
            summary.add(r.status);
        }
        summary
    }

    /// Cases that ended as their scenario expects: passed, or failed as a known failure.
    pub fn as_expected(&self) -> usize {
        self.passed + self.expected_failures
    }

    /// `19/20 as expected (1 flaky)`: these counts as the pass rate of repeated runs.
    pub fn describe_as_rate(&self) -> String {
        let mut text = format!("{}/{} as expected", self.as_expected(), self.total);
        let others: Vec<String> = [
            (self.flaky, "flaky"),
            (self.failed, "failed"),
            (self.unexpected_passes, "xpass"),
            (self.skipped, "skipped"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !others.is_empty() {
            text.push_str(&format!(" ({})", others.join(", ")));
        }
        text
    }

    /// Counts one more case that ended `status`.
    pub fn add(&mut self, status: Status) {
        self.total += 1;
        *match status {
            Status::Passed => &mut self.passed,
            Status::Failed => &mut self.failed,
            Status::Skipped => &mut self.skipped,
            Status::ExpectedFailure => &mut self.expected_failures,
            Status::UnexpectedPass => &mut self.unexpected_passes,
            Status::Flaky => &mut self.flaky,
        } += 1;
    }

    /// Whether the run failed (exit code 1): a case failed, or a known failure passed.
    pub fn fails_run(&self) -> bool {
        self.failed + self.unexpected_passes > 0
    }
}

/// How often one pairing of one scenario ended which way, over the repetitions of a run
/// (`--repeat`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassRate {
    /// The scenario.
    pub scenario: String,
    /// `offerer→answerer`.
    pub pairing: String,
    /// How many times it was played (`total`) and how each ended.
    #[serde(flatten)]
    pub counts: RunSummary,
}

impl PassRate {
    /// `19/20 as expected (1 flaky)`.
    pub fn describe(&self) -> String {
        self.counts.describe_as_rate()
    }
}

/// Per scenario and pairing, in the order they first appear, how the repeated runs of a case
/// ended; empty unless the run repeated its cases.
pub fn pass_rates(results: &[CaseResult]) -> Vec<PassRate> {
    if results.iter().all(|r| r.repetition.is_none()) {
        return Vec::new();
    }
    let mut rates: Vec<PassRate> = Vec::new();
    for result in results {
        let at = match rates
            .iter()
            .position(|r| r.scenario == result.scenario && r.pairing == result.pairing)
        {
            Some(at) => at,
            None => {
                rates.push(PassRate {
                    scenario: result.scenario.clone(),
                    pairing: result.pairing.clone(),
                    counts: RunSummary::default(),
                });
                rates.len() - 1
            }
        };
        rates[at].counts.add(result.status);
    }
    rates
}

/// A failed attempt of a case that was then retried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: f64,
    /// How long it took.
    pub duration_ms: f64,
    /// Why it failed.
    pub failure: Option<String>,
}

impl CaseResult {
    /// The pairing, and which repetition this is under `--repeat`: `native→chromium #3`.
    pub fn pairing_label(&self) -> String {
        match self.repetition {
            Some(n) => format!("{} #{n}", self.pairing),
            None => self.pairing.clone(),
        }
    }

    /// Whether a failed case is worth another attempt: it failed, and not as a known failure.
    pub fn may_retry(&self) -> bool {
        self.status == Status::Failed
    }

    /// This attempt's result after the failed `earlier` ones: `flaky` if it passed, and with
    /// the earlier attempts recorded either way.
    pub fn after_attempts(mut self, earlier: Vec<CaseResult>) -> CaseResult {
        if earlier.is_empty() {
            return self;
        }
        if self.status == Status::Passed {
            self.status = Status::Flaky;
            self.failure = Some(format!(
                "flaky: passed on attempt {} after {} failed: {}",
                earlier.len() + 1,
                earlier.len(),
                earlier
                    .last()
                    .and_then(|e| e.failure.as_deref())
                    .unwrap_or("?")
            ));
        }
        self.attempts = earlier
            .into_iter()
            .map(|e| Attempt {
                started_at_ms: e.started_at_ms,
                duration_ms: e.duration_ms,
                failure: e.failure,
            })
            .collect();
        self
    }
}

/// One value per side of a case.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sides<T> {
    /// The peer that made the offer.
    pub offerer: T,
    /// The peer that answered.
    pub answerer: T,
}

impl<T> Sides<T> {
    /// Applies `f` to both sides.
    pub fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> Sides<U> {
        Sides {
            offerer: f(&self.offerer),
            answerer: f(&self.answerer),
        }
    }
}

/// Where one peer sat in a `[network]` case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerPlace {
    /// The NAT in front of it.
    pub nat: NatType,
    /// Its own interface address (its host candidate; private behind a NAT).
    pub address: String,
    /// The address the public side saw its packets come from (the NAT's, or its own).
    pub public_ip: String,
    /// The network namespace it ran in.
    pub namespace: String,
}

/// The candidates one side gathered and received, parsed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CandidateSets {
    /// Gathered by this side.
    pub local: Vec<Candidate>,
    /// Received from the other side.
    pub remote: Vec<Candidate>,
    /// The other side sent its end-of-candidates marker, so `remote` is all it gathered.
    pub remote_complete: bool,
}

impl CandidateSets {
    /// Parses a side's candidate strings; a string that does not parse becomes an error line.
    pub fn parse(observations: &Observations, errors: &mut Vec<String>) -> CandidateSets {
        let mut parse_all = |list: &[String]| {
            list.iter()
                .filter_map(|text| {
                    parse_candidate(text)
                        .map_err(|e| errors.push(format!("unparseable candidate: {e}")))
                        .ok()
                })
                .collect()
        };
        CandidateSets {
            local: parse_all(&observations.local_candidates),
            remote: parse_all(&observations.remote_candidates),
            remote_complete: observations.remote_candidates_complete,
        }
    }
}

/// Everything known about one case after it ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseResult {
    /// The scenario's name.
    pub scenario: String,
    /// `offerer→answerer`.
    pub pairing: String,
    /// The case's position in the run order of the whole selection (every `--shard` together):
    /// how merged shard reports are put back in order.
    #[serde(default)]
    pub index: usize,
    /// Which of the `--repeat` runs of this case this is (from 1); null without `--repeat`.
    pub repetition: Option<u32>,
    /// The attempts before this one that failed, when the case was retried (`--retries`).
    pub attempts: Vec<Attempt>,
    /// The offering kind.
    pub offerer: PeerKind,
    /// The answering kind.
    pub answerer: PeerKind,
    /// The verdict.
    pub status: Status,
    /// The unmet expectations in words (`; `-separated), or null.
    pub failure: Option<String>,
    /// When the case started (ms since the Unix epoch).
    pub started_at_ms: f64,
    /// How long the case took, set-up and tear-down included.
    pub duration_ms: f64,
    /// From the offer's creation until both sides' ICE connection was `connected` or `completed`.
    pub time_to_connected_ms: Option<f64>,
    /// Round-trip time of the data-channel echo probe.
    pub echo_round_trip_ms: Option<f64>,
    /// When each step of the case was reached, to see where the time goes.
    pub phases: Phases,
    /// The settings profile of native peers, where one took part.
    pub native_profile: Option<NativeProfile>,
    /// The browsers that took part.
    pub browsers: Vec<BrowserInfo>,
    /// ICE connection state transitions per side.
    pub ice_states: Sides<Vec<Transition>>,
    /// Peer connection state transitions per side.
    pub connection_states: Sides<Vec<Transition>>,
    /// ICE gathering state transitions per side.
    pub gathering_states: Sides<Vec<Transition>>,
    /// Candidates per side.
    pub candidates: Sides<CandidateSets>,
    /// The selected candidate pair per side.
    pub selected_pair: Sides<Option<SelectedPair>>,
    /// Signaling state transitions per side.
    pub signaling_states: Sides<Vec<Transition>>,
    /// Every data channel per side.
    pub channels: Sides<Vec<DataChannelLog>>,
    /// Every media track each side sent or received (times since the case started).
    pub tracks: Sides<Vec<MediaTrackLog>>,
    /// Each step as each side played it (times since the case started).
    pub steps: Sides<Vec<StepLog>>,
    /// Descriptions each side set locally.
    pub sdp: Sides<Vec<Description>>,
    /// What each browser page logged to its console.
    pub console: Sides<Vec<String>>,
    /// Each browser's final `getStats()` report.
    pub stats: Sides<Option<serde_json::Value>>,
    /// Each description's check against its accepted SDP snapshot (empty when not checked).
    pub snapshots: Vec<crate::sdp::check::SnapshotCheck>,
    /// Errors each side met (not all of them fail the case).
    pub errors: Sides<Vec<String>>,
    /// Every signaling message the relay forwarded for this case.
    pub signaling: Vec<TraceEntry>,
    /// What the signaling lint found in those messages (warnings unless the scenario is strict).
    pub lint: Vec<crate::lint::LintFinding>,
    /// Every problem the verdict rests on, by kind (`failure` is these in words).
    pub problems: Vec<crate::decide::Problem>,
    /// The STUN/TURN servers both peers were given (no passwords).
    pub ice_servers: Vec<IceServerUse>,
    /// Where each peer sat, for `[network]` scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Sides<PeerPlace>>,
    /// Files written for this case beside the reports (`--capture`: its packets, a bug bundle).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

/// A file written for one case, beside the run's reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Its file name (`capture.pcap`).
    pub name: String,
    /// Where it is, relative to the run's folder.
    pub path: String,
    /// What it holds, in words.
    pub about: String,
}

/// When each step of a case was reached, in ms since the case started; a step that was never
/// reached is `None`. "Both" steps are reached when the later of the two sides reached them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Phases {
    /// Both peers have started: browser window open, page loaded, relay room joined.
    pub peers_started_ms: Option<f64>,
    /// The offerer's `createOffer` resolved.
    pub offer_created_ms: Option<f64>,
    /// Both sides' ICE connection state is `connected` (or `completed`).
    pub ice_connected_ms: Option<f64>,
    /// Both sides' connection state is `connected`: DTLS is done.
    pub connected_ms: Option<f64>,
    /// The data channel is open on both sides: SCTP and the channel's open handshake are done.
    pub channel_open_ms: Option<f64>,
    /// The echo probe came back to the offerer.
    pub echo_ms: Option<f64>,
}

impl Phases {
    /// The phases of a case that started at `start_ms` (epoch), from both sides' observations.
    pub fn from_observations(
        observed: &Sides<Observations>,
        start_ms: f64,
        peers_started_at_ms: Option<f64>,
    ) -> Phases {
        let both = |pick: fn(&Observations) -> Option<f64>| {
            let (a, b) = (pick(&observed.offerer)?, pick(&observed.answerer)?);
            Some(round_ms(a.max(b) - start_ms))
        };
        let relative = |t: Option<f64>| t.map(|t| round_ms(t - start_ms));
        let echo = observed
            .offerer
            .first_channel()
            .and_then(|d| d.echo.as_ref())
            .and_then(|e| e.received_at_ms);
        Phases {
            peers_started_ms: relative(peers_started_at_ms),
            offer_created_ms: relative(observed.offerer.offer_created_at_ms),
            ice_connected_ms: both(Observations::ice_connected_at_ms),
            connected_ms: both(|o| {
                o.connection_states
                    .iter()
                    .find(|t| t.state == "connected")
                    .map(|t| t.at_ms)
            }),
            channel_open_ms: both(|o| o.first_channel()?.opened_at_ms),
            echo_ms: relative(echo),
        }
    }
}

/// Shifts epoch timestamps so that 0 is the case's start.
pub fn relative_transitions(list: &[Transition], start_ms: f64) -> Vec<Transition> {
    list.iter()
        .map(|t| Transition {
            state: t.state.clone(),
            at_ms: round_ms(t.at_ms - start_ms),
        })
        .collect()
}

/// Milliseconds rounded to a tenth, enough for any timeline.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_fixtures::case;
    use crate::scenario::PeerKind::{Chromium, Native};

    fn attempt(status: Status, failure: Option<&str>) -> CaseResult {
        let mut r = case(Native, Chromium, status);
        r.failure = failure.map(str::to_string);
        r
    }

    #[test]
    fn a_pass_after_failed_attempts_is_flaky_and_keeps_them() {
        let earlier = vec![
            attempt(Status::Failed, Some("ICE never connected")),
            attempt(Status::Failed, Some("no echo")),
        ];
        let r = attempt(Status::Passed, None).after_attempts(earlier);
        assert_eq!(r.status, Status::Flaky);
        assert_eq!(
            r.failure.as_deref(),
            Some("flaky: passed on attempt 3 after 2 failed: no echo")
        );
        let failures: Vec<_> = r.attempts.iter().map(|a| a.failure.clone()).collect();
        assert_eq!(
            failures,
            [Some("ICE never connected".into()), Some("no echo".into())]
        );
        assert!(!r.status.fails_run());
    }

    #[test]
    fn a_case_that_never_passes_stays_failed_with_its_attempts() {
        let r = attempt(Status::Failed, Some("third"))
            .after_attempts(vec![attempt(Status::Failed, Some("first"))]);
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.failure.as_deref(), Some("third"));
        assert_eq!(r.attempts.len(), 1);
        // Without earlier attempts nothing changes.
        assert_eq!(
            attempt(Status::Passed, None).after_attempts(vec![]).status,
            Status::Passed
        );
        // Only plain failures are retried: a known failure is what the scenario expects.
        assert!(attempt(Status::Failed, None).may_retry());
        assert!(!attempt(Status::ExpectedFailure, None).may_retry());
        assert!(!attempt(Status::UnexpectedPass, None).may_retry());
    }

    #[test]
    fn pass_rates_count_each_pairing_over_its_repetitions() {
        let mut results = Vec::new();
        for (n, status) in [Status::Passed, Status::Flaky, Status::Failed]
            .into_iter()
            .enumerate()
        {
            let mut r = attempt(status, None);
            r.repetition = Some(n as u32 + 1);
            results.push(r);
        }
        let mut other = attempt(Status::ExpectedFailure, None);
        other.pairing = "native→native".into();
        other.repetition = Some(1);
        results.push(other);
        let rates = pass_rates(&results);
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[0].pairing, "native→chromium");
        assert_eq!(rates[0].describe(), "1/3 as expected (1 flaky, 1 failed)");
        assert_eq!(rates[1].describe(), "1/1 as expected");
        // A run without --repeat has none.
        assert!(pass_rates(&[attempt(Status::Passed, None)]).is_empty());
    }
}
