//! The benchmark behind `rtc-interop bench`: where the time of a case goes, per pairing.
//!
//! It measures, in one run:
//! - **cold**: the whole matrix of the bench scenario from nothing, browser start-up included
//!   (as `rtc-interop run` would do it, cases concurrent);
//! - **browser start-up**: each browser's driver start and first session, on their own;
//! - **warm**: every pairing `iterations` times, one case at a time, in the browsers already
//!   started, once per native settings profile where a native peer takes part. Each case's phase
//!   timeline (see [`Phases`]) gives the figures.
//!
//! - **video**: every pairing `iterations` times with a camera both ways, offer created → first
//!   decoded (browsers) or reassembled (native) video frame on each side; and, as its baseline,
//!   the same in one page of each browser (seed 004's pc1/pc2: no relay, no harness).
//!
//! Figures are medians. Each row is also given as a ratio against the baseline measured in the
//! same run: native→native with webrtc-rs's default settings, offer created → echo back; the
//! video rows against each browser's in-page call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::outcome::{CaseResult, Phases};
use crate::peer::external::catalogue;
use crate::plan::{self, Case};
use crate::runner::{self, Environment, RunSettings, SetupError};
use crate::scenario::{self, NativeProfile, PeerKind};

/// The bench scenario: a data channel over host candidates, echoed (the first connection); then
/// a renegotiation round, and an ICE restart followed by another echo.
const BENCH_SCENARIO: &str = r#"
name = "bench"
description = "Data channel over host candidates, one echo; a renegotiation; an ICE restart and an echo."
time_limit_secs = 30
[[steps]]
do = "open_channel"
label = "bench"
[[steps]]
do = "negotiate"
[[steps]]
do = "send"
channel = "bench"
[[steps]]
do = "expect_echo"
channel = "bench"
[[steps]]
do = "negotiate"
[[steps]]
do = "restart_ice"
[[steps]]
do = "send"
channel = "bench"
text = "after the restart"
[[steps]]
do = "expect_echo"
channel = "bench"
[expect]
ice_states = ["new", "checking", "connected"]
connection_state = "connected"
echo = true
"#;

/// The one-way video bench scenario: the offerer's camera to the answerer, the call shape of
/// the in-page baseline (seed 004's pc1 → pc2), until the answerer has its first frame.
const ONE_WAY_VIDEO_SCENARIO: &str = r#"
name = "bench-video-one-way"
description = "The offerer's camera to the answerer; the answerer waits for its first frame."
time_limit_secs = 20
[[steps]]
do = "add_track"
by = "offerer"
kind = "video"
direction = "sendonly"
[[steps]]
do = "negotiate"
[[steps]]
do = "expect_media"
by = "answerer"
within_secs = 10
[[expect.media]]
side = "answerer"
kind = "video"
min_packets = 1
min_frames = 1
moving = false
"#;

/// The two-way video bench scenario: a camera both ways (VP8, the codec every stack sends by
/// default), until each side has its first frame.
const TWO_WAY_VIDEO_SCENARIO: &str = r#"
name = "bench-video"
description = "A camera both ways; each side waits for its first video frame."
time_limit_secs = 20
[[steps]]
do = "add_track"
by = "both"
kind = "video"
[[steps]]
do = "negotiate"
[[steps]]
do = "expect_media"
by = "both"
within_secs = 10
[[expect.media]]
kind = "video"
min_packets = 1
min_frames = 1
moving = false
"#;

/// Which way video goes in a bench call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallShape {
    /// Offerer → answerer only.
    OneWay,
    /// Both ways on one transceiver.
    TwoWay,
}

impl CallShape {
    const ALL: [CallShape; 2] = [CallShape::OneWay, CallShape::TwoWay];

    fn scenario(self) -> &'static str {
        match self {
            CallShape::OneWay => ONE_WAY_VIDEO_SCENARIO,
            CallShape::TwoWay => TWO_WAY_VIDEO_SCENARIO,
        }
    }

    fn label(self) -> &'static str {
        match self {
            CallShape::OneWay => "one-way",
            CallShape::TwoWay => "two-way",
        }
    }
}

/// The pause before each warm case and in-page call: the one before it goes on tearing down (its
/// windows unloading their pages, connections closing) after it returned, and on 2 cores that
/// work slowed the next one's start and connection. With it, in alternating runs interleaving
/// both browsers: chromium→chromium offer→echo 20.4 / 21.2 → 18.1 / 16.7 ms, firefox→firefox
/// 25.6 / 24.0 → 21.0 / 22.6 ms, and each case's start ~35 ms shorter.
const SETTLE: Duration = Duration::from_millis(500);

/// The second `negotiate` step of the bench scenario: the renegotiation round.
const RENEGOTIATE_STEP: usize = 4;
/// The `restart_ice` step, and the `expect_echo` after it.
const RESTART_STEP: usize = 5;
const ECHO_AFTER_RESTART_STEP: usize = 7;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// Warm iterations per pairing and profile.
    pub iterations: usize,
    /// Pairings to measure (offerer, answerer); empty: the nine of the core kinds.
    pub pairings: Vec<(PeerKind, PeerKind)>,
    /// Install missing browsers and drivers.
    pub install: bool,
}

