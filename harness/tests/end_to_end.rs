//! The end-to-end tier: real Chromium and Firefox, network namespaces, coturn, the other stacks,
//! the CLI as users run it. Tests that drive browsers take turns (`common::browser_turn`); under
//! nextest the whole tier runs a test at a time (`.config/nextest.toml`).

mod common;

mod capture;
mod cli;
mod external_stacks;
mod html_report;
mod media_scenarios;
mod nat_scenarios;
mod netns;
mod pairings;
mod robustness;
mod snapshots;
mod step_scenarios;
mod turn;
mod turn_scenarios;
