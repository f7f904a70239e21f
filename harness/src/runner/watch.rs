//! Watching a case play: reading both peers' observations until both are finished, the deadline
//! passes or the outcome is decided.
//!
//! A side is read when it is due. A peer that reading costs nothing (the native peer, an external
//! program's observations file) is due every [`POLL_INTERVAL`]. A browser page is not: each
//! reading runs a script on the page's main thread (and switches the driver's window), which
//! slowed Firefox's offer → echo by 30–60 % while it was read every 25 ms. It posts news when it
//! finishes ([`crate::peer::Peer::news`]) and is otherwise read only every [`QUIET_INTERVAL`] —
//! not at once after starting either, when its connection is forming.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::early_end;
use crate::clock::epoch_ms;
use crate::observe::Observations;
use crate::outcome::Sides;
use crate::peer::{Peer, PeerError};
use crate::plan::Case;

/// How often a peer without news is read.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How often a peer with news is read anyway: for what it does not post (a side that gathered
/// nothing; a page that crashed) and a post that got lost.
const QUIET_INTERVAL: Duration = Duration::from_millis(250);
/// How long the runner waits for a peer's last observations after the time limit.
const FINAL_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How watching a case ended.
pub enum Watched {
    /// Both sides finished, or one gave up on a failed step.
    Finished,
    /// The deadline passed with a side still busy.
    TimedOut,
    /// Waiting longer could not change the outcome, for this reason.
    Decided(String),
}

/// Reads both peers' observations until both are finished, the deadline passes or the outcome is
/// decided. `observed` always holds the latest reading.
pub async fn watch(
    case: &Case,
    peers: &mut Sides<Box<dyn Peer>>,
    deadline: Instant,
    observed: &mut Sides<Observations>,
) -> Result<Watched, PeerError> {
    let news = peers.map(|p| p.news());
    let every = news.map(|n| match n {
        Some(_) => QUIET_INTERVAL,
        None => POLL_INTERVAL,
    });
    // A side without news is read at once; one with news first when it posts or after a quiet
    // interval, so that its connection forms undisturbed.
    let started = Instant::now();
    let mut due = news.map(|n| match n {
        Some(_) => started + QUIET_INTERVAL,
        None => started,
    });
    loop {
        let wake = due.offerer.min(due.answerer).min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = posted(&news.offerer) => due.offerer = Instant::now(),
            _ = posted(&news.answerer) => due.answerer = Instant::now(),
        }
        let now = Instant::now();
        // At the deadline both sides are read, for the verdict's sake.
        let read = due.map(|d| *d <= now || now >= deadline);
        read_sides(peers, &read, deadline, observed).await?;
        if read.offerer {
            due.offerer = Instant::now() + every.offerer;
        }
        if read.answerer {
            due.answerer = Instant::now() + every.answerer;
        }
        if let Some(end) = outcome(case, observed, deadline) {
            // A side not read just now may be a quiet interval behind: the verdict gets its
            // latest observations (the offer a side that gave up could not answer, say).
            read_sides(peers, &read.map(|r| !r), deadline, observed).await?;
            return Ok(end);
        }
    }
}

/// How the case ended, if it did, by the latest readings.
fn outcome(case: &Case, observed: &Sides<Observations>, deadline: Instant) -> Option<Watched> {
    if observed.offerer.finished && observed.answerer.finished {
        return Some(Watched::Finished);
    }
    if Instant::now() >= deadline {
        return Some(Watched::TimedOut);
    }
    // A side whose step failed has decided the case: the other may wait out a step that can
    // no longer complete, and that wait would only cost time.
    let gave_up = |o: &Observations| o.finished && o.failed_step().is_some();
    if gave_up(&observed.offerer) || gave_up(&observed.answerer) {
        return Some(Watched::Finished);
    }
    early_end::cannot_connect(case, &observed.offerer, &observed.answerer, epoch_ms())
        .map(Watched::Decided)
}

/// Reads the sides `read` names into `observed`, both at once.
async fn read_sides(
    peers: &mut Sides<Box<dyn Peer>>,
    read: &Sides<bool>,
    deadline: Instant,
    observed: &mut Sides<Observations>,
) -> Result<(), PeerError> {
    let read_until = deadline.max(Instant::now()) + FINAL_READ_TIMEOUT;
    let (offerer, answerer) = tokio::time::timeout_at(read_until, async {
        tokio::join!(
            read_if(read.offerer, peers.offerer.as_mut()),
            read_if(read.answerer, peers.answerer.as_mut())
        )
    })
    .await
    .map_err(|_| PeerError::new("a peer", "stopped answering"))?;
    if let Some(reading) = offerer {
        observed.offerer = reading?;
    }
    if let Some(reading) = answerer {
        observed.answerer = reading?;
    }
    Ok(())
}

/// Completes when the peer posts news; never for a peer without.
async fn posted(news: &Option<Arc<Notify>>) {
    match news {
        Some(notify) => notify.notified().await,
        None => std::future::pending().await,
    }
}