impl BenchSettings {
    /// The kinds measured: the core ones, and any external kind a `--pairing` names.
    fn kinds(&self) -> Vec<PeerKind> {
        let mut kinds = PeerKind::CORE.to_vec();
        for &(offerer, answerer) in &self.pairings {
            for kind in [offerer, answerer] {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        kinds
    }
}

/// Every figure of one bench run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Wall time of the cold matrix, browser start-up included.
    pub cold_matrix_ms: f64,
    /// How many cases the cold matrix had, and how many of them passed.
    pub cold_cases: (usize, usize),
    /// Each browser's start-up: (kind, driver start ms, first session ms).
    pub startups: Vec<(PeerKind, f64, f64)>,
    /// One row per pairing and native profile.
    pub rows: Vec<BenchRow>,
    /// One row per pairing and shape of the video call.
    pub video: Vec<VideoRow>,
    /// Each browser's in-page calls (pc1/pc2): the data echo and the video call in each shape,
    /// medians, and how many of the iterations gave a figure.
    pub in_page: Vec<InPageRow>,
}

impl BenchReport {
    /// Browser `kind`'s (`chromium`) in-page figure of `call`, if measured.
    fn floor(&self, kind: &str, call: InPageCall) -> Option<&InPageRow> {
        self.in_page
            .iter()
            .find(|b| b.call == call && b.kind.to_string() == kind)
    }
}

/// The medians of one pairing's video call in one shape.
#[derive(Debug, Clone)]
pub struct VideoRow {
    /// `offerer→answerer`.
    pub pairing: String,
    /// Which way video went.
    pub shape: CallShape,
    /// Iterations in which every receiving side got a first frame.
    pub passed: usize,
    /// Iterations run.
    pub ran: usize,
    /// Offer created → the offerer's first video frame, median ms (two-way calls only).
    pub offerer_first_frame_ms: Option<f64>,
    /// Offer created → the answerer's first video frame, median ms.
    pub answerer_first_frame_ms: Option<f64>,
    /// Offer created → the last receiving side's first frame (the call shows video every way it
    /// goes), median ms.
    pub every_receiver_ms: Option<f64>,
}

/// What an in-page baseline measures: two connections in one page of a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPageCall {
    /// A data channel: offer created → the echo of the first message back (the floor of the
    /// warm cases' offer→echo).
    Echo,
    /// The same with the offer, the answer and the candidates sent through the run's relay, a
    /// WebSocket per connection: the floor with the signaling hops of a case, so the rest of a
    /// case's time is the harness's own.
    RelayedEcho,
    /// The same between two windows of the browser, a connection in each, signaling through the
    /// relay: the floor of a case's two pages, so the rest is `peer.html`'s and the runner's.
    WindowsEcho,
    /// Video in this shape: offer created → the last receiving side's first frame.
    Video(CallShape),
}

impl InPageCall {
    /// A data echo (not a video call).
    fn is_echo(self) -> bool {
        !matches!(self, InPageCall::Video(_))
    }

    fn label(self) -> &'static str {
        match self {
            InPageCall::Echo => "data echo",
            InPageCall::RelayedEcho => "data echo through the relay",
            InPageCall::WindowsEcho => "data echo between two windows",
            InPageCall::Video(shape) => shape.label(),
        }
    }
}

/// One browser's in-page baseline of one call.
#[derive(Debug, Clone)]
pub struct InPageRow {
    /// The browser.
    pub kind: PeerKind,
    /// What was measured.
    pub call: InPageCall,
    /// Its median, ms.
    pub ms: Option<f64>,
    /// Iterations that gave a figure, and the last error of those that did not.
    pub passed: usize,
    /// Iterations run.
    pub ran: usize,
    /// Why the last failed iteration failed.
    pub error: Option<String>,
    /// A data echo's phases (none for video calls): the floor of each of a case's phases.
    pub phases: PhaseMedians,
}

/// One in-page call: offer created → its end (ms), and a data echo's phases, in ms since the
/// offer was created (when both connections reached each phase a warm case times).
#[derive(Debug, Clone)]
struct InPageFigure {
    ms: f64,
    phases: Phases,
}

/// The medians of a call's phases over its iterations: each phase's own duration (the time since
/// the phase before) and each span, taken per iteration, then the median. Not the difference of
/// two medians of times since the case started: the peers' start-up varies by tens of ms from
/// one iteration to the next, and such a difference carried that spread into every phase after
/// it (firefox→firefox offer → echo read 30.0 ms where its iterations' median was 26.0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseMedians {
    /// The case started → both peers started (window, page, room).
    pub start_ms: Option<f64>,
    /// → the offer created.
    pub signal_ms: Option<f64>,
    /// → both ICE connected.
    pub ice_ms: Option<f64>,
    /// → both connected (DTLS).
    pub dtls_ms: Option<f64>,
    /// → the data channel open on both sides.
    pub sctp_open_ms: Option<f64>,
    /// → the probe back.
    pub echo_ms: Option<f64>,
    /// Both peers started → the probe back.
    pub ready_to_echo_ms: Option<f64>,
    /// The offer created → the probe back: a row's headline figure.
    pub offer_to_echo_ms: Option<f64>,
}

impl PhaseMedians {
    /// Of the iterations' phase times, each iteration's on one clock (since its case started,
    /// or since its offer).
    fn of(iterations: &[&Phases]) -> Self {
        let span = |from: fn(&Phases) -> Option<f64>, to: fn(&Phases) -> Option<f64>| {
            median(iterations.iter().filter_map(|p| Some(to(p)? - from(p)?)))
        };
        PhaseMedians {
            start_ms: median(iterations.iter().filter_map(|p| p.peers_started_ms)),
            signal_ms: span(|p| p.peers_started_ms, |p| p.offer_created_ms),
            ice_ms: span(|p| p.offer_created_ms, |p| p.ice_connected_ms),
            dtls_ms: span(|p| p.ice_connected_ms, |p| p.connected_ms),
            sctp_open_ms: span(|p| p.connected_ms, |p| p.channel_open_ms),
            echo_ms: span(|p| p.channel_open_ms, |p| p.echo_ms),
            ready_to_echo_ms: span(|p| p.peers_started_ms, |p| p.echo_ms),
            offer_to_echo_ms: span(|p| p.offer_created_ms, |p| p.echo_ms),
        }
    }
}

