//! End to end: real native and Chromium peers play scenarios through the real relay, and the
//! verdicts rest on what they observed.

use crate::common;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc_interop::observe::Observations;
use rtc_interop::outcome::{CaseResult, Sides, Status};
use rtc_interop::peer::{BrowserInfo, Peer, PeerError, PeerPlan, Role};
use rtc_interop::runner::{self, Environment, RunSettings};
use rtc_interop::scenario::PeerKind::{self, Chromium, Firefox, Native};
use tokio::sync::Notify;

fn assert_connected_with_evidence(r: &CaseResult) {
    assert_eq!(r.status, Status::Passed, "{}: {:?}", r.pairing, r.failure);
    assert_eq!(r.failure, None);
    for (role, candidates) in [
        ("offerer", &r.candidates.offerer),
        ("answerer", &r.candidates.answerer),
    ] {
        assert!(
            !candidates.local.is_empty(),
            "{}: {role} gathered nothing",
            r.pairing
        );
        assert!(
            !candidates.remote.is_empty(),
            "{}: {role} received nothing",
            r.pairing
        );
        assert!(
            candidates.remote_complete,
            "{}: {role} never got the other side's end-of-candidates",
            r.pairing
        );
        for c in &candidates.local {
            let ip: IpAddr = c
                .address
                .parse()
                .unwrap_or_else(|_| panic!("{}: {role} address {}", r.pairing, c.address));
            assert!(!ip.is_unspecified(), "{}: {role} gathered {ip}", r.pairing);
        }
    }
    // Every candidate one side gathered arrived at the other: the evidence is complete.
    for (from, to) in [
        (&r.candidates.offerer, &r.candidates.answerer),
        (&r.candidates.answerer, &r.candidates.offerer),
    ] {
        for c in &from.local {
            assert!(to.remote.contains(c), "{}: {c:?} never arrived", r.pairing);
        }
    }
    // Each side's selected pair is the mirror of the other's: the same two transport addresses.
    let offerer = r
        .selected_pair
        .offerer
        .as_ref()
        .expect("offerer's selected pair");
    let answerer = r
        .selected_pair
        .answerer
        .as_ref()
        .expect("answerer's selected pair");
    assert_eq!(offerer.local.port, answerer.remote.port, "{}", r.pairing);
    assert_eq!(offerer.remote.port, answerer.local.port, "{}", r.pairing);

    let states: Vec<&str> = r
        .ice_states
        .offerer
        .iter()
        .map(|t| t.state.as_str())
        .collect();
    assert_eq!(states.first(), Some(&"new"));
    assert!(states.contains(&"connected"), "{states:?}");
    let connected_at = r.time_to_connected_ms.expect("time to connected");
    assert!(
        connected_at > 0.0 && connected_at < 20_000.0,
        "{connected_at}"
    );

    let echo = r.channels.offerer[0].echo.as_ref().expect("echo probe");
    assert_eq!(echo.received.as_deref(), Some(echo.sent.as_str()));
    assert_eq!(r.channels.answerer[0].messages_echoed, 1);
    assert_eq!(r.channels.answerer[0].label, "echo");

    // The relay trace holds the whole exchange, from both sides.
    let kinds: Vec<(&str, &str)> = r
        .signaling
        .iter()
        .map(|e| (e.kind.as_str(), e.sender.as_deref().unwrap_or_default()))
        .collect();
    let offerer_id = format!("offerer-{}", r.offerer);
    let answerer_id = format!("answerer-{}", r.answerer);
    for expected in [
        ("hello", offerer_id.as_str()),
        ("hello", answerer_id.as_str()),
        ("offer", offerer_id.as_str()),
        ("answer", answerer_id.as_str()),
        ("candidate", offerer_id.as_str()),
        ("candidate", answerer_id.as_str()),
    ] {
        assert!(
            kinds.contains(&expected),
            "{}: {expected:?} missing from {kinds:?}",
            r.pairing
        );
    }
    let offer_at = r
        .signaling
        .iter()
        .find(|e| e.kind == "offer")
        .unwrap()
        .at_ms;
    let answer_at = r
        .signaling
        .iter()
        .find(|e| e.kind == "answer")
        .unwrap()
        .at_ms;
    assert!(offer_at < answer_at);

    // Browsers leave their console log and final getStats() report; native peers have neither.
    for (kind, console, stats) in [
        (r.offerer, &r.console.offerer, &r.stats.offerer),
        (r.answerer, &r.console.answerer, &r.stats.answerer),
    ] {
        if kind.is_browser() {
            assert!(
                console.iter().any(|l| l.contains("state: connected")),
                "{}: {kind} console: {console:?}",
                r.pairing
            );
            let stats = stats
                .as_ref()
                .and_then(|s| s.as_array())
                .unwrap_or_else(|| panic!("{}: no getStats() dump from {kind}", r.pairing));
            assert!(
                stats.iter().any(|s| s["type"] == "candidate-pair"),
                "{}: {kind} stats have no candidate pair",
                r.pairing
            );
        } else {
            assert!(console.is_empty() && stats.is_none(), "{}", r.pairing);
        }
    }
    for browser in &r.browsers {
        assert!(browser.version.starts_with(char::is_numeric), "{browser:?}");
        let product = match browser.kind {
            Firefox => "Firefox/",
            _ => "Chrome/",
        };
        assert!(browser.user_agent.contains(product), "{browser:?}");
        assert!(
            browser.driver_version.starts_with(char::is_numeric),
            "{browser:?}"
        );
    }
    assert_eq!(
        r.browsers.len(),
        [r.offerer, r.answerer]
            .iter()
            .filter(|k| k.is_browser())
            .count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datachannel_echo_passes_on_all_nine_pairings() {
    let _turn = common::browser_turn().await;
    let kinds = [Native, Chromium, Firefox];
    let pairings: Vec<_> = kinds
        .iter()
        .flat_map(|&o| kinds.iter().map(move |&a| (o, a)))
        .collect();
    let cases = common::cases(common::shipped("datachannel-echo"), &pairings);
    assert_eq!(cases.len(), 9);
    let results = common::run(&cases).await;
    for r in &results {
        assert_connected_with_evidence(r);
        assert_browser_times_finer_than_a_millisecond(r);
    }
}

/// A browser side's state times are finer than a millisecond apart. Firefox rounds a page's
/// clock to whole milliseconds unless `privacy.reduceTimerPrecision` is off: every Firefox
/// timeline then moved in whole milliseconds, a few percent of a 15 ms connection.
fn assert_browser_times_finer_than_a_millisecond(r: &CaseResult) {
    let states = [&r.ice_states, &r.connection_states, &r.gathering_states];
    for (kind, role, times) in [
        (r.offerer, "offerer", states.map(|s| &s.offerer)),
        (r.answerer, "answerer", states.map(|s| &s.answerer)),
    ] {
        if !kind.is_browser() {
            continue;
        }
        let times: Vec<f64> = times
            .iter()
            .flat_map(|t| t.iter().map(|t| t.at_ms))
            .collect();
        // Hundredths of a millisecond past the whole one: all alike only on a clock that ticks
        // in whole milliseconds.
        let fractions: std::collections::BTreeSet<i64> = times
            .iter()
            .map(|t| (t.fract() * 100.0).round() as i64 % 100)
            .collect();
        assert!(
            fractions.len() > 1,
            "{} ({role}, {kind}): every state time lies a whole number of ms apart: {times:?}",
            r.pairing
        );
    }
}

/// Cases of a run share each browser, and its windows: a case loads its page into a window an
/// earlier case left (on the idle page), so the browser's window count stays where the first cases
/// put it, and every case still starts from a fresh page (its step logs are its own alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_cases_reuse_the_windows_of_earlier_ones_with_a_fresh_page() {
    let _turn = common::browser_turn().await;
    let cases = common::cases(
        common::shipped("datachannel-echo"),
        &[(Chromium, Chromium), (Firefox, Firefox)],
    );
    let settings = RunSettings {
        install: true,
        jobs: 1,
        ..RunSettings::default()
    };
    let environment = Environment::prepare(&runner::browsers_needed(&cases), &settings)
        .await
        .expect("an environment with Chromium and Firefox");
    let planned = cases[0].scenario.steps().len();
    let mut windows_after_first_round = None;
    for round in 0..3 {
        for case in &cases {
            let r = environment
                .run_case(case, &format!("reuse/{round}/{}", case.slug()))
                .await;
            assert_connected_with_evidence(&r);
            for (role, steps) in [
                ("offerer", &r.steps.offerer),
                ("answerer", &r.steps.answerer),
            ] {
                assert_eq!(steps.len(), planned, "round {round} {}: {role}", r.pairing);
            }
        }
        let windows = environment.open_windows().await;
        for (key, count) in &windows {
            // The first window, and the offerer's and the answerer's, now idle.
            assert_eq!(*count, Some(3), "round {round}: {key:?}");
        }
        match &windows_after_first_round {
            None => windows_after_first_round = Some(windows),
            Some(first) => assert_eq!(&windows, first, "round {round}"),
        }
    }
    environment.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requiring_relay_candidates_without_turn_fails_naming_the_expectation() {
    let _turn = common::browser_turn().await;
    let scenario = common::scenario(
        "needs-relay",
        r#"
time_limit_secs = 15
[data_channel]
label = "echo"
[expect]
ice_states = ["new", "checking", "connected"]
echo = true
[expect.local_candidates]
require = ["relay"]
"#,
    );
    let results = common::run(&common::cases(scenario, &[(Native, Chromium)])).await;
    let r = &results[0];
    assert_eq!(r.status, Status::Failed);
    let failure = r.failure.as_deref().unwrap();
    assert!(
        failure.contains("offerer (native): no local relay candidate (saw host×"),
        "{failure}"
    );
    assert!(
        failure.contains("answerer (chromium): no local relay candidate (saw host×"),
        "{failure}"
    );
    // Everything else did happen: the failure is the unmet expectation alone.
    assert!(!failure.contains("echo"), "{failure}");
    assert!(r.time_to_connected_ms.is_some());
}

const CANNOT_CONNECT: &str = r#"
time_limit_secs = 20
[ice]
transport_policy = "relay"
[data_channel]
label = "echo"
[expect]
ice_states = ["new", "checking", "connected"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_can_never_connect_ends_before_its_limit_with_the_reason_and_last_states() {
    let _turn = common::browser_turn().await;
    // Relay-only ICE with no TURN server: Chromium accepts it and never gathers a candidate, so
    // no pair can ever form and the case need not wait out its 20 s.
    let scenario = common::scenario("cannot-connect", CANNOT_CONNECT);
    let results = common::run(&common::cases(scenario, &[(Chromium, Chromium)])).await;
    let r = &results[0];
    assert_eq!(r.status, Status::Failed);
    let failure = r.failure.as_deref().unwrap();
    let states = "offerer (chromium) last saw ICE `new`, connection `new`; answerer (chromium) last saw ICE `new`";
    let why = " (chromium) finished gathering without a single candidate, so no candidate pair can \
               form, and no ICE restart is left to gather anew";
    assert!(
        ["offerer", "answerer"]
            .iter()
            .any(|role| failure.starts_with(&format!(
                "ended before its time limit: {role}{why}: {states}"
            ))),
        "{failure}"
    );
    assert!(
        failure.contains("expected new → checking → connected"),
        "{failure}"
    );
    assert!(
        r.candidates.offerer.local.is_empty() && r.candidates.answerer.local.is_empty(),
        "relay policy gathers nothing here"
    );
}

#[tokio::test]
async fn webrtc_rs_refusing_the_configuration_fails_the_case_with_its_reason() {
    let scenario = common::scenario("cannot-connect", CANNOT_CONNECT);
    let results = common::run(&common::cases(scenario, &[(Native, Native)])).await;
    let failure = results[0].failure.as_deref().unwrap();
    assert!(
        failure.starts_with("native offerer: cannot create the RTCPeerConnection: Relay-only ICE transport policy configured, but no TURN/TURNS servers are available"),
        "{failure}"
    );
    assert!(
        !failure.contains("expected"),
        "no expectation noise when a peer cannot start: {failure}"
    );
}

/// A real peer, watched: when the runner read it and when it posted news.
struct Watched {
    inner: Box<dyn Peer>,
    news: Option<Arc<Notify>>,
    forwarding: Option<tokio::task::JoinHandle<()>>,
    started: Instant,
    reads: Arc<Mutex<Vec<Duration>>>,
    posts: Arc<Mutex<Vec<Duration>>>,
}

impl Watched {
    fn new(inner: Box<dyn Peer>) -> Self {
        Self {
            inner,
            news: None,
            forwarding: None,
            started: Instant::now(),
            reads: Arc::default(),
            posts: Arc::default(),
        }
    }
}

#[async_trait::async_trait]
impl Peer for Watched {
    fn kind(&self) -> PeerKind {
        self.inner.kind()
    }
    fn browser(&self) -> Option<BrowserInfo> {
        self.inner.browser()
    }
    fn news(&self) -> Option<Arc<Notify>> {
        self.news.clone()
    }
    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.started = Instant::now();
        self.inner.start(plan).await?;
        // The page's news key exists once it started: pass each post on, noting when.
        if let Some(theirs) = self.inner.news() {
            let ours = Arc::new(Notify::new());
            let (posts, started, passed_on) = (self.posts.clone(), self.started, ours.clone());
            self.forwarding = Some(tokio::spawn(async move {
                loop {
                    theirs.notified().await;
                    posts.lock().unwrap().push(started.elapsed());
                    passed_on.notify_one();
                }
            }));
            self.news = Some(ours);
        }
        Ok(())
    }
    async fn observations(&mut self) -> Result<Observations, PeerError> {
        self.reads.lock().unwrap().push(self.started.elapsed());
        self.inner.observations().await
    }
    async fn close(&mut self) {
        if let Some(task) = self.forwarding.take() {
            task.abort();
        }
        self.inner.close().await;
    }
}

/// Reading a page runs a script on its main thread, so the runner leaves the pages alone while
/// they connect and reads them when they post that they finished: each real page posts its news,
/// the runner's reading after it is the one that ends the case, and a page is read far less
/// often than every 25 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_post_news_when_they_finish_and_the_runner_reads_them_then() {
    let _turn = common::browser_turn().await;
    let cases = common::cases(
        common::shipped("datachannel-echo"),
        &[(Chromium, Firefox), (Firefox, Native)],
    );
    let settings = RunSettings {
        install: true,
        ..RunSettings::default()
    };
    let environment = Environment::prepare(&runner::browsers_needed(&cases), &settings)
        .await
        .expect("an environment with Chromium and Firefox");
    for case in &cases {
        let room = format!("news/{}", case.slug());
        let offerer = Watched::new(environment.host_peer(case.offerer, Role::Offerer, case, &room));
        let answerer =
            Watched::new(environment.host_peer(case.answerer, Role::Answerer, case, &room));
        let logs = [
            (case.offerer, offerer.reads.clone(), offerer.posts.clone()),
            (
                case.answerer,
                answerer.reads.clone(),
                answerer.posts.clone(),
            ),
        ];
        let peers: Sides<Box<dyn Peer>> = Sides {
            offerer: Box::new(offerer),
            answerer: Box::new(answerer),
        };
        let r = environment.run_case_with(case, &room, peers).await;
        assert_connected_with_evidence(&r);
        for (kind, reads, posts) in logs {
            let (reads, posts) = (reads.lock().unwrap().clone(), posts.lock().unwrap().clone());
            let what = format!("{} {kind}: reads {reads:?}, posts {posts:?}", r.pairing);
            if kind == Native {
                assert!(posts.is_empty(), "{what}");
                continue;
            }
            assert!(!posts.is_empty(), "the page posted no news: {what}");
            let last_read = *reads.last().unwrap();
            assert!(last_read >= *posts.last().unwrap(), "{what}");
            // Every 25 ms would be 4 readings in 100 ms.
            let before = reads.iter().filter(|at| **at < last_read).count();
            assert!(
                before < (last_read.as_millis() / 100 + 2) as usize,
                "read too often: {what}"
            );
        }
    }
    environment.shutdown().await;
}
