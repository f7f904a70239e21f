//! The SDP library on real descriptions (`fixtures/sdp/`): normalizing, features, comparing,
//! describing changes, and the snapshot flow end to end with the real `cargo insta`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use rtc_interop::bounded::BoundedCommand;
use rtc_interop::sdp::snapshot::{Side, SnapshotId, SnapshotMode, SnapshotOutcome, SnapshotStore};
use rtc_interop::sdp::{SdpError, compare_table, describe_changes, features, normalize};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sdp")
}

/// Every `.sdp` fixture, by file stem.
fn fixtures() -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sdp") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            all.insert(stem, std::fs::read_to_string(&path).unwrap());
        }
    }
    assert!(all.len() >= 15, "fixtures: {:?}", all.keys());
    all
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(format!("{name}.sdp")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn normalized(name: &str) -> String {
    normalize(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Values in a raw SDP that change on every run or name the machine, found without the library.
fn volatile_values(sdp: &str) -> Vec<String> {
    let mut values = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end();
        let mut push = |v: &str| values.push(v.trim_matches(|c| c == '{' || c == '}').to_string());
        if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
            push(v);
        } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
            push(v);
        } else if let Some(v) = line.strip_prefix("a=fingerprint:") {
            push(v.split(' ').nth(1).unwrap());
        } else if let Some(v) = line.strip_prefix("o=") {
            let f: Vec<&str> = v.split(' ').collect();
            push(f[1]);
            push(f[2]);
        } else if let Some(v) = line.strip_prefix("a=candidate:") {
            let f: Vec<&str> = v.split(' ').collect();
            push(f[0]); // foundation
            push(f[3]); // priority
            push(f[4]); // address
            push(f[5]); // port
        } else if let Some(v) = line.strip_prefix("c=") {
            push(v.split(' ').nth(2).unwrap());
        } else if let Some(v) = line.strip_prefix("m=") {
            push(v.split(' ').nth(1).unwrap());
        } else if let Some(v) = line.strip_prefix("a=rtcp:") {
            v.split(' ').for_each(&mut push);
        } else if let Some(v) = line.strip_prefix("a=msid:") {
            v.split(' ').for_each(&mut push);
        } else if let Some(v) = line.strip_prefix("a=msid-semantic:") {
            v.split_whitespace().skip(1).for_each(&mut push);
        } else if let Some(v) = line.strip_prefix("a=ssrc-group:") {
            v.split(' ').skip(1).for_each(&mut push);
        } else if let Some(v) = line.strip_prefix("a=ssrc:") {
            let (ssrc, attribute) = v.split_once(' ').unwrap();
            push(ssrc);
            let (_, value) = attribute.split_once(':').unwrap();
            value.split(' ').for_each(&mut push);
        }
    }
    // Values that say nothing about the run or the machine, and short ones that occur anyway
    // (`9` the dummy port, `0.0.0.0`, Chromium's constant session version `2`).
    values.retain(|v| {
        let constant = v
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified() || ip.is_loopback());
        !constant && v != "*" && v != "-" && v.len() >= 4
    });
    values
}

