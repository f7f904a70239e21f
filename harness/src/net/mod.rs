//! Simulated networks around the peers.
//!
//! - [`netns`]: Linux network namespaces that put each peer behind a real NAT of a chosen kind.

pub mod netns;
