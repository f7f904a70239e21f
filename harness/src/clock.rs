//! Wall-clock timestamps shared by every peer.
//!
//! Native peers, browser pages and the relay run on one machine and stamp events with milliseconds
//! since the Unix epoch, so their records line up on one time axis without any clock exchange.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, with sub-millisecond precision.
pub fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
