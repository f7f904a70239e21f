//! The Python stacks' media rules (`peers/python-common/media_rules.py`, used by the aiortc and
//! GStreamer peers) judge a received picture as the harness does: the same words for the same
//! shortfall as `observe::media_shortfall`, and each look compared with the looks one and two
//! seconds before it, as the browser page compares its canvas.

use crate::common::python;
use rtc_interop::observe::{FrameCheck, MediaTrackLog, media_shortfall};
use rtc_interop::scenario::{MediaExpectation, MediaKind};

fn look(changed: bool, black: bool) -> FrameCheck {
    FrameCheck {
        at_ms: 0.0,
        changed,
        black: Some(black),
        how: "RGB 160x120 of 640x480 against 1 and 2 s before".into(),
    }
}

#[test]
fn the_python_stacks_name_a_media_shortfall_in_the_harness_words() {
    let expect: MediaExpectation =
        toml::from_str("kind = \"video\"\ncodec = \"VP8\"").expect("an expectation");
    assert_eq!(expect.kind, MediaKind::Video);
    let log = |frames: u64, checks: Vec<FrameCheck>| MediaTrackLog {
        kind: "video".into(),
        direction: "inbound".into(),
        codec: Some("video/VP8".into()),
        packets: 400,
        frames,
        frame_checks: checks,
        ..Default::default()
    };
    let logs = [
        log(3, vec![]),
        log(90, vec![]),
        // Moved, then still for two looks: the latest three looks judge it, still moving.
        log(
            90,
            vec![look(true, false), look(false, false), look(false, false)],
        ),
        // Still for three looks after moving: frozen.
        log(
            120,
            vec![
                look(true, false),
                look(false, false),
                look(false, false),
                look(false, false),
            ],
        ),
        // A black picture that changed is no moving picture; black at the last look.
        log(120, vec![look(false, false), look(true, true)]),
        log(120, vec![look(true, true), look(false, false)]),
    ];
    let script = r#"
import json, sys
from media_rules import media_shortfall
expect, logs = json.loads(sys.argv[1])
for log_ in logs:
    print(json.dumps(media_shortfall(expect, log_, "within 10 s")))
"#;
    let said = python(script, &serde_json::json!([expect, logs]));
    let said: Vec<Option<String>> = said
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let harness: Vec<Option<String>> = logs
        .iter()
        .map(|log| media_shortfall(&expect, Some(log), "within 10 s"))
        .collect();
    assert_eq!(said, harness);
    // Each kind of verdict is among them, so the comparison covers every branch.
    for words in [
        "of 15 frames decoded",
        "never looked at",
        "did not change at the last 3 looks, a second apart",
        "is black",
    ] {
        assert!(
            harness.iter().flatten().any(|s| s.contains(words)),
            "{words}: {harness:?}"
        );
    }
    assert!(harness.contains(&None), "{harness:?}");
}

#[test]
fn a_look_is_compared_with_the_looks_one_and_two_seconds_before() {
    // Solid 8x8 pictures: `a` two seconds back, `b` one second back; the newest is `b` again
    // (a source standing still for a second, like Firefox's fake camera where a channel clips).
    let script = r#"
import json
from media_rules import picture_check, remember_look
def solid(rgb, size=8):
    return (size, size, bytes(rgb) * (size * size))
a, b = solid((0, 200, 40)), solid((0, 200, 90))
looks = []
for seen in (a, b):
    looks = remember_look(looks, seen)
def show(check):
    return None if check is None else [check["changed"], check["black"], check["how"]]
print(json.dumps([
    show(picture_check([], b, "RGB")),
    show(picture_check(looks, b, "RGB")),
    show(picture_check(looks[:1], b, "RGB")),
    show(picture_check(remember_look(looks, b), b, "RGB")),
    show(picture_check(looks, solid((0, 200, 90), 4), "RGB")),
    show(picture_check(looks, solid((0, 0, 0)), "RGB")),
    len(remember_look(remember_look(looks, a), b)),
]))
"#;
    let said: serde_json::Value =
        serde_json::from_str(&python(script, &serde_json::json!(null))).expect("JSON");
    assert_eq!(
        said,
        serde_json::json!([
            null,
            [true, false, "RGB against 1 and 2 s before"],
            [false, false, "RGB against 1 s before"],
            [false, false, "RGB against 1 and 2 s before"],
            null,
            [true, true, "RGB against 1 and 2 s before"],
            2
        ])
    );
}
