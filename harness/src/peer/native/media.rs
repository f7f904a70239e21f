//! The native peer's media: it sends the encoded clips in `fixtures/media/` at their real frame
//! rate (looping), and counts what it receives — packets, bytes, and frames reassembled from RTP
//! by webrtc-rs's depacketizers (it does not decode, so it cannot tell a black picture; a frozen
//! one shows as a frame count that stops growing).
//!
//! webrtc-rs answers RTCP through its default interceptors (NACK responder and generator, sender
//! and receiver reports). A PLI is answered by the clip's next key frame, at most a second later:
//! every clip has a key frame each second.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtc::interceptor::Registry;
use rtc::media::Sample;
use rtc::media::io::ivf_reader::IVFReader;
use rtc::media::io::ogg_reader::OggReader;
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp;
use rtc::rtp::codec::av1::Av1Depacketizer;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::codec::vp9::Vp9Packet;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::StatsSelector;
use webrtc::rtp_transceiver::RtpSender;

use super::Session;
use crate::clock::epoch_ms;
use crate::observe::{FrameCheck, MEDIA_SAMPLE_INTERVAL_MS, MediaSample, MediaTrackLog};
use crate::scenario::Step;
use crate::scenario::media::{CodecSpec, MediaKind, TrackDirection};
use crate::sdp::fmtp_params;

/// One encoded clip: a codec as webrtc-rs registers it, and its frames in order.
struct Clip {
    codec: RTCRtpCodec,
    frames: Vec<ClipFrame>,
}

struct ClipFrame {
    data: Bytes,
    duration: Duration,
    key: bool,
}

/// The clips the native peer can send: codec name, MIME type, the fmtp line webrtc-rs registers
/// it with (`MediaEngine::register_default_codecs`), and the file.
const CLIPS: &[(&str, &str, &str, &[u8])] = &[
    (
        "VP8",
        "video/VP8",
        "",
        include_bytes!("../../../../fixtures/media/video-vp8.ivf"),
    ),
    (
        "VP9",
        "video/VP9",
        "profile-id=0",
        include_bytes!("../../../../fixtures/media/video-vp9.ivf"),
    ),
    (
        "H264",
        "video/H264",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        include_bytes!("../../../../fixtures/media/video-h264.h264"),
    ),
    (
        "AV1",
        "video/AV1",
        "profile-id=0",
        include_bytes!("../../../../fixtures/media/video-av1.ivf"),
    ),
    (
        "opus",
        "audio/opus",
        "minptime=10;useinbandfec=1",
        include_bytes!("../../../../fixtures/media/audio-opus.ogg"),
    ),
];

/// Every fixture clip runs at 30 frames per second.
const VIDEO_FRAME: Duration = Duration::from_nanos(1_000_000_000 / 30);

/// webrtc-rs's default codecs (`MediaEngine::register_default_codecs`, which has no getter):
/// kind, MIME type, fmtp line, payload type, and the payload type of its RTX codec.
const DEFAULT_CODECS: &[(MediaKind, &str, &str, u8, Option<u8>)] = &[
    (
        MediaKind::Audio,
        "audio/opus",
        "minptime=10;useinbandfec=1",
        111,
        None,
    ),
    (MediaKind::Audio, "audio/G722", "", 9, None),
    (MediaKind::Audio, "audio/PCMU", "", 0, None),
    (MediaKind::Audio, "audio/PCMA", "", 8, None),
    (MediaKind::Video, "video/VP8", "", 96, Some(97)),
    (MediaKind::Video, "video/VP9", "profile-id=0", 98, Some(99)),
    (
        MediaKind::Video,
        "video/VP9",
        "profile-id=1",
        100,
        Some(101),
    ),
    (
        MediaKind::Video,
        "video/H264",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        102,
        Some(103),
    ),
    (
        MediaKind::Video,
        "video/H264",
        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
        127,
        Some(104),
    ),
    (
        MediaKind::Video,
        "video/H264",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        125,
        Some(105),
    ),
    (
        MediaKind::Video,
        "video/H264",
        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
        108,
        Some(109),
    ),
    (
        MediaKind::Video,
        "video/H264",
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032",
        123,
        Some(124),
    ),
    (MediaKind::Video, "video/AV1", "profile-id=0", 41, Some(106)),
    (MediaKind::Video, "video/H265", "", 126, Some(107)),
];

