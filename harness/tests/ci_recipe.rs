//! The CI recipe of docs/ci.md: its GitHub Actions workflow parses, has the jobs the recipe
//! describes, and every rtc-interop command it runs is one the CLI accepts.

use crate::common;
use rtc_interop::bounded::BoundedCommand;
use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn workflow() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ci/github-actions.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .remove(0)
}

/// Every `run:` script of every job, by job name.
fn scripts(workflow: &Yaml) -> Vec<(String, String)> {
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    let mut scripts = Vec::new();
    for (name, job) in jobs {
        for step in job["steps"].as_vec().expect("steps") {
            if let Some(script) = step["run"].as_str() {
                scripts.push((name.as_str().unwrap().to_string(), script.to_string()));
            }
        }
    }
    scripts
}

/// The arguments of every rtc-interop invocation in `script` (`cargo run --release -- ARGS`),
/// with GitHub expressions and shell substitutions replaced by plausible values.
fn invocations(script: &str) -> Vec<Vec<String>> {
    let script = script
        .replace("${{ matrix.shard }}", "1")
        .replace("$SHARDS", "4")
        .replace("\"$(hostname -i | cut -d' ' -f1)\"", "127.0.0.1");
    script
        .lines()
        .filter_map(|line| line.split_once("cargo run --release -- "))
        .map(|(_, rest)| {
            let command = rest.split(['|', ';']).next().unwrap();
            command.split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

#[test]
fn the_workflow_has_shards_a_merge_and_a_grid_job() {
    let workflow = workflow();
    let jobs = workflow["jobs"].as_hash().unwrap();
    let names: Vec<&str> = jobs.keys().filter_map(Yaml::as_str).collect();
    assert_eq!(names, ["shard", "merge", "grid"]);
    let shards = workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .unwrap();
    assert_eq!(shards.len(), 4);
    assert_eq!(
        workflow["env"]["SHARDS"].as_i64(),
        Some(4),
        "SHARDS matches the matrix"
    );
    assert_eq!(workflow["jobs"]["merge"]["needs"].as_str(), Some("shard"));
    assert_eq!(workflow["jobs"]["merge"]["if"].as_str(), Some("always()"));
    let all: Vec<Vec<String>> = scripts(&workflow)
        .iter()
        .flat_map(|(_, s)| invocations(s))
        .collect();
    let subcommands: Vec<&str> = all.iter().map(|args| args[0].as_str()).collect();
    for wanted in ["install", "run", "merge"] {
        assert!(subcommands.contains(&wanted), "{subcommands:?}");
    }
    assert!(
        all.iter().any(|a| a.contains(&"--shard".to_string())),
        "{all:?}"
    );
    assert!(
        all.iter().any(|a| a.contains(&"--webdriver".to_string())),
        "{all:?}"
    );
}

#[test]
fn every_command_the_workflow_runs_is_accepted_by_the_cli() {
    let invocations: Vec<(String, Vec<String>)> = scripts(&workflow())
        .into_iter()
        .flat_map(|(job, script)| {
            invocations(&script)
                .into_iter()
                .map(move |a| (job.clone(), a))
        })
        .collect();
    assert!(invocations.len() >= 5, "{invocations:?}");
    for (job, args) in invocations {
        // clap checks arguments in order and stops at `--help`: an unknown subcommand, flag or
        // an invalid value before it is an error, and nothing runs.
        let output = Command::new(env!("CARGO_BIN_EXE_rtc-interop"))
            .args(&args)
            .arg("--help")
            .output_within(common::QUICK_LIMIT)
            .unwrap();
        assert!(
            output.status.success(),
            "job {job}: `rtc-interop {}` is refused: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // And the check itself can fail.
    let refused = Command::new(env!("CARGO_BIN_EXE_rtc-interop"))
        .args(["run", "--shards", "1/4", "--help"])
        .output_within(common::QUICK_LIMIT)
        .unwrap();
    assert!(!refused.status.success());
}

#[test]
fn the_recipe_links_the_workflow_file() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ci.md"))
        .unwrap();
    assert!(doc.contains("(ci/github-actions.yml)"));
}

/// Each package's features, as `cargo tree` resolves them for the harness with `edges`.
fn resolved_features(edges: &str) -> std::collections::BTreeMap<String, String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", "rtc-interop", "-e", edges])
        .args(["--prefix", "none", "-f", "{p}|{f}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output_within(common::RUN_LIMIT)
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (package, features) = line.trim_end_matches(" (*)").split_once('|')?;
            Some((package.to_string(), features.to_string()))
        })
        .collect()
}

/// `cargo run --release -- install && cargo test --release` compiles the webrtc stack and the
/// harness once only if the test-only dependencies turn on no feature of a shared dependency:
/// one did (yaml-rust2's default `encoding` changed simdutf8's features), and CI compiled
/// rkyv..webrtc and the harness twice, several minutes.
#[test]
fn test_only_dependencies_change_no_feature_of_the_harness_dependencies() {
    let normal = resolved_features("normal,build");
    let with_dev = resolved_features("normal,build,dev");
    assert!(normal.len() > 100, "{normal:?}");
    let changed: Vec<String> = normal
        .iter()
        .filter(|(package, features)| with_dev.get(*package) != Some(features))
        .map(|(package, features)| format!("{package}: [{features}] → [{}]", with_dev[package]))
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
}