#[test]
fn normalizer_removes_every_volatile_value_of_every_fixture() {
    for (name, raw) in fixtures() {
        let n = normalize(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let volatile = volatile_values(&raw);
        assert!(volatile.len() >= 4, "{name}: {volatile:?}");
        for value in &volatile {
            assert!(
                !n.contains(value.as_str()),
                "{name}: `{value}` survived normalization:\n{n}"
            );
        }
        for placeholder in [
            "<ice-ufrag>",
            "<ice-pwd>",
            " <fingerprint>",
            "<session-id> <session-version>",
        ] {
            assert!(n.contains(placeholder), "{name}: no {placeholder} in\n{n}");
        }
        assert!(
            n.contains("a=fingerprint:sha-256 <fingerprint>\n"),
            "{name}"
        );
        assert!(!n.contains('\r'), "{name}");
        assert!(n.ends_with('\n'), "{name}");
        // No address, mDNS name or host name survives, in any token.
        for token in n.split_whitespace() {
            if let Ok(ip) = token.parse::<IpAddr>() {
                assert!(ip.is_unspecified() || ip.is_loopback(), "{name}: {token}");
            }
            assert!(!token.ends_with(".local"), "{name}: {token}");
        }
        assert_eq!(
            normalize(&n).unwrap(),
            n,
            "{name}: normalizing twice changes it"
        );
        assert_eq!(
            normalize(&raw.replace("\r\n", "\n")).unwrap(),
            n,
            "{name}: line endings matter"
        );
        assert_eq!(
            features(&n).unwrap(),
            features(&raw).unwrap(),
            "{name}: normalizing changed what the description negotiates"
        );
    }
}

#[test]
fn normalized_gathered_descriptions_keep_structure_and_summarize_candidates() {
    let n = normalized("chromium-media-offer-to-chromium-gathered");
    assert!(
        n.contains("m=audio <port> UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\n"),
        "{n}"
    );
    assert!(
        n.contains("c=IN IP4 <address>\na=rtcp:9 IN IP4 0.0.0.0\na=candidate:<host udp>\n"),
        "{n}"
    );
    assert!(n.contains("a=msid-semantic: WMS <stream-1>\n"), "{n}");
    assert!(n.contains("a=msid:<stream-1> <track-1>\n"), "{n}");
    assert!(n.contains("a=ssrc-group:FID <ssrc-2> <ssrc-3>\n"), "{n}");
    assert!(
        n.contains("a=ssrc:<ssrc-3> msid:<stream-1> <track-2>\n"),
        "{n}"
    );
    assert!(n.contains("a=ssrc:<ssrc-1> cname:<cname-1>\n"), "{n}");
    assert!(n.contains(
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\n"
    ));
    assert_eq!(
        n.matches("a=candidate:").count(),
        3,
        "one summary per section"
    );

    let n = normalized("firefox-media-offer-to-firefox-gathered");
    assert!(
        n.contains("a=candidate:<host udp, host tcp active; components 1 2>\na=sendrecv\na=end-of-candidates\n"),
        "{n}"
    );
    assert!(n.contains("a=rtcp:<port> IN IP4 <address>\n"), "{n}");
    assert!(n.contains("a=ssrc:<ssrc-1> cname:<cname-1>\n"), "{n}");
    assert!(n.contains("a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\n"));
    assert!(n.starts_with(
        "v=0\no=mozilla...THIS_IS_SDPARTA-99.0 <session-id> <session-version> IN IP4 0.0.0.0\n"
    ));

    let n = normalized("chromium-offer-to-chromium-gathered");
    assert!(n.contains("a=candidate:<host udp mdns>\n"), "{n}");
    assert_eq!(
        describe_changes(&normalized("chromium-offer-to-chromium"), &n),
        ["m=application: candidates <host udp mdns> added"]
    );
}

#[test]
fn same_stack_in_different_pairings_differs_only_where_the_sdp_does() {
    for (a, b) in [
        ("chromium-offer-to-chromium", "chromium-offer-to-native"),
        ("native-offer-to-chromium", "native-offer-to-native"),
        ("native-answer-to-chromium", "native-answer-to-native"),
    ] {
        assert_eq!(normalized(a), normalized(b), "{a} vs {b}");
    }
    // Chromium leaves max-message-size out of its answer to webrtc-rs's offer.
    assert_eq!(
        describe_changes(
            &normalized("chromium-answer-to-chromium"),
            &normalized("chromium-answer-to-native")
        ),
        ["m=application: sctp max-message-size 262144 removed"]
    );
    // The raw texts differ all over; normalized, an offer and its answer differ in their roles.
    assert_eq!(
        describe_changes(
            &normalized("native-offer-to-native"),
            &normalized("native-answer-to-native")
        ),
        [
            "session: msid-semantic WMS * added",
            "m=application: setup actpass → active"
        ]
    );
}

#[test]
fn malformed_sdp_errors_name_the_line() {
    let raw = fixture("chromium-offer-to-chromium");
    let mut lines: Vec<&str> = raw.split("\r\n").collect();
    lines[8] = "garbage";
    let e = normalize(&lines.join("\r\n")).unwrap_err();
    assert_eq!(
        e,
        SdpError::Line {
            line: 9,
            text: "garbage".into(),
            reason: "not an SDP line (`<letter>=<value>`)".into()
        }
    );
    assert!(e.to_string().starts_with("SDP line 9: `garbage`"), "{e}");

    let short = raw.replace(
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "m=application 9",
    );
    let e = features(&short).unwrap_err();
    assert!(
        e.to_string().contains("SDP line 8: `m=application 9`"),
        "{e}"
    );

    let e = normalize(&raw.replace("v=0\r\n", "")).unwrap_err();
    assert!(matches!(e, SdpError::Line { line: 1, .. }), "{e}");
    assert_eq!(normalize("").unwrap_err(), SdpError::Empty);
    assert_eq!(describe_changes("", ""), Vec::<String>::new());
}

#[test]
fn features_of_the_data_channel_fixtures() {
    let f = features(&fixture("chromium-offer-to-chromium")).unwrap();
    assert_eq!(f.bundle_groups, [["0"]]);
    assert!(f.ice_trickle && f.extmap_allow_mixed && f.data_channel_only && !f.ice_lite);
    assert_eq!(f.media.len(), 1);
    let m = &f.media[0];
    assert_eq!(m.kind, "application");
    assert_eq!(m.protocol, "UDP/DTLS/SCTP");
    assert_eq!(m.mid.as_deref(), Some("0"));
    assert_eq!(m.setup.as_deref(), Some("actpass"));
    assert_eq!(m.sctp_port, Some(5000));
    assert_eq!(m.max_message_size, Some(262144));
    assert_eq!(m.direction, None);
    assert!(m.codecs.is_empty() && m.header_extensions.is_empty());

    let f = features(&fixture("chromium-answer-to-native")).unwrap();
    assert_eq!(f.setup(), Some("active"));
    assert_eq!(f.media[0].max_message_size, None);

    let f = features(&fixture("native-offer-to-chromium")).unwrap();
    assert!(!f.ice_trickle, "webrtc-rs does not announce trickle");
    assert!(f.extmap_allow_mixed && f.data_channel_only);
    assert_eq!(f.bundle_groups, [["0"]]);
    assert_eq!(f.media[0].setup.as_deref(), Some("actpass"));
    assert_eq!(f.media[0].direction.as_deref(), Some("sendrecv"));
    assert_eq!(f.media[0].sctp_port, Some(5000));
    assert_eq!(f.media[0].max_message_size, Some(65536));
    assert_eq!(
        features(&fixture("native-answer-to-chromium"))
            .unwrap()
            .setup(),
        Some("active")
    );

    let f = features(&fixture("firefox-offer-to-firefox")).unwrap();
    assert!(f.ice_trickle && !f.extmap_allow_mixed && f.data_channel_only);
    assert_eq!(f.media[0].max_message_size, Some(1073741823));
    assert_eq!(f.media[0].setup.as_deref(), Some("actpass"));
    assert_eq!(
        features(&fixture("firefox-answer-to-firefox"))
            .unwrap()
            .setup(),
        Some("active")
    );
}

#[test]
fn features_of_the_media_fixtures() {
    let f = features(&fixture("chromium-media-offer-to-chromium-gathered")).unwrap();
    assert_eq!(f.bundle_groups, [["0", "1", "2"]]);
    assert!(!f.data_channel_only);
    let kinds: Vec<&str> = f.media.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["audio", "video", "application"]);
    let (audio, video) = (&f.media[0], &f.media[1]);
    assert_eq!(audio.codecs[0], "opus/48000/2 minptime=10;useinbandfec=1");
    assert!(audio.codecs.contains(&"telephone-event/8000".to_string()));
    assert!(audio.rtcp_mux && audio.rtcp_rsize);
    assert!(
        audio
            .header_extensions
            .contains(&"urn:ietf:params:rtp-hdrext:sdes:mid".to_string())
    );
    assert_eq!(video.codecs[0], "VP8/90000");
    for codec in [
        "H264/90000 profile-level-id=42e01f packetization-mode=1",
        "H264/90000 profile-level-id=42001f packetization-mode=0",
        "VP9/90000 profile-id=2",
        "AV1/90000 profile=0 level-idx=5 tier=0",
        "rtx/90000",
    ] {
        assert!(
            video.codecs.contains(&codec.to_string()),
            "{codec}: {:?}",
            video.codecs
        );
    }
    assert_eq!(video.codecs.iter().filter(|c| *c == "rtx/90000").count(), 1);

    let f = features(&fixture("firefox-media-offer-to-firefox-gathered")).unwrap();
    let (audio, video) = (&f.media[0], &f.media[1]);
    assert_eq!(
        audio.codecs[0],
        "opus/48000/2 maxplaybackrate=48000;stereo=1;useinbandfec=1"
    );
    assert_eq!(video.codecs[0], "VP8/90000 max-fs=12288;max-fr=60");
    assert!(
        !video.codecs.iter().any(|c| c.starts_with("H264")),
        "no OpenH264 here"
    );
    assert!(audio.rtcp_mux && !audio.rtcp_rsize && video.rtcp_rsize);
    assert_eq!(audio.direction.as_deref(), Some("sendrecv"));
}

