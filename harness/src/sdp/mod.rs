//! Session descriptions: parsing, normalizing for snapshots, comparing stacks, describing changes.
//!
//! - [`parse()`]: SDP text into session lines and media sections, with errors that name the line.
//! - [`normalize`]: replaces what changes on every run (ICE credentials, fingerprints, session
//!   ids, addresses, ports, candidates, stream/track ids, SSRCs, CNAMEs) with placeholders, so a
//!   description can be stored as a snapshot and compared across runs and machines.
//! - [`features()`]: what a description negotiates (codecs, header extensions, DTLS role, BUNDLE,
//!   SCTP, …), and [`compare_table`] to set several side by side.
//! - [`describe_changes`]: sentences saying how one normalized description differs from another.
//! - [`snapshot`]: storing normalized descriptions as insta snapshots (`cargo insta review`).
//! - [`check`]: checking every case's descriptions against the accepted snapshots in a run.
//! - [`compare`]: per scenario, each peer kind's offer and answer side by side
//!   (`rtc-interop sdp compare`, the reports).

mod changes;
pub mod check;
mod codec;
pub mod compare;
mod features;
mod normalize;
mod parse;
pub mod snapshot;
mod table;

pub use changes::describe_changes;
pub use codec::{fmtp_params, listed_codecs};
pub use features::{MediaFeatures, SdpFeatures, features};
pub use normalize::normalize;
pub use parse::{Line, MediaLine, MediaSection, Sdp, parse};
pub use table::compare_table;

/// Why an SDP could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The input has no lines.
    #[error("the SDP is empty")]
    Empty,
    /// One line is malformed.
    #[error("SDP line {line}: `{text}`: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// The line as it was (without line ending).
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SdpError {
    pub(crate) fn line(line: usize, text: &str, reason: impl Into<String>) -> SdpError {
        SdpError::Line {
            line,
            text: text.to_string(),
            reason: reason.into(),
        }
    }
}