/// The medians of one pairing with one native profile.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// `offerer→answerer`.
    pub pairing: String,
    /// The native profile, where a native peer took part.
    pub profile: Option<NativeProfile>,
    /// How many iterations played the steps up to the first echo on both sides (only they count
    /// for the phases; the renegotiation and the ICE restart each count the iterations that got
    /// through them. An ICE restart that a verdict faults, such as webrtc-rs not gathering anew,
    /// still has its time).
    pub passed: usize,
    /// Iterations run.
    pub ran: usize,
    /// The medians of its phases.
    pub phases: PhaseMedians,
    /// Median of a renegotiation round: offer created → both sides stable again.
    pub renegotiation_ms: Option<f64>,
    /// Median of an ICE restart: restart called → new credentials in use on both sides and an
    /// echo through the connection.
    pub ice_restart_ms: Option<f64>,
    /// The ICE restart was played: false where a stack of the pairing declares it unsupported.
    pub restart_played: bool,
}

/// Runs the benchmark.
pub async fn run(settings: &BenchSettings) -> Result<BenchReport, SetupError> {
    let scenario = scenario::parse(BENCH_SCENARIO, "bench", "bench.toml".as_ref())
        .expect("the bench scenario is valid");
    let selection = plan::Selection {
        pairings: settings.pairings.iter().map(|&p| p.into()).collect(),
        ..Default::default()
    };
    let cases: Vec<Case> = selection
        .apply(plan::expand(&Arc::new(scenario.clone()), &settings.kinds()))
        .expect("no scenario pattern to miss")
        .into_iter()
        .map(without_an_unsupported_restart)
        .collect();
    let run_settings = RunSettings {
        install: settings.install,
        ..RunSettings::default()
    };

    // Cold: from nothing, as a run does it.
    let cold_started = Instant::now();
    let environment = Environment::prepare(&runner::browsers_needed(&cases), &run_settings).await?;
    let cold = environment
        .run_cases("bench-cold", &cases, run_settings.jobs, &mut [])
        .await;
    let cold_matrix_ms = cold_started.elapsed().as_secs_f64() * 1000.0;
    let cold_passed = cases
        .iter()
        .zip(&cold)
        .filter(|(case, r)| every_step_done(case, r))
        .count();
    let startups = environment
        .browser_startups()
        .into_iter()
        .map(|((kind, _), s)| (kind, s.driver_ms, s.session_ms))
        .collect();

    let browsers: Vec<PeerKind> = [PeerKind::Chromium, PeerKind::Firefox]
        .into_iter()
        .filter(|kind| cases.iter().any(|c| c.kinds().contains(kind)))
        .collect();
    let video_cases = video_cases(settings);
    let mut in_page = InPageFigures::default();

    // Warm: one case at a time, so cases do not slow each other down; each iteration plays every
    // case and then each browser's in-page floor once, so a drift of the machine's speed during
    // the run touches both sides of every ratio alike.
    let variants: Vec<(Case, Option<NativeProfile>)> = cases
        .iter()
        .flat_map(|case| {
            let profiles: &[Option<NativeProfile>] = if case.kinds().contains(&PeerKind::Native) {
                &[Some(NativeProfile::Default), Some(NativeProfile::Fast)]
            } else {
                &[None]
            };
            profiles.iter().map(|&profile| {
                let mut variant = (*case.scenario).clone();
                variant.native_profile = profile.unwrap_or_default();
                let case = Case {
                    scenario: Arc::new(variant),
                    ..case.clone()
                };
                (case, profile)
            })
        })
        .collect();
    let mut results: Vec<Vec<CaseResult>> = vec![Vec::new(); variants.len()];
    for i in 0..settings.iterations {
        for ((case, _), results) in variants.iter().zip(&mut results) {
            results.push(play(&environment, case, i).await);
        }
        for &kind in &browsers {
            in_page.measure(&environment, kind, InPageCall::Echo).await;
            in_page
                .measure(&environment, kind, InPageCall::RelayedEcho)
                .await;
            in_page
                .measure(&environment, kind, InPageCall::WindowsEcho)
                .await;
        }
    }
    let rows = variants
        .iter()
        .zip(&results)
        .map(|((case, profile), results)| row(case, *profile, results))
        .collect();

    let mut video_results: Vec<Vec<CaseResult>> = vec![Vec::new(); video_cases.len()];
    for i in 0..settings.iterations {
        for ((_, case), results) in video_cases.iter().zip(&mut video_results) {
            results.push(play(&environment, case, i).await);
        }
        for &kind in &browsers {
            for shape in CallShape::ALL {
                in_page
                    .measure(&environment, kind, InPageCall::Video(shape))
                    .await;
            }
        }
    }
    let video = video_cases
        .iter()
        .zip(&video_results)
        .map(|((shape, case), results)| video_row(case, *shape, results))
        .collect();
    environment.shutdown().await;
    Ok(BenchReport {
        cold_matrix_ms,
        cold_cases: (cold.len(), cold_passed),
        startups,
        rows,
        video,
        in_page: in_page.rows(settings.iterations),
    })
}

/// Plays `case` once as warm iteration `i`, in a room of its own.
async fn play(environment: &Environment, case: &Case, i: usize) -> CaseResult {
    tokio::time::sleep(SETTLE).await;
    let room = format!("bench/{}-{i}", case.slug());
    environment.run_case(case, &room).await
}

/// The in-page floors measured so far, per browser and call, in the order first measured.
#[derive(Default)]
struct InPageFigures {
    measured: Vec<(PeerKind, InPageCall, Vec<InPageFigure>, Option<String>)>,
}

impl InPageFigures {
    /// Measures `call` once in `kind`'s browser.
    async fn measure(&mut self, environment: &Environment, kind: PeerKind, call: InPageCall) {
        tokio::time::sleep(SETTLE).await;
        let figure = in_page_once(environment, kind, call).await;
        let index = match self
            .measured
            .iter()
            .position(|(k, c, ..)| (*k, *c) == (kind, call))
        {
            Some(index) => index,
            None => {
                self.measured.push((kind, call, Vec::new(), None));
                self.measured.len() - 1
            }
        };
        let (_, _, figures, error) = &mut self.measured[index];
        match figure {
            Ok(figure) => figures.push(figure),
            Err(e) => *error = Some(e),
        }
    }

