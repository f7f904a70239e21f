//! The media fixtures (`fixtures/media/`, made by its `generate.sh`) are what they say: each codec
//! in the container webrtc-rs's readers take, with the frame rate, keyframe spacing and length the
//! native peer's pacing and the media checks assume.

use crate::common;
use rtc_interop::bounded::BoundedCommand;

fn fixture(name: &str) -> Vec<u8> {
    let path = common::repo_root().join("fixtures/media").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// An IVF file's codec, size, frame rate and frames (each frame's size), checking that the
/// frames fill the file exactly.
fn ivf(name: &str) -> (String, (u16, u16), f64, Vec<usize>) {
    let bytes = fixture(name);
    assert_eq!(&bytes[..4], b"DKIF", "{name}");
    let header_len = u16_at(&bytes, 6) as usize;
    let fourcc = String::from_utf8_lossy(&bytes[8..12]).into_owned();
    let size = (u16_at(&bytes, 12), u16_at(&bytes, 14));
    let rate = f64::from(u32_at(&bytes, 16)) / f64::from(u32_at(&bytes, 20));
    let mut frames = Vec::new();
    let mut at = header_len;
    while at < bytes.len() {
        let len = u32_at(&bytes, at) as usize;
        frames.push(len);
        at += 12 + len;
    }
    assert_eq!(at, bytes.len(), "{name}: frames do not end with the file");
    (fourcc, size, rate, frames)
}

#[test]
fn ivf_fixtures_hold_three_seconds_of_320x240_at_30_fps() {
    for (name, fourcc) in [
        ("video-vp8.ivf", "VP80"),
        ("video-vp9.ivf", "VP90"),
        ("video-av1.ivf", "AV01"),
    ] {
        let (codec, size, rate, frames) = ivf(name);
        assert_eq!(codec, fourcc, "{name}");
        assert_eq!(size, (320, 240), "{name}");
        assert_eq!(rate, 30.0, "{name}");
        assert_eq!(frames.len(), 90, "{name}");
        assert!(frames.iter().all(|&len| len > 0), "{name}: an empty frame");
    }
    // VP8 marks keyframes in the first byte of each frame (bit 0 clear): one a second.
    let bytes = fixture("video-vp8.ivf");
    let mut at = 32;
    let mut keyframes = Vec::new();
    for index in 0..90 {
        let len = u32_at(&bytes, at) as usize;
        if bytes[at + 12] & 1 == 0 {
            keyframes.push(index);
        }
        at += 12 + len;
    }
    assert_eq!(keyframes, [0, 30, 60]);
}

#[test]
fn the_h264_fixture_is_constrained_baseline_in_annex_b() {
    let bytes = fixture("video-h264.h264");
    assert_eq!(&bytes[..4], &[0, 0, 0, 1], "Annex-B start code");
    // NAL units after each 3-byte start code (4-byte codes end in the same 3 bytes).
    let nal_types: Vec<u8> = bytes
        .windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .map(|w| w[3] & 0x1f)
        .collect();
    let sps = bytes
        .windows(4)
        .position(|w| w == [0, 0, 1, 0x67])
        .expect("an SPS");
    let (profile, constraints, level) = (bytes[sps + 4], bytes[sps + 5], bytes[sps + 6]);
    assert_eq!(profile, 66, "Baseline");
    assert!(
        constraints & 0x40 != 0,
        "constraint_set1: Constrained Baseline"
    );
    assert_eq!(level, 31);
    let idr = nal_types.iter().filter(|&&t| t == 5).count();
    let slices = nal_types.iter().filter(|&&t| t == 1 || t == 5).count();
    assert_eq!((idr, slices), (3, 90), "a keyframe a second, 90 frames");
}

#[test]
fn the_opus_fixture_is_ogg_with_one_20ms_packet_per_page() {
    let bytes = fixture("audio-opus.ogg");
    assert_eq!(&bytes[..4], b"OggS");
    assert!(bytes.windows(8).any(|w| w == b"OpusHead"));
    // After the two header pages, each page holds one 20 ms packet: 3 s → about 150 pages.
    let pages = bytes.windows(4).filter(|w| *w == b"OggS").count();
    assert!((150..=155).contains(&(pages - 2)), "{pages} pages");
}

/// The Node.js stacks' packetizers and frame reassembly (`peers/node-common/media.mjs`) on every
/// clip: `node --test peers/node-common/media.test.mjs` (node comes with `install`, for the
/// libdatachannel and werift kinds).
#[test]
fn the_javascript_packetizers_reassemble_every_clip() {
    let output = std::process::Command::new("node")
        .args(["--test", "peers/node-common/media.test.mjs"])
        .current_dir(common::repo_root())
        .output_within(common::RUN_LIMIT)
        .unwrap_or_else(|e| panic!("cannot run node (installed by `rtc-interop install`): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
