//! rtc-interop: a headless WebRTC interop harness.
//!
//! A run takes scenario files, expands each into every ordered pairing of peer kinds (webrtc-rs in
//! this process, headless browsers over WebDriver), plays each pairing through a signaling relay,
//! and judges it on what the peers really observed.
//!
//! - [`scenario`]: the scenario file format and its loader; [`plan`]: expanding it into cases.
//! - [`relay`]: the signaling relay; [`signaling`]: its wire protocol.
//! - [`peer`]: the peer kinds behind one trait; [`page_server`]: serves the browser peer page and
//!   takes its news (it finished), so the runner need not read a page while it connects.
//! - [`observe`]: what peers record; [`verdict`]: checking expectations; [`decide`]: the one place
//!   a case's status is decided; [`outcome`]: case results.
//! - [`lint`]: the signaling lint, every trace message checked against its sender's descriptions.
//! - [`sdp`]: session descriptions normalized, compared across stacks and kept as insta snapshots.
//! - [`runner`]: running cases and emitting events; [`report`]: the reports that consume them.
//! - [`bench`](mod@bench): where a case's time goes, per pairing (`rtc-interop bench`); [`relay_bench`]: the
//!   relay against a minimal Node relay (`rtc-interop bench relay`).
//! - [`provision`]: finding and installing browsers; [`process`]: child processes that never leak;
//!   [`bounded`]: short-lived commands run to their end within a time limit.
//! - [`net`]: the STUN/TURN servers a run starts (embedded, or coturn), and peers behind NATs;
//!   [`ice_servers`]: which of them a run starts for its scenarios, and what each case's peers get.
#![warn(missing_docs)]

pub mod bench;
pub mod bounded;
pub mod capture;
pub mod clock;
pub mod decide;
pub mod ice_servers;
pub mod leftovers;
pub mod lint;
pub mod matrix_bench;
pub mod native_log;
pub mod net;
pub mod observe;
pub mod outcome;
pub mod page_server;
pub mod peer;
pub mod plan;
pub mod process;
pub mod provision;
pub mod relay;
pub mod relay_bench;
pub mod remote;
pub mod report;
pub mod report_bench;
pub mod runner;
pub mod scenario;
pub mod sdp;
pub mod shard;
pub mod signaling;
pub mod verdict;

/// The webrtc-rs (`webrtc` crate) version native peers are built on, from Cargo.lock.
pub const WEBRTC_RS_VERSION: &str = env!("RTC_INTEROP_WEBRTC_VERSION");