#[test]
fn compare_table_of_the_three_stacks() {
    let columns: Vec<(String, _)> = [
        ("chromium offer", "chromium-offer-to-native"),
        ("native offer", "native-offer-to-chromium"),
        ("firefox offer", "firefox-offer-to-firefox"),
    ]
    .into_iter()
    .map(|(label, name)| (label.to_string(), features(&fixture(name)).unwrap()))
    .collect();
    let table = compare_table(&columns);
    let row = |key: &str| -> Vec<String> {
        let line = table
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no `{key}` row in\n{table}"));
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row("feature")[1..],
        ["chromium offer", "native offer", "firefox offer"]
    );
    assert_eq!(
        row("ice trickle"),
        ["*", "session: ice trickle", "yes", "no", "yes"]
    );
    assert_eq!(
        row("max-message-size"),
        [
            "*",
            "application: max-message-size",
            "262144",
            "65536",
            "1073741823"
        ]
    );
    assert_eq!(
        row("sctp-port"),
        ["application: sctp-port", "5000", "5000", "5000"]
    );
    assert_eq!(
        row("setup"),
        ["application: setup", "actpass", "actpass", "actpass"]
    );
    assert_eq!(
        row("direction"),
        ["*", "application: direction", "-", "sendrecv", "sendrecv"]
    );
}

