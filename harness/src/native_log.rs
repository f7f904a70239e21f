//! webrtc-rs's log, for people and for bug bundles.
//!
//! webrtc-rs logs through the `log` crate. What `RUST_LOG` enables goes to stderr, as with
//! env_logger (silent by default). With `--capture` a tap also keeps records in memory, each with
//! its time, so that each case's bundle carries the native peer's log of the case's time
//! ([`lines_between`]). The tap keeps what `RUST_LOG` names, or [`CAPTURE_DEFAULT`] when it is
//! unset.
//!
//! Native peers of concurrent cases share one process and webrtc-rs's records do not say which
//! peer connection they are from, so a case's lines are those of its time: with `-j` above 1
//! they can include lines of the cases played beside it (the case's artifact says how many).

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use log::{Log, Metadata, Record};

/// What the tap keeps when `RUST_LOG` is unset: webrtc-rs's debug records (ICE checks and pairs,
/// DTLS and SCTP set-up), and warnings of everything else.
pub const CAPTURE_DEFAULT: &str =
    "warn,webrtc=debug,rtc=debug,rtc_ice=debug,rtc_dtls=debug,rtc_sctp=debug,rtc_srtp=debug";

/// The tap keeps at most this much text; the oldest lines go first.
const TAP_LIMIT_BYTES: usize = 64 << 20;

struct HarnessLogger {
    stderr: env_logger::Logger,
    tap: OnceLock<Tap>,
}

struct Tap {
    filter: env_logger::Logger,
    lines: Mutex<TapLines>,
}

#[derive(Default)]
struct TapLines {
    lines: VecDeque<(SystemTime, String)>,
    bytes: usize,
    dropped: u64,
}

static LOGGER: OnceLock<HarnessLogger> = OnceLock::new();

/// Installs the harness's logger (once; later calls do nothing): `RUST_LOG` to stderr.
pub fn install() {
    let mut first = false;
    let logger = LOGGER.get_or_init(|| {
        first = true;
        HarnessLogger {
            stderr: env_logger::Builder::from_env(
                env_logger::Env::default().default_filter_or("off"),
            )
            .format_timestamp_millis()
            .build(),
            tap: OnceLock::new(),
        }
    });
    // Another logger may be installed already (a test harness's): then there is nothing to tap.
    if first && log::set_logger(logger).is_ok() {
        log::set_max_level(logger.stderr.filter());
    }
}

/// Starts keeping records in memory (`--capture`), from now until the process ends. Returns
/// the filter it keeps them by.
pub fn start_tap() -> String {
    install();
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| CAPTURE_DEFAULT.to_string());
    let Some(logger) = LOGGER.get() else {
        return filter;
    };
    let tap = logger.tap.get_or_init(|| Tap {
        filter: env_logger::Builder::new().parse_filters(&filter).build(),
        lines: Mutex::new(TapLines::default()),
    });
    log::set_max_level(logger.stderr.filter().max(tap.filter.filter()));
    filter
}

/// The tapped lines logged from `from` to `to`, and how many lines the tap had to drop (its
/// limit) over the whole run.
pub fn lines_between(from: SystemTime, to: SystemTime) -> (Vec<String>, u64) {
    let Some(tap) = LOGGER.get().and_then(|l| l.tap.get()) else {
        return (Vec::new(), 0);
    };
    let kept = tap.lines.lock().unwrap_or_else(|e| e.into_inner());
    (kept.between(from, to), kept.dropped)
}

impl Log for HarnessLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.stderr.enabled(metadata) || self.tap.get().is_some_and(|t| t.filter.enabled(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        if self.stderr.matches(record) {
            self.stderr.log(record);
        }
        if let Some(tap) = self.tap.get().filter(|t| t.filter.matches(record)) {
            let now = SystemTime::now();
            let line = format!(
                "{} {:<5} {}: {}",
                chrono::DateTime::<chrono::Utc>::from(now).format("%H:%M:%S%.3f"),
                record.level(),
                record.target(),
                record.args()
            );
            tap.keep(now, line);
        }
    }

    fn flush(&self) {
        self.stderr.flush();
    }
}

impl TapLines {
    fn between(&self, from: SystemTime, to: SystemTime) -> Vec<String> {
        self.lines
            .iter()
            .filter(|(at, _)| (from..=to).contains(at))
            .map(|(_, line)| line.clone())
            .collect()
    }
}

impl Tap {
    fn keep(&self, at: SystemTime, line: String) {
        let mut kept = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        kept.bytes += line.len();
        kept.lines.push_back((at, line));
        while kept.bytes > TAP_LIMIT_BYTES {
            let Some((_, old)) = kept.lines.pop_front() else {
                break;
            };
            kept.bytes -= old.len();
            kept.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_tap_keeps_lines_by_time_and_drops_the_oldest_past_its_limit() {
        let tap = Tap {
            filter: env_logger::Builder::new().parse_filters("debug").build(),
            lines: Mutex::new(TapLines::default()),
        };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let big = "x".repeat(TAP_LIMIT_BYTES / 2);
        tap.keep(t0, big.clone());
        tap.keep(t0 + Duration::from_secs(1), "second".into());
        tap.keep(t0 + Duration::from_secs(2), big);
        let kept = tap.lines.lock().unwrap();
        assert_eq!(kept.dropped, 1);
        assert_eq!(kept.lines.len(), 2);
        assert!(kept.bytes <= TAP_LIMIT_BYTES);
        let s = Duration::from_secs;
        assert_eq!(kept.between(t0, t0 + s(1)), ["second"]);
        assert_eq!(kept.between(t0 + s(1), t0 + s(2)).len(), 2);
        assert!(kept.between(t0 + s(3), t0 + s(9)).is_empty());
    }
}