/// The codecs and interceptors of a native peer: every codec webrtc-rs knows — or, for a kind
/// whose `add_track` steps (of this side) name `codecs`, only the matching ones, in that order
/// (the native counterpart of `setCodecPreferences`) — plus NACK, RTCP reports and
/// transport-wide congestion control feedback.
pub(super) fn media_engine(own_tracks: &[&Step]) -> Result<(MediaEngine, Registry), String> {
    let mut engine = MediaEngine::default();
    let preferred = |kind: MediaKind| -> Vec<CodecSpec> {
        own_tracks
            .iter()
            .filter(|s| s.media == Some(kind))
            .flat_map(|s| preferred_codecs(s))
            .collect()
    };
    let failed = |e: rtc::shared::error::Error| format!("registering a codec failed: {e}");
    if own_tracks.iter().all(|s| s.codecs.is_none()) {
        engine.register_default_codecs().map_err(failed)?;
    } else {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            for codec in codecs_in_order(kind, &preferred(kind)) {
                engine
                    .register_codec(codec, codec_kind(kind))
                    .map_err(failed)?;
            }
        }
    }
    let registry = register_default_interceptors(Registry::new(), &mut engine)
        .map_err(|e| format!("registering the default interceptors failed: {e}"))?;
    Ok((engine, registry))
}

/// The default codecs of `kind` that match `preferred` (all when empty), in the order of the
/// specs, each followed by its RTX codec.
fn codecs_in_order(kind: MediaKind, preferred: &[CodecSpec]) -> Vec<RTCRtpCodecParameters> {
    let of_kind = DEFAULT_CODECS.iter().filter(|c| c.0 == kind);
    let chosen: Vec<_> = if preferred.is_empty() {
        of_kind.collect()
    } else {
        let mut chosen = Vec::new();
        for spec in preferred {
            for codec in of_kind.clone() {
                if spec.matches(codec.1, Some(codec.2)) && !chosen.contains(&codec) {
                    chosen.push(codec);
                }
            }
        }
        chosen
    };
    let feedback = || match kind {
        MediaKind::Audio => vec![],
        MediaKind::Video => [
            ("goog-remb", ""),
            ("ccm", "fir"),
            ("nack", ""),
            ("nack", "pli"),
        ]
        .iter()
        .map(|(typ, parameter)| RTCPFeedback {
            typ: typ.to_string(),
            parameter: parameter.to_string(),
        })
        .collect(),
    };
    let (clock_rate, channels) = clock_and_channels(kind);
    let mut codecs = Vec::new();
    for (_, mime, fmtp, payload_type, rtx) in chosen {
        codecs.push(RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_string(),
                clock_rate,
                channels,
                sdp_fmtp_line: fmtp.to_string(),
                rtcp_feedback: feedback(),
            },
            payload_type: *payload_type,
        });
        if let Some(rtx) = rtx {
            codecs.push(RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: "video/rtx".into(),
                    clock_rate: 90000,
                    channels: 0,
                    sdp_fmtp_line: format!("apt={payload_type}"),
                    rtcp_feedback: vec![],
                },
                payload_type: *rtx,
            });
        }
    }
    codecs
}

fn clock_and_channels(kind: MediaKind) -> (u32, u16) {
    match kind {
        MediaKind::Audio => (48000, 2),
        MediaKind::Video => (90000, 0),
    }
}

fn codec_kind(kind: MediaKind) -> RtpCodecKind {
    match kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    }
}

