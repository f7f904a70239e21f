//! The fast tier: the scripted-peer tests, the native peer's own tests, scenario files, SDP,
//! the relay, shards and the CI recipe — no browser, no network namespace, no coturn; seconds.
//! `cargo nextest run --release --profile fast` runs it with the library's unit tests.

mod common;

mod ci_recipe;
mod external_peers;
mod fast;
mod media_fixtures;
mod native_peer;
mod relay;
mod scenario_files;
mod sdp;
mod shards;
