//! A browser or driver that dies mid-run fails the case that was using it, with the cause, and the
//! run goes on with a fresh one.

use crate::common;

use std::time::{Duration, Instant};

use rtc_interop::leftovers;
use rtc_interop::outcome::Status;
use rtc_interop::runner::{self, Environment, RunSettings};
use rtc_interop::scenario::PeerKind::{Chromium, Native};

/// Relay-only ICE without a TURN server: Chromium waits forever, so the case is still running
/// when its browser is killed.
const STUCK: &str = r#"
time_limit_secs = 60
[ice]
transport_policy = "relay"
[data_channel]
label = "x"
"#;

/// Kills every process of ours whose command line matches `pick`, once there is one.
async fn kill_when_running(pick: impl Fn(&str) -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let victims: Vec<i32> = leftovers::running_under(std::process::id())
            .iter()
            .filter(|line| pick(line))
            .filter_map(|line| line.split(':').next()?.parse().ok())
            .collect();
        if !victims.is_empty() {
            for pid in &victims {
                // SAFETY: a plain signal to a process this test's harness started.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            return victims.len();
        }
        assert!(Instant::now() < deadline, "nothing to kill appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_or_driver_fails_its_case_and_the_next_case_gets_a_fresh_one() {
    let _turn = common::browser_turn().await;
    let stuck = common::cases(common::scenario("stuck", STUCK), &[(Chromium, Chromium)]);
    let echo = common::cases(common::shipped("datachannel-echo"), &[(Chromium, Native)]);
    let settings = RunSettings {
        install: true,
        jobs: 1,
        ..RunSettings::default()
    };
    let environment = Environment::prepare(&runner::browsers_needed(&stuck), &settings)
        .await
        .expect("an environment with Chromium");

    for (what, pick) in [
        (
            "browser",
            (|l: &str| l.contains("chromium") && !l.contains("chromedriver")) as fn(&str) -> bool,
        ),
        ("driver", |l: &str| l.contains("chromedriver")),
    ] {
        let started = Instant::now();
        let room = format!("robust/{what}");
        let (result, killed) = tokio::join!(
            environment.run_case(&stuck[0], &room),
            kill_when_running(pick)
        );
        assert!(killed > 0);
        assert_eq!(result.status, Status::Failed, "{what}");
        let failure = result.failure.as_deref().unwrap();
        assert!(failure.starts_with("chromium "), "{what}: {failure}");
        assert!(
            !failure.contains("timed out"),
            "{what}: the crash is the cause: {failure}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{what}: the crash was noticed late"
        );

        let next = environment
            .run_case(&echo[0], &format!("robust/{what}-next"))
            .await;
        assert_eq!(
            next.status,
            Status::Passed,
            "after the {what} died: {:?}",
            next.failure
        );
    }
    environment.shutdown().await;
}