/// The clip for a track of `kind`: the first of `preferred` (codec specs) there is a clip for,
/// else VP8 / Opus.
fn choose_clip(kind: MediaKind, preferred: &[CodecSpec]) -> Result<Clip, String> {
    let of_kind = CLIPS
        .iter()
        .filter(|(_, mime, _, _)| mime.starts_with(kind.as_str()));
    let chosen = if preferred.is_empty() {
        of_kind.clone().next()
    } else {
        preferred.iter().find_map(|spec| {
            of_kind
                .clone()
                .find(|(_, mime, fmtp, _)| spec.matches(mime, Some(fmtp)))
        })
    };
    let Some((name, mime, fmtp, bytes)) = chosen else {
        let have: Vec<&str> = of_kind.map(|(name, ..)| *name).collect();
        return Err(format!(
            "the native peer has no {} clip in any of the preferred codecs (it sends {})",
            kind.as_str(),
            have.join(", ")
        ));
    };
    let (clock_rate, channels) = clock_and_channels(kind);
    let frames = read_clip(name, bytes).map_err(|e| format!("the {name} clip: {e}"))?;
    Ok(Clip {
        codec: RTCRtpCodec {
            mime_type: mime.to_string(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp.to_string(),
            rtcp_feedback: vec![],
        },
        frames,
    })
}

/// The frames of a clip file, as the codec's reader gives them.
fn read_clip(name: &str, bytes: &'static [u8]) -> Result<Vec<ClipFrame>, String> {
    let mut frames = Vec::new();
    match name {
        "opus" => {
            let (mut ogg, _) =
                OggReader::new(Cursor::new(bytes), true).map_err(|e| e.to_string())?;
            let mut last_granule = 0;
            while let Ok((page, header)) = ogg.parse_next_page() {
                let samples = header.granule_position.saturating_sub(last_granule);
                last_granule = header.granule_position;
                // The header pages carry no audio.
                if samples == 0 {
                    continue;
                }
                frames.push(ClipFrame {
                    data: page.freeze(),
                    duration: Duration::from_micros(samples * 1_000_000 / 48000),
                    key: false,
                });
            }
        }
        "H264" => frames = h264_access_units(bytes),
        _ => {
            let (mut ivf, _) = IVFReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
            while let Ok((frame, _)) = ivf.parse_next_frame() {
                let data = frame.freeze();
                let key = is_key_frame(name, &data);
                frames.push(ClipFrame {
                    data,
                    duration: VIDEO_FRAME,
                    key,
                });
            }
        }
    }
    if frames.is_empty() {
        return Err("no frames".into());
    }
    Ok(frames)
}

/// Splits an H.264 Annex-B stream into access units: parameter sets and SEI go with the slice
/// that follows them (every fixture frame is one slice).
fn h264_access_units(stream: &[u8]) -> Vec<ClipFrame> {
    let mut frames = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for nal in annex_b_units(stream) {
        pending.extend_from_slice(&[0, 0, 0, 1]);
        pending.extend_from_slice(nal);
        let unit_type = nal.first().map_or(0, |b| b & 0x1f);
        if matches!(unit_type, 1 | 5) {
            let data = Bytes::from(std::mem::take(&mut pending));
            frames.push(ClipFrame {
                key: is_key_frame("H264", &data),
                data,
                duration: VIDEO_FRAME,
            });
        }
    }
    frames
}

/// The NAL units of an Annex-B stream, without their start codes.
fn annex_b_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).map_or(stream.len(), |&next| next - 3);
            // A four-byte start code leaves a zero at the end of the previous unit.
            let mut unit = &stream[start..end];
            while unit.last() == Some(&0) {
                unit = &unit[..unit.len() - 1];
            }
            unit
        })
        .filter(|unit| !unit.is_empty())
        .collect()
}

/// Whether a frame (as the codec's bitstream, after depacketizing) is a key frame.
fn is_key_frame(codec: &str, frame: &[u8]) -> bool {
    let Some(&first) = frame.first() else {
        return false;
    };
    match codec.to_ascii_uppercase().as_str() {
        // RFC 6386 §9.1: the frame tag's lowest bit is 0 on a key frame.
        "VP8" => first & 0x01 == 0,
        // VP9 uncompressed header: frame_marker(2) profile(2) [reserved(1) if profile 3]
        // show_existing_frame(1) frame_type(1, 0 = key frame).
        "VP9" => {
            let profile = ((first >> 5) & 1) | (((first >> 4) & 1) << 1);
            let shift = if profile == 3 { 2 } else { 3 };
            let show_existing = (first >> shift) & 1 == 1;
            !show_existing && (first >> (shift - 1)) & 1 == 0
        }
        // An IDR slice (NAL type 5).
        "H264" => annex_b_units(frame).iter().any(|nal| nal[0] & 0x1f == 5),
        // A sequence header OBU (type 1) comes with every key frame.
        "AV1" => av1_obu_types(frame).contains(&1),
        _ => false,
    }
}

/// The OBU types of an AV1 temporal unit in the low-overhead format (every OBU has its size).
fn av1_obu_types(mut data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while let Some(&header) = data.first() {
        types.push((header >> 3) & 0x0f);
        let extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut at = 1 + usize::from(extension);
        if !has_size {
            break;
        }
        let mut size = 0usize;
        for shift in 0..8 {
            let Some(&byte) = data.get(at) else {
                return types;
            };
            at += 1;
            size |= usize::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                break;
            }
        }
        data = data.get(at + size..).unwrap_or_default();
    }
    types
}

