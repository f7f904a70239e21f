//! The scenario loader: every shipped file loads, and each kind of bad file is rejected with an
//! error that names the file, the line and the field.

use crate::common;

use std::path::Path;

use rtc_interop::plan;
use rtc_interop::scenario::{self, CandidateType, PeerKind, ScenarioError};

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
    let states: Vec<String> = s.expect.ice_states.iter().map(|c| c.describe()).collect();
    assert_eq!(states, ["new", "checking", "connected|completed"]);
    assert!(s.expect.echo);
    assert_eq!(s.data_channel.as_ref().unwrap().label, "echo");
    let required = &s.expect.local_candidates.as_ref().unwrap().require;
    assert_eq!(required, &[CandidateType::Host]);
    let pairings: Vec<String> = plan::expand(&std::sync::Arc::new(s), &PeerKind::CORE)
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
    assert_eq!(
        plan::expand(&std::sync::Arc::new(s), &PeerKind::CORE).len(),
        1
    );
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

    let err = load_text("peer.toml", "peers = [\"safari\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `peers`: unknown peer kind `safari`"),
        "{err}"
    );
    assert!(err.contains("native, chromium, firefox"), "{err}");
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
        (
            "[data_channel]\nlabel = \"x\"\n[[known_failures]]\npairing = \"native:*\"\nexpect = \"flaky\"\nreason = \"why\"\nsymptom = \" \"\n",
            "known_failures.symptom",
        ),
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

#[test]
fn turn_relay_only_says_what_the_issue_asks() {
    use rtc_interop::scenario::{
        IceTransportPolicy, TurnCredentials, TurnServerKind, TurnSpec, TurnTransport,
    };
    let s = common::shipped("turn-relay-only");
    assert_eq!(s.ice.transport_policy, IceTransportPolicy::Relay);
    assert_eq!(
        s.ice.turn,
        Some(TurnSpec {
            server: TurnServerKind::Embedded,
            transport: TurnTransport::Udp,
            credentials: TurnCredentials::LongTerm,
        })
    );
    assert!(s.peers.is_empty(), "every pairing");
    // Known failures are the other stacks' only: every core pairing must pass.
    for case in plan::expand(&std::sync::Arc::new(s.clone()), &PeerKind::CORE) {
        let covered = s
            .known_failures
            .iter()
            .any(|k| k.covers(case.offerer, case.answerer));
        assert!(!covered, "{}", case.pairing());
    }
    for rule in [&s.expect.local_candidates, &s.expect.remote_candidates] {
        let rule = rule.as_ref().unwrap();
        assert_eq!(rule.require, [CandidateType::Relay]);
        assert_eq!(rule.allow, [CandidateType::Relay]);
    }
    let pair = s.expect.selected_pair.as_ref().unwrap();
    assert_eq!(pair.local, [CandidateType::Relay]);
    assert_eq!(pair.remote, [CandidateType::Relay]);
    assert!(s.expect.echo);

    let tcp = common::shipped("turn-relay-only-tcp");
    assert_eq!(tcp.ice.turn.unwrap().transport, TurnTransport::Tcp);
    // Every pairing with a native peer, and only those, is a known failure.
    for case in plan::expand(&std::sync::Arc::new(tcp.clone()), &PeerKind::CORE) {
        let known = tcp
            .known_failures
            .iter()
            .any(|k| k.covers(case.offerer, case.answerer));
        assert_eq!(known, case.kinds().contains(&PeerKind::Native), "{case}");
    }
}

#[test]
fn stun_and_turn_fields_default_and_reject_typos() {
    use rtc_interop::scenario::{TurnCredentials, TurnServerKind, TurnTransport};
    let s = load_text(
        "turn.toml",
        "[ice]\nstun = \"coturn\"\nturn = { server = \"coturn\" }\n[data_channel]\nlabel = \"x\"\n",
    )
    .unwrap();
    assert_eq!(s.ice.stun, Some(TurnServerKind::Coturn));
    let turn = s.ice.turn.unwrap();
    assert_eq!(turn.transport, TurnTransport::Udp);
    assert_eq!(turn.credentials, TurnCredentials::LongTerm);

    let err = load_text(
        "typo.toml",
        "[ice]\nturn = { server = \"embedded\", credential = \"rest\" }\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("typo.toml:2:"), "{text}");
    assert!(text.contains("unknown field `credential`"), "{text}");

    let err = load_text(
        "kind.toml",
        "[ice]\nturn = { server = \"embedded\", transport = \"tls\" }\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown variant `tls`"), "{err}");
    let err = load_text("kind.toml", "[ice]\nstun = \"pion\"\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown variant `pion`, expected `embedded` or `coturn`"),
        "{err}"
    );
}

