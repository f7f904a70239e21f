//! The scenario loader: every shipped file loads, and each kind of bad file is rejected with an
//! error that names the file, the line and the field.

mod common;

use std::path::Path;

use rtc_interop::plan;
use rtc_interop::scenario::{self, CandidateType, IceConnectionState, PeerKind, ScenarioError};

fn load_text(name: &str, text: &str) -> Result<scenario::Scenario, ScenarioError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    scenario::load_file(&path)
}

#[test]
fn every_shipped_scenario_loads() {
    let loaded = scenario::load_dir(&common::repo_root().join("scenarios")).unwrap();
    let names: Vec<&str> = loaded.iter().map(|(_, s)| s.name.as_str()).collect();
    assert!(names.contains(&"datachannel-echo"), "{names:?}");
}

#[test]
fn datachannel_echo_says_what_the_issue_asks() {
    let s = common::shipped("datachannel-echo");
    assert_eq!(
        s.expect.ice_states,
        [
            IceConnectionState::New,
            IceConnectionState::Checking,
            IceConnectionState::Connected
        ]
    );
    assert!(s.expect.echo);
    assert_eq!(s.data_channel.as_ref().unwrap().label, "echo");
    let required = &s.expect.local_candidates.as_ref().unwrap().require;
    assert_eq!(required, &[CandidateType::Host]);
    let pairings: Vec<String> = plan::expand(&std::sync::Arc::new(s))
        .iter()
        .map(|c| c.pairing())
        .collect();
    assert_eq!(
        pairings,
        [
            "native→native",
            "native→chromium",
            "native→firefox",
            "chromium→native",
            "chromium→chromium",
            "chromium→firefox",
            "firefox→native",
            "firefox→chromium",
            "firefox→firefox",
        ]
    );
}

#[test]
fn name_defaults_to_the_file_name_and_peers_can_be_restricted() {
    let s = load_text(
        "only-native.toml",
        "peers = [\"native\"]\n[data_channel]\nlabel = \"x\"\n",
    )
    .unwrap();
    assert_eq!(s.name, "only-native");
    assert_eq!(s.peers, [PeerKind::Native]);
    assert_eq!(plan::expand(&std::sync::Arc::new(s)).len(), 1);
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let err = load_text("broken.toml", "name = \"x\"\ntime_limit_secs = \n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("broken.toml:2:"), "{text}");
    assert!(matches!(err, ScenarioError::Syntax { line: 2, .. }));
}

#[test]
fn an_unknown_field_is_named_with_its_line() {
    let err = load_text(
        "typo.toml",
        "[expect]\necho = false\nice_sttes = [\"new\"]\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("typo.toml:3:1"), "{text}");
    assert!(text.contains("unknown field `ice_sttes`"), "{text}");
    assert!(
        text.contains("`ice_states`"),
        "the error offers the right name: {text}"
    );
}

#[test]
fn an_unknown_value_lists_the_valid_ones() {
    let err = load_text(
        "state.toml",
        "[expect]\nice_states = [\"new\", \"conected\"]\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("state.toml:2:"), "{text}");
    assert!(text.contains("unknown variant `conected`"), "{text}");
    assert!(text.contains("`connected`"), "{text}");

    let err = load_text("peer.toml", "peers = [\"safari\"]\n").unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `safari`"),
        "{err}"
    );
}

#[test]
fn inconsistent_content_names_the_field() {
    let cases = [
        ("[expect]\necho = true\n", "data_channel"),
        ("time_limit_secs = 0\n", "time_limit_secs"),
        ("peers = [\"native\", \"native\"]\n", "peers"),
        (
            "[expect.local_candidates]\nrequire = [\"relay\"]\nallow = [\"host\"]\n",
            "expect.local_candidates",
        ),
        (
            "[data_channel]\nlabel = \"x\"\nmax_retransmits = 1\nmax_packet_life_time = 5\n",
            "data_channel.max_retransmits",
        ),
        ("name = \"has space\"\n", "name"),
    ];
    for (text, field) in cases {
        let err = load_text("bad.toml", text).unwrap_err();
        match &err {
            ScenarioError::Invalid { field: f, .. } => assert_eq!(f, field, "{text}"),
            other => panic!("{text}: expected an Invalid error, got {other}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("{}", Path::new("bad.toml").display()))
                || err.to_string().contains("bad.toml")
        );
    }
}

#[test]
fn a_folder_without_scenarios_and_duplicate_names_are_rejected() {
    let empty = tempfile::tempdir().unwrap();
    let err = scenario::load_dir(empty.path()).unwrap_err();
    assert!(err.to_string().contains("no scenario files"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        "name = \"same\"\n[data_channel]\nlabel = \"x\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "name = \"same\"\n[data_channel]\nlabel = \"x\"\n",
    )
    .unwrap();
    let err = scenario::load_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("`same` is already used"), "{err}");
}