/// The step's codec specs, parsed (the loader validated them).
fn preferred_codecs(step: &Step) -> Vec<CodecSpec> {
    step.codecs
        .iter()
        .flatten()
        .filter_map(|c| CodecSpec::parse(c).ok())
        .collect()
}

impl Session {
    /// The acting side of `add_track`: a transceiver of the step's kind and direction, sending
    /// a clip unless it is `recvonly` (or disabled), preferring the step's codecs.
    pub(super) async fn add_track(self: &Arc<Self>, step: &Step) -> Result<(), String> {
        let kind = step.media.unwrap_or(MediaKind::Video);
        let direction = step.direction.unwrap_or_default();
        let preferred = preferred_codecs(step);
        let init = |direction| {
            Some(RTCRtpTransceiverInit {
                direction,
                streams: vec![],
                send_encodings: vec![],
            })
        };
        if direction.sends() {
            let clip = choose_clip(kind, &preferred)?;
            let ssrc = rand_ssrc();
            let track = Arc::new(
                TrackLocalStaticSample::new(
                    std::time::Instant::now(),
                    MediaStreamTrack::new(
                        format!("rtc-interop-{}", self.plan.id),
                        format!("{}-{}", self.plan.id, kind.as_str()),
                        format!("{} clip", clip_name(&clip)),
                        codec_kind(kind),
                        vec![RTCRtpEncodingParameters {
                            rtp_coding_parameters: RTCRtpCodingParameters {
                                ssrc: Some(ssrc),
                                ..Default::default()
                            },
                            active: true,
                            codec: clip.codec.clone(),
                            ..Default::default()
                        }],
                    ),
                )
                .map_err(|e| format!("cannot make the {} track: {e}", kind.as_str()))?,
            );
            let transceiver = self
                .connection
                .add_transceiver_from_track(
                    track.clone() as Arc<dyn TrackLocal>,
                    init(match direction {
                        TrackDirection::Sendonly => RTCRtpTransceiverDirection::Sendonly,
                        _ => RTCRtpTransceiverDirection::Sendrecv,
                    }),
                )
                .await
                .map_err(|e| format!("addTransceiver({}) failed: {e}", kind.as_str()))?;
            let sender = transceiver
                .sender()
                .await
                .ok()
                .flatten()
                .ok_or_else(|| format!("the {} transceiver has no sender", kind.as_str()))?;
            self.state.update(|obs| {
                obs.tracks.push(MediaTrackLog {
                    kind: kind.as_str().into(),
                    direction: "outbound".into(),
                    codec: Some(clip.codec.mime_type.clone()),
                    fmtp: Some(clip.codec.sdp_fmtp_line.clone()).filter(|f| !f.is_empty()),
                    ..Default::default()
                })
            });
            if step.enabled.unwrap_or(true) {
                let session = self.clone();
                let task =
                    tokio::spawn(async move { session.send_clip(track, sender, ssrc, clip).await });
                self.state.media_tasks.lock().unwrap().push(task);
            } else {
                self.state.update(|obs| {
                    obs.console.push(format!(
                        "the {} track is disabled: nothing is sent on it",
                        kind.as_str()
                    ))
                });
            }
        } else {
            self.connection
                .add_transceiver_from_kind(
                    codec_kind(kind),
                    init(RTCRtpTransceiverDirection::Recvonly),
                )
                .await
                .map_err(|e| format!("addTransceiver({}, recvonly) failed: {e}", kind.as_str()))?;
        }
        self.start_sampling();
        Ok(())
    }