#[test]
fn an_ice_server_elsewhere_is_rejected_naming_file_and_field_and_why() {
    // As someone would copy it from a WebRTC sample: a public STUN server.
    let err = load_text(
        "public.toml",
        "[ice]\n[[ice.servers]]\nurls = [\"stun:stun.l.google.com:19302\"]\n[data_channel]\nlabel = \"x\"\n",
    )
    .unwrap_err();
    let text = err.to_string();
    match &err {
        ScenarioError::Invalid { path, field, .. } => {
            assert!(path.ends_with("public.toml"), "{text}");
            assert_eq!(field, "ice.servers[0].urls");
        }
        other => panic!("expected an Invalid error, got {other}"),
    }
    assert!(
        text.contains("public.toml: field `ice.servers[0].urls`"),
        "{text}"
    );
    assert!(text.contains("`stun:stun.l.google.com:19302`"), "{text}");
    assert!(text.contains("rtc-interop runs offline"), "{text}");
    assert!(
        text.contains("stun = \"embedded\""),
        "the error says what to write: {text}"
    );

    // An IP address that is not this machine's, in a later entry.
    let err = load_text(
        "elsewhere.toml",
        "[[ice.servers]]\nurls = [\"stun:127.0.0.1:3478\"]\n[[ice.servers]]\nurls = [\"turn:8.8.8.8:3478?transport=udp\"]\nusername = \"u\"\ncredential = \"p\"\n[data_channel]\nlabel = \"x\"\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("field `ice.servers[1].urls`"), "{text}");
    assert!(
        text.contains("8.8.8.8 is neither loopback nor one of its addresses"),
        "{text}"
    );

    // The same URL where a server kind belongs: refused at its line, saying why.
    let err = load_text(
        "stun-url.toml",
        "[ice]\nstun = \"stun:stun.l.google.com:19302\"\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("stun-url.toml:2:"), "{text}");
    assert!(text.contains("rtc-interop runs offline"), "{text}");

    // Servers on this machine are fine: loopback and its own address.
    let own = rtc_interop::net::addrs::server_ip();
    let s = load_text(
        "own.toml",
        &format!(
            "[[ice.servers]]\nurls = [\"stun:127.0.0.1:3478\", \"turn:{own}:3478?transport=tcp\"]\nusername = \"u\"\ncredential = \"p\"\n[data_channel]\nlabel = \"x\"\n"
        ),
    )
    .unwrap();
    assert_eq!(s.ice.servers[0].urls.len(), 2);
}

#[test]
fn a_name_too_long_for_a_snapshot_file_is_refused_at_load() {
    let long = "n".repeat(scenario::MAX_SCENARIO_NAME_CHARS + 1);
    let text = format!("name = \"{long}\"\n[data_channel]\nlabel = \"x\"\n");
    let error = load_text("long.toml", &text).unwrap_err().to_string();
    assert!(error.contains("long.toml: field `name`"), "{error}");
    assert!(error.contains("at most 100 characters"), "{error}");
    let fits = "n".repeat(scenario::MAX_SCENARIO_NAME_CHARS);
    load_text(
        "fits.toml",
        &format!("name = \"{fits}\"\n[data_channel]\nlabel = \"x\"\n"),
    )
    .unwrap();
}

#[test]
fn only_regular_files_of_bounded_size_are_read() {
    let dir = tempfile::tempdir().unwrap();
    // A *.toml that is a symlink to an endless device: refused before any byte is read.
    let endless = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &endless).unwrap();
    let error = scenario::load_file(&endless).unwrap_err().to_string();
    assert!(error.contains("zero.toml: not a regular file"), "{error}");
    // A folder named like a scenario.
    let folder = dir.path().join("folder.toml");
    std::fs::create_dir(&folder).unwrap();
    let error = scenario::load_file(&folder).unwrap_err().to_string();
    assert!(error.contains("not a regular file"), "{error}");
    // A file over the cap.
    let big = dir.path().join("big.toml");
    let mut text = String::from("[data_channel]\nlabel = \"x\"\n");
    text.push_str(&"# padding\n".repeat(120_000));
    std::fs::write(&big, text).unwrap();
    let error = scenario::load_file(&big).unwrap_err().to_string();
    assert!(
        error.contains("a scenario file may have at most 1048576"),
        "{error}"
    );
    // load_dir stops at the same refusal, naming the file.
    let error = scenario::load_dir(dir.path()).unwrap_err().to_string();
    assert!(error.contains(".toml"), "{error}");
}
