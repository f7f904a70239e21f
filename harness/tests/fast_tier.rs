//! The fast tier: the scripted-peer tests, the native peer's own tests, scenario files, SDP,
//! the relay, shards, the CI recipe and the Python stacks' media rules and signaling — no browser, no network namespace, no coturn; seconds.
//! `cargo nextest run --release --profile fast` runs it with the library's unit tests.

mod common;

mod ci_recipe;
mod external_peers;
mod fast;
mod media_fixtures;
mod media_rules;
mod native_peer;
mod python_signaling;
mod relay;
mod scenario_files;
mod sdp;
mod shards;