    /// Sends `clip` on `track`, frame by frame at its own pace and in a loop, from when the
    /// connection is up until it closes.
    async fn send_clip(
        self: Arc<Self>,
        track: Arc<TrackLocalStaticSample>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
        clip: Clip,
    ) {
        let kind = if clip.codec.mime_type.starts_with("audio") {
            "audio"
        } else {
            "video"
        };
        let connected = self
            .state
            .wait_until(
                tokio::time::Instant::now() + Duration::from_secs(60),
                |o| (o.final_connection_state() == Some("connected")).then_some(()),
                |o| {
                    format!(
                        "{kind}: nothing sent: the connection never became connected (last saw {})",
                        o.final_connection_state().unwrap_or("(none)")
                    )
                },
            )
            .await;
        if let Err(e) = connected {
            return self.state.error(e);
        }
        let Some(payload_type) = self.negotiated_payload_type(&sender, &clip).await else {
            return;
        };
        let mut ticker = tokio::time::interval(VIDEO_FRAME);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for frame in clip.frames.iter().cycle() {
            if ticker.period() != frame.duration {
                ticker = tokio::time::interval(frame.duration);
            }
            ticker.tick().await;
            if self.hung_up() {
                return;
            }
            let sample = Sample {
                data: frame.data.clone(),
                duration: frame.duration,
                ..Sample::new(std::time::Instant::now())
            };
            if let Err(e) = track
                .sample_writer(ssrc, payload_type)
                .write_sample(&sample)
                .await
            {
                if !self.hung_up() {
                    self.state
                        .error(format!("{kind}: writing a frame failed: {e}"));
                }
                return;
            }
            let len = frame.data.len() as u64;
            self.state.update(|obs| {
                if let Some(log) = obs
                    .tracks
                    .iter_mut()
                    .find(|t| t.direction == "outbound" && t.kind == kind)
                {
                    let now = epoch_ms();
                    log.started_at_ms.get_or_insert(now);
                    log.bytes += len;
                    log.frames += u64::from(kind == "video");
                    log.key_frames += u64::from(frame.key);
                }
            });
        }
    }

    /// The payload type the negotiation gave the clip's codec; `None` (recorded as an error)
    /// when it left that codec out.
    async fn negotiated_payload_type(
        &self,
        sender: &Arc<dyn RtpSender>,
        clip: &Clip,
    ) -> Option<u8> {
        let codecs = match sender.get_parameters().await {
            Ok(parameters) => parameters.rtp_parameters.codecs,
            Err(e) => {
                self.state.error(format!(
                    "{}: nothing sent: no sender parameters: {e}",
                    clip.codec.mime_type
                ));
                return None;
            }
        };
        let wanted = CodecSpec::parse(&clip_name(clip)).ok()?;
        let found = codecs.iter().find(|c| {
            wanted.matches(&c.rtp_codec.mime_type, None)
                && same_key_params(&clip.codec, &c.rtp_codec)
        });
        if let Some(codec) = found {
            return Some(codec.payload_type);
        }
        let negotiated: Vec<String> = codecs
            .iter()
            .map(|c| format!("{} {}", c.rtp_codec.mime_type, c.rtp_codec.sdp_fmtp_line))
            .collect();
        self.state.error(format!(
            "{}: nothing sent: the negotiated codecs ({}) do not include this side's clip ({} {})",
            clip.codec.mime_type,
            negotiated.join(", "),
            clip.codec.mime_type,
            clip.codec.sdp_fmtp_line
        ));
        None
    }

    /// Counts what arrives on a received track: packets, bytes, and frames reassembled.
    pub(super) async fn receive_track(self: Arc<Self>, track: Arc<dyn TrackRemote>) {
        let kind = match track.kind().await {
            RtpCodecKind::Audio => "audio",
            _ => "video",
        };
        let ssrc = track.ssrcs().await.first().copied();
        let codec = match ssrc {
            Some(ssrc) => track.codec(ssrc).await,
            None => None,
        };
        let mime = codec.as_ref().map(|c| c.mime_type.clone());
        self.state.update(|obs| {
            obs.tracks.push(MediaTrackLog {
                kind: kind.into(),
                direction: "inbound".into(),
                codec: mime.clone(),
                fmtp: codec
                    .as_ref()
                    .map(|c| c.sdp_fmtp_line.clone())
                    .filter(|f| !f.is_empty()),
                started_at_ms: Some(epoch_ms()),
                ..Default::default()
            })
        });
        self.start_sampling();
        let name = mime
            .as_deref()
            .and_then(|m| m.rsplit('/').next())
            .unwrap_or_default()
            .to_ascii_uppercase();
        let mut assembler = FrameAssembler::for_codec(&name);
        let mut seen = RecentSequenceNumbers::default();
        while let Some(event) = track.poll().await {
            let packet = match event {
                TrackRemoteEvent::OnRtpPacket(packet) => packet,
                TrackRemoteEvent::OnEnded => break,
                _ => continue,
            };
            if !seen.first_time(packet.header.sequence_number) {
                // webrtc-rs hands a retransmission of a packet it already delivered to the track
                // again; fed twice, its sample builder rewinds to it and stalls
                // (docs/interop-findings.md). Counted, not reassembled twice.
                self.state.update(|obs| {
                    if let Some(log) = obs.tracks.iter_mut().find(|t| t.is_inbound(kind)) {
                        *log.packets_duplicated.get_or_insert(0) += 1;
                    }
                });
                continue;
            }
            let len = packet.payload.len() as u64;
            let frames = assembler.push(packet);
            let failure = assembler.first_error().map(str::to_string);
            let now = epoch_ms();
            self.state.update(|obs| {
                let Some(log) = obs.tracks.iter_mut().find(|t| t.is_inbound(kind)) else {
                    return;
                };
                if log.depacketizer_error.is_none() {
                    log.depacketizer_error = failure;
                }
                log.packets += 1;
                log.bytes += len;
                if kind == "audio" {
                    log.first_frame_at_ms.get_or_insert(now);
                }
                for key in &frames {
                    log.frames += 1;
                    log.key_frames += u64::from(*key);
                    log.first_frame_at_ms.get_or_insert(now);
                }
            });
        }
    }