    fn rows(self, iterations: usize) -> Vec<InPageRow> {
        self.measured
            .into_iter()
            .map(|(kind, call, figures, error)| {
                let phases: Vec<&Phases> = figures.iter().map(|f| &f.phases).collect();
                InPageRow {
                    kind,
                    call,
                    ms: median(figures.iter().map(|f| f.ms)),
                    passed: figures.len(),
                    ran: iterations,
                    error,
                    phases: PhaseMedians::of(&phases),
                }
            })
            .collect()
    }
}

/// One in-page call: offer created → its end (the echo back, or the last receiving side's first
/// frame), in ms, with a data echo's phases.
async fn in_page_once(
    environment: &Environment,
    kind: PeerKind,
    call: InPageCall,
) -> Result<InPageFigure, String> {
    // Each relayed call gets a room of its own (a late socket of a call that timed out stays out).
    static RELAYED_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let room = || {
        let n = RELAYED_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        environment.relay().room_url(&format!("bench/in-page-{n}"))
    };
    let measured = match call {
        InPageCall::Echo => {
            let options = serde_json::json!({ "timeout_ms": IN_PAGE_LIMIT_MS });
            environment.in_page(kind, "dataEcho", options).await?
        }
        InPageCall::RelayedEcho => {
            let options =
                serde_json::json!({ "timeout_ms": IN_PAGE_LIMIT_MS, "relay_url": room() });
            environment.in_page(kind, "dataEcho", options).await?
        }
        InPageCall::WindowsEcho => {
            let (offerer, answerer) = environment
                .echo_between_two_windows(kind, &room(), IN_PAGE_LIMIT_MS)
                .await?;
            both_windows(offerer, &answerer)
        }
        InPageCall::Video(shape) => {
            let options = serde_json::json!({
                "timeout_ms": IN_PAGE_LIMIT_MS,
                "two_way": shape == CallShape::TwoWay,
            });
            environment.in_page(kind, "firstFrame", options).await?
        }
    };
    let at = |field: &str| measured.get(field).and_then(serde_json::Value::as_f64);
    let end = match call {
        InPageCall::Echo | InPageCall::RelayedEcho | InPageCall::WindowsEcho => at("echo_at_ms"),
        InPageCall::Video(CallShape::OneWay) => at("first_frame_at_ms"),
        InPageCall::Video(CallShape::TwoWay) => at("first_frame_at_ms")
            .zip(at("pc1_first_frame_at_ms"))
            .map(|(a, b)| a.max(b)),
    };
    // Through the relay means through it: at least the offer and the answer came back from it.
    let relayed = at("relayed_messages").unwrap_or(0.0);
    if matches!(call, InPageCall::RelayedEcho | InPageCall::WindowsEcho) && relayed < 2.0 {
        return Err(format!(
            "{kind} in-page {}: {relayed} message(s) came through the relay, not the offer and the answer",
            call.label()
        ));
    }
    match (at("offer_created_at_ms"), end) {
        (Some(offer), Some(end)) => {
            let since_offer = |field: &str| at(field).map(|t| t - offer);
            Ok(InPageFigure {
                ms: end - offer,
                phases: Phases {
                    peers_started_ms: None,
                    offer_created_ms: Some(0.0),
                    ice_connected_ms: since_offer("ice_connected_at_ms"),
                    connected_ms: since_offer("connected_at_ms"),
                    channel_open_ms: since_offer("channel_open_at_ms"),
                    echo_ms: call.is_echo().then_some(end - offer),
                },
            })
        }
        _ => Err(format!(
            "{kind} in-page {} returned {measured}",
            call.label()
        )),
    }
}

/// How long an in-page call may take, ms.
const IN_PAGE_LIMIT_MS: u64 = 8000;