/// Removes payload type `pt` from the section whose `m=` line starts with `m_prefix`.
fn without_payload_type(sdp: &str, m_prefix: &str, pt: &str) -> String {
    sdp.lines()
        .filter(|l| {
            !([
                format!("a=rtpmap:{pt} "),
                format!("a=fmtp:{pt} "),
                format!("a=rtcp-fb:{pt} "),
            ]
            .iter()
            .any(|p| l.starts_with(p.as_str())))
        })
        .map(|l| {
            if l.starts_with(m_prefix) {
                l.replace(&format!(" {pt} "), " ")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

#[test]
fn describe_changes_on_edited_real_descriptions() {
    let old = normalized("chromium-media-offer-to-chromium-gathered");
    let new = without_payload_type(&old, "m=video", "108");
    assert_eq!(
        describe_changes(&old, &new),
        [
            "m=video: codec H264/90000 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f removed"
        ]
    );
    let new = old.replacen(
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\n",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\na=extmap:9 urn:ietf:params:rtp-hdrext:absolute-capture-time\n",
        1,
    );
    assert_eq!(
        describe_changes(&old, &new),
        ["m=audio: extmap urn:ietf:params:rtp-hdrext:absolute-capture-time added"]
    );
    let new = old.replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1");
    assert_eq!(
        describe_changes(&old, &new),
        ["session: BUNDLE group changed 0 1 2 → 0 1"]
    );

    let old = normalized("native-offer-to-native");
    let new = old.replace("a=max-message-size:65536", "a=max-message-size:262144");
    assert_eq!(
        describe_changes(&old, &new),
        ["m=application: sctp max-message-size 65536 → 262144"]
    );
    // Across stacks, in words.
    let changes = describe_changes(&old, &normalized("chromium-offer-to-native"));
    for expected in [
        "m=application: sctp max-message-size 65536 → 262144",
        "m=application: ice-options trickle added",
        "m=application: direction sendrecv removed",
    ] {
        assert!(
            changes.contains(&expected.to_string()),
            "{expected}: {changes:#?}"
        );
    }
}

// --- The snapshot flow with the real cargo-insta --------------------------------------------

/// `cargo insta …` in `root`; `None` when cargo-insta is not installed.
fn cargo_insta(root: &Path, args: &[&str]) -> Option<(bool, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .arg("insta")
        .args(args)
        .arg("--workspace-root")
        .arg(root)
        .current_dir(root)
        .env_remove("INSTA_UPDATE")
        .env_remove("INSTA_PENDING_DIR")
        .output_within(common::RUN_LIMIT)
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() && text.contains("no such command") {
        return None;
    }
    Some((output.status.success(), text))
}

#[test]
fn snapshot_flow_with_cargo_insta() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // cargo-insta finds snapshots inside the folders of a Cargo workspace's packages, so the
    // snapshots get a minimal package around them, inside a git repository that ignores
    // `*.snap.new` as this repository does.
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"sdp-snapshots\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[lib]\npath = \"lib.rs\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(root.join("lib.rs"), "").unwrap();
    std::fs::write(root.join(".gitignore"), "*.snap.new\n").unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status_within(common::QUICK_LIMIT);
    assert!(git.is_ok_and(|s| s.success()), "git init");
    if cargo_insta(root, &["--version"]).is_none() {
        eprintln!("cargo-insta is not installed (`cargo install cargo-insta --locked`): skipping");
        return;
    }

    let dir = root.join("snapshots");
    let store = SnapshotStore::new(&dir, SnapshotMode::Update);
    let id = SnapshotId::for_description(
        "datachannel-echo",
        "scenarios/datachannel-echo.toml",
        "chromium",
        "native",
        Side::Offerer,
        "offer",
        1,
    );
    let snap = store.snap_path(&id.name);
    let pending = store.pending_path(&id.name);
    assert_eq!(
        snap.file_name().unwrap(),
        "datachannel-echo__chromium-to-native__offerer-offer.snap"
    );
    let sdp = normalized("chromium-offer-to-native");

    // Missing: a pending snapshot for review.
    assert_eq!(
        store.check(&id, &sdp).unwrap(),
        SnapshotOutcome::Missing {
            pending: Some(pending.clone())
        }
    );
    let written = std::fs::read_to_string(&pending).unwrap();
    assert!(written.starts_with("---\nsource: scenarios/datachannel-echo.toml\ndescription: \"datachannel-echo, chromium-to-native: local offer of the offerer (chromium), normalized\"\nexpression: chromium offer\n---\nv=0\n"), "{written}");
    let (ok, listed) = cargo_insta(root, &["pending-snapshots"]).unwrap();
    assert!(
        ok && listed.contains("snapshots/datachannel-echo__chromium-to-native__offerer-offer.snap"),
        "{listed}"
    );

    // cargo insta accept turns it into the .snap, byte for byte.
    let (ok, text) = cargo_insta(root, &["accept"]).unwrap();
    assert!(ok, "{text}");
    assert!(!pending.exists(), "{text}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), written);
    assert_eq!(store.check(&id, &sdp).unwrap(), SnapshotOutcome::Matched);
    let (ok, listed) = cargo_insta(root, &["pending-snapshots"]).unwrap();
    assert!(ok && !listed.contains("offerer-offer"), "{listed}");

    // Changed: words, and a pending snapshot cargo-insta lists.
    let changed = sdp.replace("a=max-message-size:262144", "a=max-message-size:65536");
    assert_eq!(
        store.check(&id, &changed).unwrap(),
        SnapshotOutcome::Changed {
            changes: vec!["m=application: sctp max-message-size 262144 → 65536".into()],
            pending: Some(pending.clone()),
        }
    );
    let (ok, listed) = cargo_insta(root, &["pending-snapshots"]).unwrap();
    assert!(
        ok && listed.contains("datachannel-echo__chromium-to-native__offerer-offer.snap"),
        "{listed}"
    );

    // Check mode (CI) fails without touching anything.
    let ci = SnapshotStore::new(&dir, SnapshotMode::Check);
    assert!(matches!(
        ci.check(&id, &changed).unwrap(),
        SnapshotOutcome::Changed { pending: None, .. }
    ));
    assert!(pending.exists());

    // Rejecting keeps the old snapshot; matching the old contents again finds nothing pending.
    let (ok, text) = cargo_insta(root, &["reject"]).unwrap();
    assert!(ok && !pending.exists(), "{text}");
    assert_eq!(store.check(&id, &sdp).unwrap(), SnapshotOutcome::Matched);

    // Accepting the change makes it the snapshot.
    store.check(&id, &changed).unwrap();
    let (ok, text) = cargo_insta(root, &["accept"]).unwrap();
    assert!(ok, "{text}");
    assert_eq!(
        store.check(&id, &changed).unwrap(),
        SnapshotOutcome::Matched
    );
}

#[test]
fn damaged_fixtures_give_errors_or_results_never_panics() {
    for (name, raw) in fixtures() {
        let lines: Vec<&str> = raw.lines().collect();
        let original = normalize(&raw).unwrap();
        for i in 0..lines.len() {
            let line = lines[i];
            let half: Vec<&str> = line.split(' ').collect();
            let half = half[..half.len() / 2].join(" ");
            for damaged_line in [
                &line[..1],
                &line[..2.min(line.len())],
                &line[..3.min(line.len())],
                &half,
                "",
            ] {
                let mut damaged = lines.clone();
                damaged[i] = damaged_line;
                let text = damaged.join("\r\n");
                let normalized = normalize(&text);
                let _ = features(&text);
                if let Err(SdpError::Line { line, .. }) = &normalized {
                    assert!(*line >= 1 && *line <= lines.len(), "{name}: line {line}");
                }
                let changes = describe_changes(&original, normalized.as_deref().unwrap_or(&text));
                assert_eq!(
                    changes.is_empty(),
                    normalized.as_deref() == Ok(original.as_str()),
                    "{name} line {}: {changes:?}",
                    i + 1
                );
            }
        }
    }
}