    /// Starts the sampler once: every [`MEDIA_SAMPLE_INTERVAL_MS`] it records each track's
    /// counters (and the stack's stats), and every second it looks whether each received video
    /// track's frame count grew.
    fn start_sampling(self: &Arc<Self>) {
        let mut started = self.state.sampling.lock().unwrap();
        if *started {
            return;
        }
        *started = true;
        let session = self.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(MEDIA_SAMPLE_INTERVAL_MS));
            let mut tick = 0u64;
            let mut frames_at_last_look: Vec<(String, u64)> = Vec::new();
            while !session.hung_up() {
                ticker.tick().await;
                tick += 1;
                let stats = session
                    .connection
                    .get_stats(std::time::Instant::now(), StatsSelector::None)
                    .await;
                let look = tick.is_multiple_of(2);
                session.state.update(|obs| {
                    let now = epoch_ms();
                    for log in &mut obs.tracks {
                        apply_stats(log, &stats);
                        log.samples.push(MediaSample {
                            at_ms: now,
                            packets: log.packets,
                            bytes: log.bytes,
                            frames: log.frames,
                        });
                        if look && log.is_inbound("video") && log.frames > 0 {
                            let key = log.kind.clone();
                            let before = frames_at_last_look
                                .iter()
                                .find(|(k, _)| *k == key)
                                .map(|(_, f)| *f);
                            if let Some(before) = before {
                                log.frame_checks.push(FrameCheck {
                                    at_ms: now,
                                    changed: log.frames > before,
                                    black: None,
                                    how: "frame count".into(),
                                });
                            }
                            frames_at_last_look.retain(|(k, _)| *k != key);
                            frames_at_last_look.push((key, log.frames));
                        }
                    }
                });
            }
        });
        self.state.media_tasks.lock().unwrap().push(task);
    }
}

/// Copies what webrtc-rs's stats say about a track that this side does not count itself.
fn apply_stats(log: &mut MediaTrackLog, stats: &webrtc::peer_connection::RTCStatsReport) {
    let media = if log.kind == "audio" {
        MediaKind::Audio
    } else {
        MediaKind::Video
    };
    let kind = codec_kind(media);
    if log.direction == "outbound" {
        if let Some(out) = stats
            .outbound_rtp_streams()
            .find(|s| s.sent_rtp_stream_stats.rtp_stream_stats.kind == kind)
        {
            log.packets = out.sent_rtp_stream_stats.packets_sent;
            log.nack_count = Some(u64::from(out.nack_count));
            log.pli_count = Some(u64::from(out.pli_count));
            if !out.mid.is_empty() {
                log.mid = Some(out.mid.clone());
            }
        }
    } else if let Some(inbound) = stats
        .inbound_rtp_streams()
        .find(|s| s.received_rtp_stream_stats.rtp_stream_stats.kind == kind)
    {
        let received = &inbound.received_rtp_stream_stats;
        // webrtc-rs 0.21 stores the receiver report's jitter as it is, in RTP timestamp units
        // (rtc src/peer_connection/handler/interceptor.rs: `on_rtcp_rr_generated(…,
        // report.jitter as f64)`), where webrtc-stats says seconds: converted here.
        let (clock_rate, _) = clock_and_channels(media);
        log.jitter_ms = Some(received.jitter / f64::from(clock_rate) * 1000.0);
        log.packets_lost = Some(received.packets_lost);
        log.nack_count = Some(u64::from(inbound.nack_count));
        log.pli_count = Some(u64::from(inbound.pli_count));
        if !inbound.mid.is_empty() {
            log.mid = Some(inbound.mid.clone());
        }
    }
}

