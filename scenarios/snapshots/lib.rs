//! Empty on purpose. This folder holds the accepted SDP snapshots of the scenarios in
//! `scenarios/` (`<scenario>__<offerer>-to-<answerer>__<side>-<offer|answer>.snap`, insta's
//! format), which `rtc-interop run` checks every case's descriptions against; changed ones are
//! written beside them as `.snap.new` for `cargo insta review`. It is a workspace member only so
//! that cargo-insta finds them (it looks inside workspace packages). See the README, "Reviewing
//! SDP changes".