async fn read_if(read: bool, peer: &mut dyn Peer) -> Option<Result<Observations, PeerError>> {
    match read {
        true => Some(peer.observations().await),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::observe::StepLog;
    use crate::peer::PeerPlan;
    use crate::scenario::{self, PeerKind};

    /// A peer finished from `finished_from` on, which posts news then if it has news, and notes
    /// when it was read.
    struct Watchee {
        news: Option<Arc<Notify>>,
        finished_from: Duration,
        /// Whether it finishes because a step failed.
        gives_up: bool,
        started: Instant,
        reads: Arc<Mutex<Vec<Duration>>>,
    }

    impl Watchee {
        fn new(with_news: bool, finished_from: Duration, posts: bool) -> Self {
            let news = with_news.then(|| Arc::new(Notify::new()));
            if let (Some(notify), true) = (&news, posts) {
                let notify = notify.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(finished_from).await;
                    notify.notify_one();
                });
            }
            Self {
                news,
                finished_from,
                gives_up: false,
                started: Instant::now(),
                reads: Arc::default(),
            }
        }
    }

    #[async_trait::async_trait]
    impl Peer for Watchee {
        fn kind(&self) -> PeerKind {
            PeerKind::Native
        }
        fn news(&self) -> Option<Arc<Notify>> {
            self.news.clone()
        }
        async fn start(&mut self, _: &PeerPlan) -> Result<(), PeerError> {
            Ok(())
        }
        async fn observations(&mut self) -> Result<Observations, PeerError> {
            let now = self.started.elapsed();
            self.reads.lock().unwrap().push(now);
            let finished = now >= self.finished_from;
            let failed = StepLog {
                error: Some("it could not".into()),
                ..Default::default()
            };
            Ok(Observations {
                finished,
                steps: (finished && self.gives_up)
                    .then_some(failed)
                    .into_iter()
                    .collect(),
                ..Default::default()
            })
        }
        async fn close(&mut self) {}
    }

    fn case() -> Case {
        let text = "name = \"x\"\ntime_limit_secs = 12\n[data_channel]\nlabel = \"echo\"\n";
        Case {
            scenario: Arc::new(scenario::parse(text, "x", "x.toml".as_ref()).unwrap()),
            offerer: PeerKind::Chromium,
            answerer: PeerKind::Native,
            repetition: None,
        }
    }

    async fn play(
        offerer: Watchee,
        answerer: Watchee,
        limit: Duration,
    ) -> (Watched, Duration, Sides<Vec<Duration>>) {
        let reads = Sides {
            offerer: offerer.reads.clone(),
            answerer: answerer.reads.clone(),
        };
        let mut peers: Sides<Box<dyn Peer>> = Sides {
            offerer: Box::new(offerer),
            answerer: Box::new(answerer),
        };
        let started = Instant::now();
        let mut observed = Sides::<Observations>::default();
        let watched = watch(&case(), &mut peers, started + limit, &mut observed)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let elapsed = started.elapsed();
        (watched, elapsed, reads.map(|r| r.lock().unwrap().clone()))
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn a_page_is_left_alone_while_it_connects_and_read_as_soon_as_it_posts() {
        let page = Watchee::new(true, 60 * MS, true);
        let native = Watchee::new(false, 30 * MS, false);
        let (watched, elapsed, reads) = play(page, native, Duration::from_secs(5)).await;
        assert!(matches!(watched, Watched::Finished));
        assert!(
            reads.offerer.iter().all(|at| *at >= 60 * MS),
            "the page was read before it posted: {:?}",
            reads.offerer
        );
        assert!(
            elapsed < QUIET_INTERVAL,
            "the post did not end the watch ({elapsed:?})"
        );
        assert!(
            reads.answerer.len() >= 2 && reads.answerer[0] < 30 * MS,
            "the native side is read at once and often: {:?}",
            reads.answerer
        );
    }

    #[tokio::test]
    async fn a_page_whose_post_is_lost_is_still_read_after_the_quiet_interval() {
        let page = Watchee::new(true, Duration::ZERO, false);
        let other = Watchee::new(true, Duration::ZERO, false);
        let (watched, elapsed, reads) = play(page, other, Duration::from_secs(5)).await;
        assert!(matches!(watched, Watched::Finished));
        assert!(elapsed >= QUIET_INTERVAL, "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(reads.offerer.len(), 1, "{:?}", reads.offerer);
    }

    #[tokio::test]
    async fn at_the_deadline_both_sides_are_read_and_the_watch_times_out() {
        let busy = || Watchee::new(true, Duration::from_secs(60), false);
        let (watched, elapsed, reads) = play(busy(), busy(), 300 * MS).await;
        assert!(matches!(watched, Watched::TimedOut));
        assert!(elapsed >= 300 * MS, "{elapsed:?}");
        for side in [&reads.offerer, &reads.answerer] {
            assert!(
                side.last().is_some_and(|at| *at >= 300 * MS),
                "not read at the deadline: {side:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_side_that_gives_up_ends_the_watch_with_the_quiet_page_read_once_more() {
        let page = Watchee::new(true, Duration::from_secs(60), false);
        let native = Watchee {
            gives_up: true,
            ..Watchee::new(false, 20 * MS, false)
        };
        let (watched, elapsed, reads) = play(page, native, Duration::from_secs(5)).await;
        assert!(matches!(watched, Watched::Finished));
        assert!(elapsed < QUIET_INTERVAL, "{elapsed:?}");
        assert_eq!(
            reads.offerer.len(),
            1,
            "the page's final reading: {:?}",
            reads.offerer
        );
    }
}