/// Whether a negotiated codec can carry the clip: the same VP9 profile, H.264 with
/// non-interleaved packetization (the payloader fragments) and a Baseline-family profile.
fn same_key_params(clip: &RTCRtpCodec, negotiated: &RTCRtpCodec) -> bool {
    let params = fmtp_params(&negotiated.sdp_fmtp_line);
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    match clip.mime_type.as_str() {
        "video/VP9" => param("profile-id").is_none_or(|p| p == "0"),
        "video/H264" => {
            param("packetization-mode").as_deref() == Some("1")
                && param("profile-level-id").is_some_and(|p| p.starts_with("42"))
        }
        _ => true,
    }
}

fn clip_name(clip: &Clip) -> String {
    clip.codec
        .mime_type
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn rand_ssrc() -> u32 {
    // Distinct per track and per process; RTP only needs SSRCs not to collide in one session.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16) | 1
}

/// The sequence numbers of the last packets a track delivered, to tell a packet delivered again.
#[derive(Default)]
struct RecentSequenceNumbers {
    order: std::collections::VecDeque<u16>,
    set: std::collections::HashSet<u16>,
}

impl RecentSequenceNumbers {
    /// How many packets back a repeat is recognised (a second and more of video).
    const WINDOW: usize = 1024;

    /// Records `sequence_number`; `false` if it was delivered already.
    fn first_time(&mut self, sequence_number: u16) -> bool {
        if !self.set.insert(sequence_number) {
            return false;
        }
        self.order.push_back(sequence_number);
        if self.order.len() > Self::WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// Reassembles frames from RTP packets with webrtc-rs's sample builder, and says why when its
/// depacketizer refuses a packet (the sample builder drops such frames without a word).
struct FrameAssembler {
    builder: Builder,
    /// A second depacketizer of the same kind, fed every packet as the builder's own one is (kept
    /// across packets), so its first error is seen.
    shadow: Option<Box<dyn rtp::packetizer::Depacketizer + Send>>,
    first_error: Option<String>,
}

enum Builder {
    Vp8(SampleBuilder<Vp8Packet>),
    Vp9(SampleBuilder<Vp9Packet>),
    H264(SampleBuilder<H264Packet>),
    Av1(SampleBuilder<Av1Depacketizer>),
    /// Audio, or a codec without a depacketizer here: packets are counted, frames are not.
    None,
}

/// How many packets a frame may wait for a late one before it is given up.
const MAX_LATE_PACKETS: u16 = 256;

/// A sample builder over `depacketizer`, and a second one for the shadow.
fn builder_and_shadow<T>(depacketizer: fn() -> T) -> (SampleBuilder<T>, Box<T>)
where
    T: rtp::packetizer::Depacketizer,
{
    (
        SampleBuilder::new(MAX_LATE_PACKETS, depacketizer(), 90000),
        Box::new(depacketizer()),
    )
}

impl FrameAssembler {
    fn for_codec(name: &str) -> Self {
        let (builder, shadow): (
            Builder,
            Option<Box<dyn rtp::packetizer::Depacketizer + Send>>,
        ) = match name {
            "VP8" => {
                let (b, s) = builder_and_shadow(Vp8Packet::default);
                (Builder::Vp8(b), Some(s))
            }
            "VP9" => {
                let (b, s) = builder_and_shadow(Vp9Packet::default);
                (Builder::Vp9(b), Some(s))
            }
            "H264" => {
                let (b, s) = builder_and_shadow(H264Packet::default);
                (Builder::H264(b), Some(s))
            }
            "AV1" => {
                let (b, s) = builder_and_shadow(Av1Depacketizer::default);
                (Builder::Av1(b), Some(s))
            }
            _ => (Builder::None, None),
        };
        FrameAssembler {
            builder,
            shadow,
            first_error: None,
        }
    }

    /// The first error webrtc-rs's depacketizer gave, in words.
    fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    /// Adds a packet; returns, for each frame it completed, whether it is a key frame.
    fn push(&mut self, packet: rtp::Packet) -> Vec<bool> {
        if self.first_error.is_none()
            && !packet.payload.is_empty()
            && let Some(shadow) = self.shadow.as_mut()
            && let Err(e) = shadow.depacketize(&packet.payload)
        {
            self.first_error = Some(format!(
                "webrtc-rs's depacketizer failed at packet {}: {e}",
                packet.header.sequence_number
            ));
        }
        let now = std::time::Instant::now();
        fn drain<T: rtp::packetizer::Depacketizer>(
            builder: &mut SampleBuilder<T>,
            codec: &str,
            now: std::time::Instant,
            packet: rtp::Packet,
        ) -> Vec<bool> {
            builder.push(now, packet);
            std::iter::from_fn(|| builder.pop(now))
                .map(|sample| is_key_frame(codec, &sample.data))
                .collect()
        }
        match &mut self.builder {
            Builder::Vp8(b) => drain(b, "VP8", now, packet),
            Builder::Vp9(b) => drain(b, "VP9", now, packet),
            Builder::H264(b) => drain(b, "H264", now, packet),
            Builder::Av1(b) => drain(b, "AV1", now, packet),
            Builder::None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clip_reads_with_a_key_frame_each_second() {
        for (name, mime, ..) in CLIPS {
            let kind = if mime.starts_with("audio") {
                MediaKind::Audio
            } else {
                MediaKind::Video
            };
            let spec = CodecSpec::parse(name).unwrap();
            let clip = choose_clip(kind, &[spec]).unwrap();
            assert_eq!(clip.codec.mime_type, *mime);
            if kind == MediaKind::Audio {
                // 3 s of 20 ms pages.
                assert!(
                    (140..=151).contains(&clip.frames.len()),
                    "{name}: {}",
                    clip.frames.len()
                );
                continue;
            }
            assert_eq!(clip.frames.len(), 90, "{name}");
            let keys: Vec<usize> = (0..clip.frames.len())
                .filter(|&i| clip.frames[i].key)
                .collect();
            assert_eq!(keys, [0, 30, 60], "{name}");
        }
    }

    /// webrtc-rs's defect behind the `video-vp9` known failures: in flexible mode (as Chromium
    /// sends VP9) every inter-frame packet carries a P_DIFF, which `Vp9Packet` accumulates and
    /// never clears, so the sample builder's one depacketizer fails from the third on. When this
    /// test fails, webrtc-rs fixed it: drop those known failures.
    #[test]
    fn vp9_flexible_mode_stalls_webrtc_rs_sample_builder() {
        use rtc::rtp::packetizer::Depacketizer;
        // I=1 P=1 F=1 B=1 E=1 Z=1, 15-bit picture id, one P_DIFF (1, no more), then VP9 data.
        let frame = |n: u16| {
            let mut packet = rtp::Packet::default();
            packet.header.sequence_number = 100 + n;
            packet.header.timestamp = 3000 * u32::from(n);
            packet.header.marker = true;
            packet.payload = Bytes::from(vec![0xdd, 0x80, n as u8, 0x02, 0x86, 0x00, 0x40]);
            packet
        };
        let mut assembler = FrameAssembler::for_codec("VP9");
        let built: usize = (0..10).map(|n| assembler.push(frame(n)).len()).sum();
        // Each packet alone is valid VP9 …
        for n in 0..10 {
            assert!(Vp9Packet::default().depacketize(&frame(n).payload).is_ok());
        }
        // … yet only two frames come out of ten (each is built when the next one arrives), and
        // a depacketizer kept across packets, as the builder keeps its own, says why.
        assert_eq!(built, 2);
        assert_eq!(
            assembler.first_error(),
            Some("webrtc-rs's depacketizer failed at packet 102: too many PDiff")
        );
    }

    #[test]
    fn a_packet_delivered_again_is_recognised_within_the_window() {
        let mut seen = RecentSequenceNumbers::default();
        assert!(seen.first_time(65535));
        assert!(seen.first_time(0));
        assert!(!seen.first_time(65535));
        for n in 1..=RecentSequenceNumbers::WINDOW as u16 {
            assert!(seen.first_time(n));
        }
        // Out of the window by now: a new packet as far as the window knows.
        assert!(seen.first_time(65535));
    }

    #[test]
    fn a_track_without_preferences_sends_vp8_or_opus() {
        assert_eq!(
            choose_clip(MediaKind::Video, &[]).unwrap().codec.mime_type,
            "video/VP8"
        );
        assert_eq!(
            choose_clip(MediaKind::Audio, &[]).unwrap().codec.mime_type,
            "audio/opus"
        );
        let none = choose_clip(MediaKind::Video, &[CodecSpec::parse("H265").unwrap()]);
        assert!(none.err().unwrap().contains("VP8, VP9, H264, AV1"));
    }
}