/// A two-window echo as one call: the offering window's result with each phase the later of
/// the two windows' times (a case's phases are both sides'), and the messages both received
/// through the relay.
fn both_windows(mut offerer: serde_json::Value, answerer: &serde_json::Value) -> serde_json::Value {
    for field in [
        "ice_connected_at_ms",
        "connected_at_ms",
        "channel_open_at_ms",
        "relayed_messages",
    ] {
        let mine = offerer.get(field).and_then(serde_json::Value::as_f64);
        let theirs = answerer.get(field).and_then(serde_json::Value::as_f64);
        let merged = match (field, mine, theirs) {
            ("relayed_messages", Some(a), Some(b)) => Some(a + b),
            (_, Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        offerer[field] = serde_json::json!(merged);
    }
    offerer
}

/// The video call's cases: each shape on every selected pairing.
fn video_cases(settings: &BenchSettings) -> Vec<(CallShape, Case)> {
    let mut all = Vec::new();
    for shape in CallShape::ALL {
        let scenario = scenario::parse(shape.scenario(), "bench-video", "bench.toml".as_ref())
            .expect("the video bench scenarios are valid");
        let selection = plan::Selection {
            pairings: settings.pairings.iter().map(|&p| p.into()).collect(),
            ..Default::default()
        };
        let cases = selection
            .apply(plan::expand(&Arc::new(scenario), &settings.kinds()))
            .expect("no scenario pattern to miss");
        all.extend(cases.into_iter().map(|case| (shape, case)));
    }
    all
}

/// Offer created → the first video frame `offerer`'s side got, in one iteration.
fn first_frame_ms(r: &CaseResult, offerer: bool) -> Option<f64> {
    let tracks = if offerer {
        &r.tracks.offerer
    } else {
        &r.tracks.answerer
    };
    let frame = tracks
        .iter()
        .find(|t| t.is_inbound("video"))?
        .first_frame_at_ms?;
    Some(frame - r.phases.offer_created_ms?)
}

fn video_row(case: &Case, shape: CallShape, results: &[CaseResult]) -> VideoRow {
    // (offerer's first frame where it receives, answerer's first frame) of each iteration in
    // which every receiving side got one.
    let seen: Vec<(Option<f64>, f64)> = results
        .iter()
        .filter_map(|r| {
            let answerer = first_frame_ms(r, false)?;
            match shape {
                CallShape::OneWay => Some((None, answerer)),
                CallShape::TwoWay => Some((Some(first_frame_ms(r, true)?), answerer)),
            }
        })
        .collect();
    VideoRow {
        pairing: case.pairing(),
        shape,
        passed: seen.len(),
        ran: results.len(),
        offerer_first_frame_ms: median(seen.iter().filter_map(|s| s.0)),
        answerer_first_frame_ms: median(seen.iter().map(|s| s.1)),
        every_receiver_ms: median(seen.iter().map(|s| s.0.unwrap_or(s.1).max(s.1))),
    }
}

/// The bench case of a pairing with a stack that declares `restart_ice` unsupported: the scenario
/// up to its ICE restart, so the first connection and the renegotiation are still measured (the
/// whole scenario would be skipped).
fn without_an_unsupported_restart(case: Case) -> Case {
    let cannot_restart = case.kinds().into_iter().any(|kind| match kind {
        PeerKind::External(name) => catalogue::find(name)
            .is_some_and(|external| external.unsupported("restart_ice").is_some()),
        _ => false,
    });
    if !cannot_restart {
        return case;
    }
    let mut scenario = (*case.scenario).clone();
    scenario.steps.truncate(RESTART_STEP);
    Case {
        scenario: Arc::new(scenario),
        ..case
    }
}

/// Both sides played every step of `case`'s scenario without an error.
fn every_step_done(case: &Case, r: &CaseResult) -> bool {
    first_steps_done(r, case.scenario.steps.len())
}

/// Both sides played the first `count` steps without an error.
fn first_steps_done(r: &CaseResult, count: usize) -> bool {
    [&r.steps.offerer, &r.steps.answerer].iter().all(|steps| {
        steps.len() >= count
            && steps[..count]
                .iter()
                .all(|s| s.error.is_none() && s.ended_at_ms.is_some())
    })
}

/// The renegotiation round of one iteration: the offerer begins step `RENEGOTIATE_STEP` (and
/// creates its offer) → the later of the two sides is stable again.
fn renegotiation_ms(r: &CaseResult) -> Option<f64> {
    let offerer = r.steps.offerer.get(RENEGOTIATE_STEP)?;
    let answerer = r.steps.answerer.get(RENEGOTIATE_STEP)?;
    Some(offerer.ended_at_ms?.max(answerer.ended_at_ms?) - offerer.started_at_ms)
}

/// The ICE restart of one iteration: the offerer calls restartIce → its echo after the restart
/// came back.
fn ice_restart_ms(r: &CaseResult) -> Option<f64> {
    let restart = r.steps.offerer.get(RESTART_STEP)?;
    let echoed = r.steps.offerer.get(ECHO_AFTER_RESTART_STEP)?;
    Some(echoed.ended_at_ms? - restart.started_at_ms)
}

/// A pairing's figures: each from the iterations that got as far as what it times, so a stack
/// whose ICE restart stalls still has its first connection and renegotiation measured.
fn row(case: &Case, profile: Option<NativeProfile>, results: &[CaseResult]) -> BenchRow {
    // The steps up to the first echo, and up to the renegotiation's end.
    let echoed: Vec<&CaseResult> = results
        .iter()
        .filter(|r| first_steps_done(r, RENEGOTIATE_STEP))
        .collect();
    let renegotiated = results
        .iter()
        .filter(|r| first_steps_done(r, RENEGOTIATE_STEP + 1));
    let restarted = results.iter().filter(|r| every_step_done(case, r));
    let phases: Vec<&Phases> = echoed.iter().map(|r| &r.phases).collect();
    BenchRow {
        pairing: case.pairing(),
        profile,
        passed: echoed.len(),
        ran: results.len(),
        renegotiation_ms: median(renegotiated.filter_map(renegotiation_ms)),
        ice_restart_ms: median(restarted.filter_map(ice_restart_ms)),
        restart_played: case.scenario.steps.len() > RESTART_STEP,
        phases: PhaseMedians::of(&phases),
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The report as text: start-up, the cold matrix, and a table of medians per pairing with each
/// phase's own duration and the ratio against the baseline.
pub fn render(report: &BenchReport, iterations: usize) -> String {
    let mut text = String::new();
    text.push_str("browser start-up (measured once, before any case):\n");
    for (kind, driver, session) in &report.startups {
        text.push_str(&format!(
            "  {kind:<9} driver {driver:>7.1} ms   browser session {session:>7.1} ms\n"
        ));
    }
    text.push_str(&format!(
        "cold matrix: {} case(s), {} passed, {:.0} ms wall time including browser start-up\n\n",
        report.cold_cases.0, report.cold_cases.1, report.cold_matrix_ms
    ));
    let baseline = report
        .rows
        .iter()
        .find(|r| r.pairing == "native→native" && r.profile == Some(NativeProfile::Default))
        .and_then(|r| r.phases.offer_to_echo_ms);
    text.push_str(&format!(
        "warm cases, medians of {iterations} iteration(s), ms; each phase is the time since the one before, each figure the median of the iterations' own (so the phases need not add up to the spans):\n"
    ));
    let header = [
        "pairing",
        "profile",
        "ok",
        "start",
        "signal",
        "ice",
        "dtls",
        "sctp+open",
        "echo",
        "ready→echo",
        "offer→echo",
        "× baseline",
        "× in-page",
        "× relayed",
        "× windows",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in &report.rows {
        let m = &r.phases;
        // A browser against itself has floors: the same call inside one of its pages, with its
        // signaling inside the page and through the relay, and between two of its windows.
        let against_floor = |call: InPageCall| {
            let floor = against_itself(r).and_then(|kind| report.floor(kind, call));
            ratio(r.phases.offer_to_echo_ms, floor.and_then(|b| b.ms))
        };
        rows.push(vec![
            r.pairing.clone(),
            r.profile.map_or("-", NativeProfile::as_str).to_string(),
            format!("{}/{}", r.passed, r.ran),
            figure(m.start_ms),
            figure(m.signal_ms),
            figure(m.ice_ms),
            figure(m.dtls_ms),
            figure(m.sctp_open_ms),
            figure(m.echo_ms),
            figure(m.ready_to_echo_ms),
            figure(m.offer_to_echo_ms),
            ratio(r.phases.offer_to_echo_ms, baseline),
            against_floor(InPageCall::Echo),
            against_floor(InPageCall::RelayedEcho),
            against_floor(InPageCall::WindowsEcho),
        ]);
        rows.extend(floor_rows(report, r));
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                let pad = " ".repeat(w - cell.chars().count());
                if i < 2 {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    let echo_floors: Vec<&InPageRow> = report.in_page.iter().filter(|b| b.call.is_echo()).collect();
    for b in &echo_floors {
        text.push_str(&in_page_line(b));
    }
    if !echo_floors.is_empty() {
        text.push_str(
            "× in-page: a browser against itself, against its in-page data echo (two connections \
             in one page, no relay). Target: ≤ 1.5×.\n\
             × relayed: against the same in-page echo signaling through the relay (a WebSocket per \
             connection): what is left is the harness's own.\n\
             × windows: against the same echo between two windows of the browser, a connection in \
             each, signaling through the relay: what is left is peer.html's and the runner's.\n\
             in-page / relayed / windows rows: those echoes' own phases, under the browser's row.\n",
        );
    }
    text.push_str(&after_first_connection(report));
    text.push_str(&video_call(report));
    match baseline {
        Some(b) => text.push_str(&format!(
            "\nbaseline: native→native, default profile, offer→echo {b:.1} ms (same run)\n"
        )),
        None => {
            text.push_str("\nbaseline: native→native with the default profile was not measured\n")
        }
    }
    text.push_str(
        "start: both peers ready (window, page, room); signal: → offer created; ice: → both ICE connected;\n\
         dtls: → both connected; sctp+open: → data channel open on both sides; echo: → probe back\n",
    );
    text
}

/// A figure in ms as a table cell (`-` without one).
fn figure(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |v| format!("{v:.1}"))
}

/// `value / of` as a table cell (`-` without either, or against nothing).
fn ratio(value: Option<f64>, of: Option<f64>) -> String {
    match (value, of) {
        (Some(v), Some(of)) if of > 0.0 => format!("{:.2}", v / of),
        _ => "-".into(),
    }
}

/// The browser of a row that pairs it with itself (no native profile), as `chromium`.
fn against_itself(r: &BenchRow) -> Option<&str> {
    match r.pairing.split_once('→') {
        Some((offerer, answerer)) if offerer == answerer && r.profile.is_none() => Some(offerer),
        _ => None,
    }
}

/// Under a browser's row against itself, its in-page data echoes with their phases (`in-page`;
/// `relayed` and `windows` with their ratios against `in-page`: what the relay's path and two
/// pages cost), so each phase of a case stands over its floors in the same run.
fn floor_rows(report: &BenchReport, r: &BenchRow) -> Vec<Vec<String>> {
    let Some(kind) = against_itself(r) else {
        return Vec::new();
    };
    let in_page_ms = report.floor(kind, InPageCall::Echo).and_then(|b| b.ms);
    [
        (InPageCall::Echo, "in-page"),
        (InPageCall::RelayedEcho, "relayed"),
        (InPageCall::WindowsEcho, "windows"),
    ]
    .into_iter()
    .filter_map(|(call, label)| Some((report.floor(kind, call)?, call, label)))
    .map(|(b, call, label)| {
        let p = &b.phases;
        let against_in_page = match call {
            InPageCall::Echo => "-".into(),
            _ => ratio(b.ms, in_page_ms),
        };
        vec![
            r.pairing.clone(),
            label.to_string(),
            format!("{}/{}", b.passed, b.ran),
            "-".into(),
            "-".into(),
            figure(p.ice_ms),
            figure(p.dtls_ms),
            figure(p.sctp_open_ms),
            figure(p.echo_ms),
            "-".into(),
            figure(b.ms),
            "-".into(),
            against_in_page,
            "-".into(),
            "-".into(),
        ]
    })
    .collect()
}

/// The second table: a renegotiation round and an ICE restart per pairing, each with its ratio
/// against native→native with the default profile in the same run.
fn after_first_connection(report: &BenchReport) -> String {
    let base = report
        .rows
        .iter()
        .find(|r| r.pairing == "native→native" && r.profile == Some(NativeProfile::Default));
    let cell = |value: Option<f64>, baseline: Option<f64>| match (value, baseline) {
        (Some(v), Some(b)) if b > 0.0 => format!("{v:.1} ({:.2}×)", v / b),
        (Some(v), _) => format!("{v:.1}"),
        (None, _) => "-".into(),
    };
    let mut rows: Vec<Vec<String>> = vec![
        [
            "pairing",
            "profile",
            "ok",
            "renegotiate",
            "ice restart→echo",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
    ];
    for r in &report.rows {
        rows.push(vec![
            r.pairing.clone(),
            r.profile.map_or("-", NativeProfile::as_str).to_string(),
            format!("{}/{}", r.passed, r.ran),
            cell(r.renegotiation_ms, base.and_then(|b| b.renegotiation_ms)),
            if r.restart_played {
                cell(r.ice_restart_ms, base.and_then(|b| b.ice_restart_ms))
            } else {
                "unsupported".into()
            },
        ]);
    }
    let mut text = String::from(
        "\nafter the first connection, medians in ms (× native→native default, same run):\n",
    );
    text.push_str(&table(&rows));
    text.push_str(
        "renegotiate: offer created → both sides stable; ice restart→echo: restartIce called → new \
         credentials in use on both sides and an echo back (unsupported: a stack of the pairing \
         declares it so, and its cases end before the restart)\n",
    );
    text
}

/// The third table: offer created → first video frame per pairing and call shape, against each
/// browser's in-page call of the same shape measured in the same run.
fn video_call(report: &BenchReport) -> String {
    if report.video.is_empty() {
        return String::new();
    }
    let baseline = |kind: PeerKind, shape: CallShape| {
        report
            .in_page
            .iter()
            .find(|b| b.kind == kind && b.call == InPageCall::Video(shape))
            .and_then(|b| b.ms)
    };
    // The video table writes its ratios with a `×`.
    let times = |v: Option<f64>, b: Option<f64>| match ratio(v, b).as_str() {
        "-" => "-".to_string(),
        r => format!("{r}×"),
    };
    let mut rows: Vec<Vec<String>> = vec![
        [
            "pairing",
            "call",
            "ok",
            "offerer sees",
            "answerer sees",
            "all see",
            "× chromium in-page",
            "× firefox in-page",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
    ];
    for r in &report.video {
        rows.push(vec![
            r.pairing.clone(),
            r.shape.label().into(),
            format!("{}/{}", r.passed, r.ran),
            figure(r.offerer_first_frame_ms),
            figure(r.answerer_first_frame_ms),
            figure(r.every_receiver_ms),
            times(r.every_receiver_ms, baseline(PeerKind::Chromium, r.shape)),
            times(r.every_receiver_ms, baseline(PeerKind::Firefox, r.shape)),
        ]);
    }
    let mut text = String::from(
        "\nvideo call, offer created → first video frame, medians in ms (× each browser's in-page \
         call of the same shape, same run):\n",
    );
    text.push_str(&table(&rows));
    for b in report
        .in_page
        .iter()
        .filter(|b| matches!(b.call, InPageCall::Video(_)))
    {
        text.push_str(&in_page_line(b));
    }
    text.push_str(
        "one-way: the offerer's camera to the answerer; two-way: a camera each way. sees: that \
         side's first decoded (browsers) or reassembled (native) frame; all see: the last \
         receiving side's; in-page: two connections in one page of that browser (seed 004's \
         pc1/pc2), fake camera, no relay. Target: chromium→chromium within 1.3× of chromium \
         in-page.\n",
    );
    text
}

/// `in-page baseline, chromium one-way: 100.0 ms (3/3 iterations)`, with the last error if any.
fn in_page_line(b: &InPageRow) -> String {
    format!(
        "in-page baseline, {} {}: {} ms ({}/{} iterations){}\n",
        b.kind,
        b.call.label(),
        b.ms.map_or("-".into(), |v| format!("{v:.1}")),
        b.passed,
        b.ran,
        b.error
            .as_deref()
            .map_or(String::new(), |e| format!("; last error: {e}"))
    )
}

/// Rows as left-aligned columns.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn phase_medians_are_of_each_iterations_own_durations() {
        // Three iterations whose peers took 100, 200 and 150 ms to start: offer → echo took 20,
        // 20 and 15 ms. The medians of the times since each case started (echo 165, offer 150)
        // would give 15.
        let iteration = |started: f64, echo_after: f64| Phases {
            peers_started_ms: Some(started),
            offer_created_ms: Some(started + 1.0),
            ice_connected_ms: Some(started + 6.0),
            connected_ms: None,
            channel_open_ms: Some(started + 1.0 + echo_after - 2.0),
            echo_ms: Some(started + 1.0 + echo_after),
        };
        let iterations = [
            iteration(100.0, 20.0),
            iteration(200.0, 20.0),
            iteration(150.0, 15.0),
        ];
        let medians = PhaseMedians::of(&iterations.iter().collect::<Vec<_>>());
        assert_eq!(
            medians,
            PhaseMedians {
                start_ms: Some(150.0),
                signal_ms: Some(1.0),
                ice_ms: Some(5.0),
                // No iteration has both ends of these two.
                dtls_ms: None,
                sctp_open_ms: None,
                echo_ms: Some(2.0),
                ready_to_echo_ms: Some(21.0),
                offer_to_echo_ms: Some(20.0),
            }
        );
    }

    #[test]
    fn rows_give_phase_durations_and_ratios_against_the_baseline() {
        let phases = |offer: f64, echo: f64| {
            PhaseMedians::of(&[&Phases {
                peers_started_ms: Some(10.0),
                offer_created_ms: Some(offer),
                ice_connected_ms: Some(offer + 1.0),
                connected_ms: Some(offer + 2.0),
                channel_open_ms: Some(offer + 3.0),
                echo_ms: Some(echo),
            }])
        };
        // An in-page echo's phases, in ms since its offer.
        let echo_floor = |ice: f64, connected: Option<f64>, open: Option<f64>, end: f64| {
            PhaseMedians::of(&[&Phases {
                peers_started_ms: None,
                offer_created_ms: Some(0.0),
                ice_connected_ms: Some(ice),
                connected_ms: connected,
                channel_open_ms: open,
                echo_ms: Some(end),
            }])
        };
        let report = BenchReport {
            cold_matrix_ms: 1234.0,
            cold_cases: (9, 9),
            startups: vec![(PeerKind::Chromium, 20.0, 600.0)],
            rows: vec![
                BenchRow {
                    pairing: "native→native".into(),
                    profile: Some(NativeProfile::Default),
                    passed: 3,
                    ran: 3,
                    phases: phases(20.0, 220.0),
                    renegotiation_ms: Some(40.0),
                    ice_restart_ms: Some(300.0),
                    restart_played: true,
                },
                BenchRow {
                    pairing: "native→native".into(),
                    profile: Some(NativeProfile::Fast),
                    passed: 3,
                    ran: 3,
                    phases: phases(20.0, 70.0),
                    renegotiation_ms: Some(10.0),
                    ice_restart_ms: None,
                    restart_played: true,
                },
                BenchRow {
                    pairing: "chromium→chromium".into(),
                    profile: None,
                    passed: 3,
                    ran: 3,
                    phases: phases(20.0, 80.0),
                    renegotiation_ms: None,
                    ice_restart_ms: None,
                    restart_played: true,
                },
                BenchRow {
                    pairing: "native→libdatachannel".into(),
                    profile: Some(NativeProfile::Default),
                    passed: 3,
                    ran: 3,
                    phases: phases(20.0, 120.0),
                    renegotiation_ms: Some(20.0),
                    ice_restart_ms: None,
                    restart_played: false,
                },
            ],
            video: vec![
                VideoRow {
                    pairing: "chromium→chromium".into(),
                    shape: CallShape::OneWay,
                    passed: 3,
                    ran: 3,
                    offerer_first_frame_ms: None,
                    answerer_first_frame_ms: Some(120.0),
                    every_receiver_ms: Some(120.0),
                },
                VideoRow {
                    pairing: "chromium→chromium".into(),
                    shape: CallShape::TwoWay,
                    passed: 2,
                    ran: 3,
                    offerer_first_frame_ms: Some(300.0),
                    answerer_first_frame_ms: Some(330.0),
                    every_receiver_ms: Some(330.0),
                },
            ],
            in_page: vec![
                InPageRow {
                    kind: PeerKind::Chromium,
                    call: InPageCall::Echo,
                    ms: Some(40.0),
                    passed: 3,
                    ran: 3,
                    error: None,
                    phases: echo_floor(10.0, Some(15.0), Some(30.0), 40.0),
                },
                InPageRow {
                    kind: PeerKind::Chromium,
                    call: InPageCall::RelayedEcho,
                    ms: Some(48.0),
                    passed: 2,
                    ran: 3,
                    error: None,
                    phases: echo_floor(14.0, None, Some(36.0), 48.0),
                },
                InPageRow {
                    kind: PeerKind::Chromium,
                    call: InPageCall::WindowsEcho,
                    ms: Some(50.0),
                    passed: 3,
                    ran: 3,
                    error: None,
                    phases: echo_floor(16.0, Some(20.0), Some(40.0), 50.0),
                },
                InPageRow {
                    kind: PeerKind::Chromium,
                    call: InPageCall::Video(CallShape::OneWay),
                    ms: Some(100.0),
                    passed: 3,
                    ran: 3,
                    error: None,
                    phases: PhaseMedians::default(),
                },
                InPageRow {
                    kind: PeerKind::Chromium,
                    call: InPageCall::Video(CallShape::TwoWay),
                    ms: Some(300.0),
                    passed: 3,
                    ran: 3,
                    error: None,
                    phases: PhaseMedians::default(),
                },
            ],
        };
        let text = render(&report, 3);
        assert!(
            text.contains("cold matrix: 9 case(s), 9 passed, 1234 ms"),
            "{text}"
        );
        assert!(text.contains("chromium  driver    20.0 ms"), "{text}");
        let fast = text.lines().find(|l| l.contains(" fast ")).unwrap();
        let fields: Vec<&str> = fast.split_whitespace().collect();
        // sctp+open 1.0, echo 47.0, ready→echo 60.0, offer→echo 50.0, a quarter of the baseline;
        // no in-page floor for a native peer.
        assert_eq!(
            fields[7..],
            ["1.0", "47.0", "60.0", "50.0", "0.25", "-", "-", "-"],
            "{fast}"
        );
        // A browser against itself also against its in-page echo, 60 / 40, the same echo
        // signaling through the relay, 60 / 48, and between two windows, 60 / 50.
        let browsers = text
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["chromium→chromium", "-"]))
            .unwrap();
        let fields: Vec<&str> = browsers.split_whitespace().collect();
        assert_eq!(
            fields[10..],
            ["60.0", "0.30", "1.50", "1.25", "1.20"],
            "{browsers}"
        );
        // Under it, its in-page echoes' own phases: ice, dtls, sctp+open, echo; the relayed one
        // against the in-page one, 48 / 40 (a phase not seen: `-`).
        let floor = |label: &str| -> Vec<String> {
            text.lines()
                .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == "chromium→chromium" && f[1] == label)
                .unwrap_or_else(|| panic!("no {label} row in {text}"))
        };
        assert_eq!(
            floor("in-page")[2..],
            [
                "3/3", "-", "-", "10.0", "5.0", "15.0", "10.0", "-", "40.0", "-", "-", "-", "-"
            ]
        );
        assert_eq!(
            floor("relayed")[2..],
            [
                "2/3", "-", "-", "14.0", "-", "-", "12.0", "-", "48.0", "-", "1.20", "-", "-"
            ]
        );
        assert_eq!(
            floor("windows")[2..],
            [
                "3/3", "-", "-", "16.0", "4.0", "20.0", "10.0", "-", "50.0", "-", "1.25", "-", "-"
            ]
        );
        assert!(text.contains("in-page baseline, chromium data echo: 40.0 ms (3/3 iterations)"));
        assert!(text.contains(
            "in-page baseline, chromium data echo through the relay: 48.0 ms (2/3 iterations)"
        ));
        assert!(text.contains("offer→echo 200.0 ms"), "{text}");
        let fast = text
            .lines()
            .filter(|l| l.contains(" fast "))
            .nth(1)
            .unwrap();
        assert!(fast.contains("10.0 (0.25×)"), "{fast}");
        assert!(fast.trim_end().ends_with('-'), "{fast}");
        // A stack that cannot restart ICE: its renegotiation is measured, its restart says why not.
        let no_restart = text
            .lines()
            .filter(|l| l.starts_with("native→libdatachannel"))
            .nth(1)
            .unwrap();
        assert!(no_restart.contains("20.0 (0.50×)"), "{no_restart}");
        assert!(
            no_restart.trim_end().ends_with("unsupported"),
            "{no_restart}"
        );
        // Each shape of the video call against the in-page call of the same shape: 120 / 100
        // one way, 330 / 300 both ways.
        let video: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with("chromium→chromium") && l.contains("-way"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            video[0][1..],
            ["one-way", "3/3", "-", "120.0", "120.0", "1.20×", "-"],
            "{text}"
        );
        assert_eq!(
            video[1][1..],
            ["two-way", "2/3", "300.0", "330.0", "330.0", "1.10×", "-"],
            "{text}"
        );
        assert!(text.contains("in-page baseline, chromium one-way: 100.0 ms (3/3 iterations)"));
        assert!(text.contains("in-page baseline, chromium two-way: 300.0 ms (3/3 iterations)"));
    }
}
