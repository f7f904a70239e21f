//! Steps: what the peers of a case do, in order — the one plan every peer kind executes.
//!
//! A scenario's `[[steps]]` list is handed whole to both peers (as JSON, with these field names).
//! Each peer walks the list on its own, in order; for every step it either **acts** (the step's
//! `by` is its role, or `both`) or plays the step's **counterpart** (it waits for the evidence
//! that the other side's action reached it). No extra signaling message keeps the two in step:
//! what each waits for is its own observation, so any stack speaking the relay protocol can follow
//! the same plan. A scenario without `[[steps]]` gets [`default_steps`]: today's flow.
//!
//! | `do` | the side that acts | the other side |
//! |---|---|---|
//! | `open_channel` | `createDataChannel(label, options)`; done at once (it opens once negotiated) | creates it too if `negotiated`, else nothing |
//! | `negotiate` | waits for the other peer's `hello`, then offer → `setLocalDescription` → sends it; done when the answer is applied | waits until it has completed as many offer/answer rounds as this step is the n-th of |
//! | `restart_ice` | as `negotiate`, with an ICE restart offer; done when the round is complete *and* ICE is `connected`/`completed` again | waits for the round, then for ICE `connected`/`completed` |
//! | `send` | waits for the channel to open, sends `count` messages | waits until `count` messages arrived (and were echoed) — unless `expect_error` |
//! | `expect_echo` | waits until everything it sent on the channel came back intact (but what is larger than its own `a=max-message-size`: see [`may_come_back`]) | nothing |
//! | `close_channel` | `channel.close()`, waits for `close` | waits for the channel's `close` |
//! | `hang_up` | reads its final stats, sends `bye`, closes the connection and its WebSocket | waits until it got `bye` and closed its connection |
//! | `wait_for` | waits until the state of `of` is `state` | nothing |
//! | `add_track` | captures a `kind` track (browsers: `getUserMedia` with `constraints`; native: its fixture file) and adds a transceiver with `direction`, preferring `codecs`; done at once (it is negotiated by the next round) | nothing |
//! | `expect_media` | waits until what it receives meets its `[[expect.media]]` entries: packets, frames, a moving picture | nothing |
//!
//! An offer that arrives while a peer is still in the `add_track` (and `open_channel`) steps just
//! before the round it completes is answered once those steps are done, so the answer includes
//! them (a browser's `getUserMedia` takes a while, and the offerer does not wait for it).
//!
//! Whatever the steps, every peer always: answers offers (whoever sends them), applies answers,
//! adds trickled candidates (queued until a remote description is set; one that fails is recorded
//! as an error and skipped), echoes every message that arrives on a channel the other side opened,
//! closes its connection on `bye`, and — with `perfect_negotiation` — follows the W3C "perfect
//! negotiation" pattern (the answerer is polite: it rolls back its own offer on a collision; the
//! offerer is impolite: it ignores the colliding offer).
//!
//! A step that fails ends the peer's plan: the peer records why and finishes. Once every step is
//! done, a peer waits a short grace for the other side's end-of-candidates, reads its selected pair
//! and stats, and finishes.
//!
//! Messages are made the same way by every peer, so any side can check an echo: message `i`
//! (0-based) of a `send` step is `text` when `count` is 1, else `"{text} #{i+1}"`; with `size`,
//! text is repeated (or cut) to exactly `size` bytes (`text` is ASCII); a binary message of `size`
//! bytes holds byte `(i + k) % 251` at offset `k`.

use serde::{Deserialize, Serialize};

use super::media::{CodecSpec, MediaConstraints, MediaKind, TrackDirection};
use super::model::DataChannelSpec;

/// Who acts in a step.
#[derive(
    schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The peer that made the first offer.
    #[default]
    Offerer,
    /// The peer that answered it.
    Answerer,
    /// Both, at the same moment (glare, for `negotiate`).
    Both,
}

impl Actor {
    /// The sides that act: both for `both`.
    pub fn sides(self) -> &'static [Actor] {
        match self {
            Actor::Offerer => &[Actor::Offerer],
            Actor::Answerer => &[Actor::Answerer],
            Actor::Both => &[Actor::Offerer, Actor::Answerer],
        }
    }

    /// `offerer`, `answerer` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Offerer => "offerer",
            Actor::Answerer => "answerer",
            Actor::Both => "both",
        }
    }
}

/// What a step does.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Create a data channel.
    OpenChannel,
    /// Send messages on a channel.
    Send,
    /// Wait for every message sent on a channel to come back.
    ExpectEcho,
    /// Close a data channel.
    CloseChannel,
    /// A new offer/answer round on the existing connection.
    Negotiate,
    /// An offer/answer round that restarts ICE.
    RestartIce,
    /// Send `bye` and close the connection; the other side closes on `bye`.
    HangUp,
    /// Wait until a state is reached.
    WaitFor,
    /// Capture a track and add a transceiver for it.
    AddTrack,
    /// Wait until the media this side receives meets its `[[expect.media]]` entries.
    ExpectMedia,
}

impl StepKind {
    /// The name scenario files use (`restart_ice`).
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::OpenChannel => "open_channel",
            StepKind::Send => "send",
            StepKind::ExpectEcho => "expect_echo",
            StepKind::CloseChannel => "close_channel",
            StepKind::Negotiate => "negotiate",
            StepKind::RestartIce => "restart_ice",
            StepKind::HangUp => "hang_up",
            StepKind::WaitFor => "wait_for",
            StepKind::AddTrack => "add_track",
            StepKind::ExpectMedia => "expect_media",
        }
    }

    /// Every step kind.
    pub const ALL: [StepKind; 10] = [
        StepKind::OpenChannel,
        StepKind::Send,
        StepKind::ExpectEcho,
        StepKind::CloseChannel,
        StepKind::Negotiate,
        StepKind::RestartIce,
        StepKind::HangUp,
        StepKind::WaitFor,
        StepKind::AddTrack,
        StepKind::ExpectMedia,
    ];

    /// The step kind scenario files call `name`.
    pub fn named(name: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the step is an offer/answer round (the counterpart counts these).
    pub fn is_round(self) -> bool {
        matches!(self, StepKind::Negotiate | StepKind::RestartIce)
    }
}

/// Which state a `wait_for` step watches.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitTarget {
    /// `iceConnectionState`.
    Ice,
    /// `connectionState`.
    Connection,
    /// `iceGatheringState`.
    Gathering,
    /// `signalingState`.
    Signaling,
    /// A data channel's `readyState` (`channel` names it).
    Channel,
}

impl WaitTarget {
    /// The states the watched attribute can take, as the W3C API spells them.
    pub fn states(self) -> &'static [&'static str] {
        match self {
            WaitTarget::Ice => &[
                "new",
                "checking",
                "connected",
                "completed",
                "disconnected",
                "failed",
                "closed",
            ],
            WaitTarget::Connection => &[
                "new",
                "connecting",
                "connected",
                "disconnected",
                "failed",
                "closed",
            ],
            WaitTarget::Gathering => &["new", "gathering", "complete"],
            WaitTarget::Signaling => &[
                "stable",
                "have-local-offer",
                "have-remote-offer",
                "have-local-pranswer",
                "have-remote-pranswer",
                "closed",
            ],
            WaitTarget::Channel => &["connecting", "open", "closing", "closed"],
        }
    }

    /// `ice`, `connection`, …
    pub fn as_str(self) -> &'static str {
        match self {
            WaitTarget::Ice => "ice",
            WaitTarget::Connection => "connection",
            WaitTarget::Gathering => "gathering",
            WaitTarget::Signaling => "signaling",
            WaitTarget::Channel => "channel",
        }
    }
}

/// How big a message is.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MessageSize {
    /// Exactly this many bytes.
    Bytes(u32),
    /// Relative to what the other side advertises in `a=max-message-size` (65536 when absent).
    Relative(RelativeSize),
}

/// A size relative to the other side's `a=max-message-size`.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RelativeSize {
    /// Exactly the advertised size.
    #[serde(rename = "max-message-size")]
    Max,
    /// One byte over it: the sender must refuse it.
    #[serde(rename = "max-message-size+1")]
    OverMax,
}

/// The most a relative size may resolve to: a side advertising more (Firefox says 1 GiB) gets the
/// step skipped with the reason, since no test should push a gigabyte through a page.
pub const MAX_SENT_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;

/// One step of a scenario, as in `[[steps]]`. Fields that do not apply to the step's `do` are
/// refused by the loader.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the step does.
    #[serde(rename = "do")]
    pub kind: StepKind,
    /// Who acts.
    #[serde(default)]
    pub by: Actor,
    /// How long the step may take, in seconds (default: the scenario's time limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_secs: Option<f64>,
    /// `open_channel`: the new channel's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `open_channel`: ordered delivery (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered: Option<bool>,
    /// `open_channel`: partial reliability, at most this many retransmissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retransmits: Option<u16>,
    /// `open_channel`: partial reliability, give up after this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_packet_life_time: Option<u16>,
    /// `open_channel`: sub-protocol name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `open_channel`: negotiated out of band; both sides create it with `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated: Option<bool>,
    /// `open_channel` with `negotiated`: the SCTP stream id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    /// `send`, `expect_echo`, `close_channel`, `wait_for` (of a channel): the channel's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// `send`: the text to send (default: the case's echo probe text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `send`: send binary messages instead of text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<bool>,
    /// `send`: each message's size in bytes, or `"max-message-size"` / `"max-message-size+1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<MessageSize>,
    /// `send`: how many messages (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// `send`: every send must be refused by the sender's stack (the error is recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_error: Option<bool>,
    /// `wait_for`: which state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<WaitTarget>,
    /// `wait_for`: the state to reach, as the W3C API spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `add_track`: `audio` or `video` (`kind` in scenario files).
    #[serde(rename = "kind", default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaKind>,
    /// `add_track`: the transceiver's direction (default `sendrecv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<TrackDirection>,
    /// `add_track`: the codecs this side accepts for the track, in order of preference (codec
    /// specs, see `scenario::media`); default: all the stack has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Vec<String>>,
    /// `add_track`: `getUserMedia` constraints (browsers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<MediaConstraints>,
    /// `add_track`: `false` disables the captured track (`track.enabled = false`: browsers send
    /// black frames and silence; the native peer sends nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl Step {
    /// A step of `kind` by `by`, every option unset.
    pub fn new(kind: StepKind, by: Actor) -> Self {
        Step {
            kind,
            by,
            within_secs: None,
            label: None,
            ordered: None,
            max_retransmits: None,
            max_packet_life_time: None,
            protocol: None,
            negotiated: None,
            id: None,
            channel: None,
            text: None,
            binary: None,
            size: None,
            count: None,
            expect_error: None,
            of: None,
            state: None,
            media: None,
            direction: None,
            codecs: None,
            constraints: None,
            enabled: None,
        }
    }

    /// The fields this step sets that its kind does not use.
    fn stray_fields(&self) -> Vec<&'static str> {
        let set: [(&'static str, bool, &[StepKind]); 21] = [
            ("label", self.label.is_some(), &[StepKind::OpenChannel]),
            ("ordered", self.ordered.is_some(), &[StepKind::OpenChannel]),
            (
                "max_retransmits",
                self.max_retransmits.is_some(),
                &[StepKind::OpenChannel],
            ),
            (
                "max_packet_life_time",
                self.max_packet_life_time.is_some(),
                &[StepKind::OpenChannel],
            ),
            (
                "protocol",
                self.protocol.is_some(),
                &[StepKind::OpenChannel],
            ),
            (
                "negotiated",
                self.negotiated.is_some(),
                &[StepKind::OpenChannel],
            ),
            ("id", self.id.is_some(), &[StepKind::OpenChannel]),
            (
                "channel",
                self.channel.is_some(),
                &[
                    StepKind::Send,
                    StepKind::ExpectEcho,
                    StepKind::CloseChannel,
                    StepKind::WaitFor,
                ],
            ),
            ("text", self.text.is_some(), &[StepKind::Send]),
            ("binary", self.binary.is_some(), &[StepKind::Send]),
            ("size", self.size.is_some(), &[StepKind::Send]),
            ("count", self.count.is_some(), &[StepKind::Send]),
            (
                "expect_error",
                self.expect_error.is_some(),
                &[StepKind::Send],
            ),
            ("of", self.of.is_some(), &[StepKind::WaitFor]),
            ("state", self.state.is_some(), &[StepKind::WaitFor]),
            ("kind", self.media.is_some(), &[StepKind::AddTrack]),
            ("direction", self.direction.is_some(), &[StepKind::AddTrack]),
            ("codecs", self.codecs.is_some(), &[StepKind::AddTrack]),
            (
                "constraints",
                self.constraints.is_some(),
                &[StepKind::AddTrack],
            ),
            ("enabled", self.enabled.is_some(), &[StepKind::AddTrack]),
            ("within_secs", false, &[]),
        ];
        set.iter()
            .filter(|(_, present, kinds)| *present && !kinds.contains(&self.kind))
            .map(|(name, _, _)| *name)
            .collect()
    }
}

/// One message of a `send` step, as every peer kind builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Payload {
    /// Message `index` (from 0) of `step`: see the module doc. `default_text` is the case's echo
    /// probe text; `size` the resolved size in bytes, if the step sets one.
    pub fn of(step: &Step, index: u32, default_text: &str, size: Option<usize>) -> Payload {
        let text = step.text.as_deref().unwrap_or(default_text);
        let base = if step.count.unwrap_or(1) == 1 {
            text.to_string()
        } else {
            format!("{text} #{}", index + 1)
        };
        if step.binary.unwrap_or(false) {
            let len = size.unwrap_or(base.len());
            return Payload::Binary(
                (0..len)
                    .map(|k| ((index as usize + k) % 251) as u8)
                    .collect(),
            );
        }
        match size {
            None => Payload::Text(base),
            Some(len) => Payload::Text(base.bytes().cycle().take(len).map(char::from).collect()),
        }
    }

    /// The message's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Payload::Text(text) => text.as_bytes(),
            Payload::Binary(bytes) => bytes,
        }
    }

    /// How reports show it: the text, or `<binary N bytes>`.
    pub fn shown(&self) -> String {
        match self {
            Payload::Text(text) => text.clone(),
            Payload::Binary(bytes) => format!("<binary {} bytes>", bytes.len()),
        }
    }
}

/// What a description without `a=max-message-size` allows (RFC 8841 §6).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 65536;

/// Whether the other side may echo a message of `len` bytes back: only if it fits what this side
/// advertises itself (`None`: absent, so 65536; `0`: no limit; RFC 8841 §6). An `expect_echo`
/// waits only for those: a conforming echoer refuses to send the rest.
pub fn may_come_back(len: usize, own_advertised: Option<u64>) -> bool {
    match own_advertised.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE) {
        0 => true,
        max => len as u64 <= max,
    }
}

/// The size a `send` step's messages have, given what the other side advertises in
/// `a=max-message-size` (`None`: absent, which RFC 8841 §6 makes 65536). `Err` names why the
/// step is skipped instead (a size above [`MAX_SENT_MESSAGE_BYTES`]).
pub fn resolve_size(
    size: Option<MessageSize>,
    advertised: Option<u64>,
) -> Result<Option<usize>, String> {
    let advertised = advertised.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
    let bytes = match size {
        None => return Ok(None),
        Some(MessageSize::Bytes(n)) => u64::from(n),
        Some(MessageSize::Relative(RelativeSize::Max)) => advertised,
        Some(MessageSize::Relative(RelativeSize::OverMax)) => advertised + 1,
    };
    if bytes > MAX_SENT_MESSAGE_BYTES {
        return Err(format!(
            "not sent: {bytes} bytes (the other side advertises max-message-size {advertised}) is \
             more than the {MAX_SENT_MESSAGE_BYTES} bytes the harness sends"
        ));
    }
    Ok(Some(bytes as usize))
}

/// The offer/answer round step `index` of `steps` completes: 1 for the first `negotiate` or
/// `restart_ice`, and so on. The side that does not act waits until it has completed this many.
pub fn round_of(steps: &[Step], index: usize) -> u32 {
    steps[..=index].iter().filter(|s| s.kind.is_round()).count() as u32
}

/// How many messages the `send` steps up to `index` send on `channel`, leaving out the ones that
/// must be refused and those `skipped`: what the receiving side waits for.
pub fn messages_sent_through(
    steps: &[Step],
    index: usize,
    channel: &str,
    skipped: impl Fn(&Step) -> bool,
) -> u32 {
    steps[..=index]
        .iter()
        .filter(|s| {
            s.kind == StepKind::Send
                && s.channel.as_deref() == Some(channel)
                && !s.expect_error.unwrap_or(false)
                && !skipped(s)
        })
        .map(|s| s.count.unwrap_or(1))
        .sum()
}

/// Today's flow, for a scenario without `[[steps]]`: the offerer opens the scenario's data
/// channel, makes the offer, sends one probe and waits for its echo.
pub fn default_steps(channel: &DataChannelSpec) -> Vec<Step> {
    let mut open = Step::new(StepKind::OpenChannel, Actor::Offerer);
    open.label = Some(channel.label.clone());
    open.ordered = Some(channel.ordered);
    open.max_retransmits = channel.max_retransmits;
    open.max_packet_life_time = channel.max_packet_life_time;
    if !channel.protocol.is_empty() {
        open.protocol = Some(channel.protocol.clone());
    }
    let mut send = Step::new(StepKind::Send, Actor::Offerer);
    send.channel = Some(channel.label.clone());
    let mut echo = Step::new(StepKind::ExpectEcho, Actor::Offerer);
    echo.channel = Some(channel.label.clone());
    vec![
        open,
        Step::new(StepKind::Negotiate, Actor::Offerer),
        send,
        echo,
    ]
}

/// Checks a step list; the error names the step (`steps[2]`) and the field.
pub fn validate(steps: &[Step]) -> Result<(), (String, String)> {
    let mut labels: Vec<&str> = Vec::new();
    let mut ids: Vec<u16> = Vec::new();
    let mut rounds = 0;
    let mut tracks: Vec<(Actor, Option<MediaKind>)> = Vec::new();
    let mut unnegotiated_track = None;
    for (i, step) in steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{i}].{field}");
        let kind = step.kind.as_str();
        if let Some(field) = step.stray_fields().first() {
            return Err((at(field), format!("does not apply to `{kind}`")));
        }
        if let Some(limit) = step.within_secs
            && !(limit.is_finite() && limit > 0.0 && limit <= 600.0)
        {
            return Err((
                at("within_secs"),
                format!("{limit} must be more than 0 and at most 600"),
            ));
        }
        if step.by == Actor::Both
            && !matches!(
                step.kind,
                StepKind::Negotiate
                    | StepKind::WaitFor
                    | StepKind::AddTrack
                    | StepKind::ExpectMedia
            )
        {
            return Err((
                at("by"),
                format!(
                    "`both` is for `negotiate` (glare), `wait_for`, `add_track` and \
                     `expect_media`, not `{kind}`"
                ),
            ));
        }
        let needs_channel = |labels: &[&str]| -> Result<(), (String, String)> {
            match step.channel.as_deref() {
                None => Err((at("channel"), format!("`{kind}` names the channel it uses"))),
                Some(label) if !labels.contains(&label) => Err((
                    at("channel"),
                    format!("`{label}` is not opened by an earlier `open_channel` step"),
                )),
                Some(_) => Ok(()),
            }
        };
        match step.kind {
            StepKind::OpenChannel => {
                let label = step.label.as_deref().unwrap_or_default();
                if label.is_empty() {
                    return Err((at("label"), "`open_channel` needs a non-empty label".into()));
                }
                if labels.contains(&label) {
                    return Err((at("label"), format!("`{label}` is opened twice")));
                }
                if step.max_retransmits.is_some() && step.max_packet_life_time.is_some() {
                    return Err((
                        at("max_retransmits"),
                        "cannot be combined with max_packet_life_time (W3C createDataChannel throws)"
                            .into(),
                    ));
                }
                match (step.negotiated.unwrap_or(false), step.id) {
                    (true, None) => {
                        return Err((at("id"), "a `negotiated` channel needs its `id`".into()));
                    }
                    (false, Some(_)) => {
                        return Err((at("id"), "only a `negotiated` channel takes an `id`".into()));
                    }
                    (true, Some(id)) if ids.contains(&id) => {
                        return Err((at("id"), format!("stream id {id} is used twice")));
                    }
                    (true, Some(id)) => ids.push(id),
                    (false, None) => {}
                }
                labels.push(label);
            }
            StepKind::Send => {
                needs_channel(&labels)?;
                if step.count == Some(0) {
                    return Err((at("count"), "must be at least 1".into()));
                }
                if step.text.as_deref().is_some_and(|t| !t.is_ascii()) {
                    return Err((at("text"), "must be ASCII (sizes are in bytes)".into()));
                }
                if step.size == Some(MessageSize::Bytes(0)) {
                    return Err((at("size"), "must be at least 1 byte".into()));
                }
            }
            StepKind::ExpectEcho | StepKind::CloseChannel => needs_channel(&labels)?,
            StepKind::AddTrack => {
                validate_add_track(step, &at)?;
                for side in step.by.sides() {
                    let track = (*side, step.media);
                    if tracks.contains(&track) {
                        return Err((
                            at("kind"),
                            format!(
                                "the {} adds a second {} track: one track of each kind per side",
                                side.as_str(),
                                step.media.map_or("", MediaKind::as_str)
                            ),
                        ));
                    }
                    tracks.push(track);
                }
                unnegotiated_track = Some(i);
            }
            StepKind::ExpectMedia => {}
            StepKind::Negotiate | StepKind::RestartIce => {
                rounds += 1;
                unnegotiated_track = None;
            }
            StepKind::HangUp => {
                if i + 1 != steps.len() {
                    return Err((
                        at("do"),
                        "`hang_up` ends the call: it must be the last step".into(),
                    ));
                }
            }
            StepKind::WaitFor => {
                let Some(of) = step.of else {
                    return Err((at("of"), "`wait_for` names what it waits for: ice, connection, gathering, signaling or channel".into()));
                };
                let Some(state) = step.state.as_deref() else {
                    return Err((
                        at("state"),
                        format!("`wait_for` names the {} state to reach", of.as_str()),
                    ));
                };
                if !of.states().contains(&state) {
                    return Err((
                        at("state"),
                        format!(
                            "`{state}` is not a {} state (one of {})",
                            of.as_str(),
                            of.states().join(", ")
                        ),
                    ));
                }
                match (of, step.channel.is_some()) {
                    (WaitTarget::Channel, _) => needs_channel(&labels)?,
                    (_, true) => {
                        return Err((
                            at("channel"),
                            format!("only applies to `of = \"channel\"`, not `{}`", of.as_str()),
                        ));
                    }
                    _ => {}
                }
            }
        }
        if step.kind.is_round() || rounds > 0 {
            continue;
        }
        // Before the first offer/answer round nothing is connected: only channels and tracks may
        // be set up.
        if !matches!(
            step.kind,
            StepKind::OpenChannel | StepKind::WaitFor | StepKind::AddTrack
        ) {
            return Err((
                at("do"),
                format!("`{kind}` needs a connection: put a `negotiate` step before it"),
            ));
        }
    }
    if rounds == 0 {
        return Err((
            "steps".into(),
            "no `negotiate` step: the peers would never connect".into(),
        ));
    }
    if let Some(i) = unnegotiated_track {
        return Err((
            format!("steps[{i}].do"),
            "a track added after the last offer/answer round is never negotiated: put a \
             `negotiate` step after it"
                .into(),
        ));
    }
    Ok(())
}

/// An `add_track` step's own fields.
fn validate_add_track(step: &Step, at: &dyn Fn(&str) -> String) -> Result<(), (String, String)> {
    let Some(kind) = step.media else {
        return Err((
            at("kind"),
            "`add_track` needs `kind = \"audio\"` or `\"video\"`".into(),
        ));
    };
    if let Some(field) = step
        .constraints
        .as_ref()
        .and_then(|c| c.stray_fields(kind).first().copied())
    {
        return Err((
            at(&format!("constraints.{field}")),
            format!("does not apply to {} tracks", kind.as_str()),
        ));
    }
    let recvonly = step.direction == Some(TrackDirection::Recvonly);
    if recvonly && (step.constraints.is_some() || step.enabled.is_some()) {
        return Err((
            at(if step.enabled.is_some() {
                "enabled"
            } else {
                "constraints"
            }),
            "a `recvonly` transceiver captures no track".into(),
        ));
    }
    if let Some(codecs) = &step.codecs {
        if codecs.is_empty() {
            return Err((
                at("codecs"),
                "an empty list would reject the track: leave it out for every codec".into(),
            ));
        }
        for (n, codec) in codecs.iter().enumerate() {
            CodecSpec::parse(codec).map_err(|e| (at(&format!("codecs[{n}]")), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(toml_text: &str) -> Vec<Step> {
        #[derive(Deserialize)]
        struct Doc {
            steps: Vec<Step>,
        }
        toml::from_str::<Doc>(toml_text).unwrap().steps
    }

    #[test]
    fn the_default_steps_are_valid_and_play_todays_flow() {
        let channel = DataChannelSpec {
            label: "echo".into(),
            ordered: true,
            max_retransmits: None,
            max_packet_life_time: None,
            protocol: String::new(),
        };
        let steps = default_steps(&channel);
        validate(&steps).unwrap();
        let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["open_channel", "negotiate", "send", "expect_echo"]);
        assert!(steps.iter().all(|s| s.by == Actor::Offerer));
    }

    #[test]
    fn invalid_steps_name_the_step_and_the_field() {
        let cases = [
            (
                "[[steps]]\ndo = \"negotiate\"\nlabel = \"x\"\n",
                "steps[0].label",
                "does not apply to `negotiate`",
            ),
            (
                "[[steps]]\ndo = \"negotiate\"\n[[steps]]\ndo = \"send\"\nchannel = \"nope\"\n",
                "steps[1].channel",
                "`nope` is not opened",
            ),
            (
                "[[steps]]\ndo = \"open_channel\"\nlabel = \"a\"\n[[steps]]\ndo = \"send\"\nchannel = \"a\"\n",
                "steps[1].do",
                "put a `negotiate` step before it",
            ),
            (
                "[[steps]]\ndo = \"negotiate\"\n[[steps]]\ndo = \"hang_up\"\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[1].do",
                "must be the last step",
            ),
            (
                "[[steps]]\ndo = \"negotiate\"\n[[steps]]\ndo = \"wait_for\"\nof = \"ice\"\nstate = \"stable\"\n",
                "steps[1].state",
                "not a ice state",
            ),
            (
                "[[steps]]\ndo = \"open_channel\"\nlabel = \"n\"\nnegotiated = true\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[0].id",
                "needs its `id`",
            ),
            (
                "[[steps]]\ndo = \"open_channel\"\nby = \"both\"\nlabel = \"n\"\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[0].by",
                "`both` is for",
            ),
            (
                "[[steps]]\ndo = \"open_channel\"\nlabel = \"n\"\n",
                "steps",
                "no `negotiate` step",
            ),
            (
                "[[steps]]\ndo = \"add_track\"\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[0].kind",
                "needs `kind",
            ),
            (
                "[[steps]]\ndo = \"add_track\"\nkind = \"audio\"\nconstraints = { width = 640 }\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[0].constraints.width",
                "does not apply to audio",
            ),
            (
                "[[steps]]\ndo = \"add_track\"\nkind = \"video\"\ncodecs = [\"VP9;profile-id\"]\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[0].codecs[0]",
                "key=value",
            ),
            (
                "[[steps]]\ndo = \"add_track\"\nby = \"both\"\nkind = \"video\"\n[[steps]]\ndo = \"add_track\"\nby = \"answerer\"\nkind = \"video\"\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[1].kind",
                "second video track",
            ),
            (
                "[[steps]]\ndo = \"negotiate\"\n[[steps]]\ndo = \"add_track\"\nkind = \"video\"\n",
                "steps[1].do",
                "never negotiated",
            ),
            (
                "[[steps]]\ndo = \"add_track\"\nkind = \"video\"\ndirection = \"recvonly\"\nenabled = false\n[[steps]]\ndo = \"negotiate\"\n",
                "steps[0].enabled",
                "captures no track",
            ),
        ];
        for (text, field, words) in cases {
            let (got_field, message) = validate(&steps(text)).unwrap_err();
            assert_eq!(got_field, field, "{text}");
            assert!(message.contains(words), "{text}: {message}");
        }
    }

    #[test]
    fn messages_are_the_same_whoever_builds_them() {
        let mut step = Step::new(StepKind::Send, Actor::Offerer);
        assert_eq!(
            Payload::of(&step, 0, "hi", None),
            Payload::Text("hi".into())
        );
        step.count = Some(3);
        assert_eq!(
            Payload::of(&step, 1, "hi", None),
            Payload::Text("hi #2".into())
        );
        assert_eq!(
            Payload::of(&step, 1, "hi", Some(7)),
            Payload::Text("hi #2hi".into())
        );
        step.binary = Some(true);
        assert_eq!(
            Payload::of(&step, 250, "x", Some(3)),
            Payload::Binary(vec![250, 0, 1])
        );
        assert_eq!(
            resolve_size(Some(MessageSize::Relative(RelativeSize::OverMax)), None),
            Ok(Some(65537))
        );
        assert_eq!(
            resolve_size(Some(MessageSize::Relative(RelativeSize::Max)), Some(262144)),
            Ok(Some(262144))
        );
        let skipped = resolve_size(
            Some(MessageSize::Relative(RelativeSize::Max)),
            Some(1073741823),
        );
        assert!(skipped.unwrap_err().contains("1073741823"));
    }

    #[test]
    fn sizes_are_bytes_or_relative_to_the_advertised_maximum() {
        let parsed = steps(
            "[[steps]]\ndo = \"send\"\nsize = 5\n[[steps]]\ndo = \"send\"\nsize = \"max-message-size+1\"\n",
        );
        assert_eq!(parsed[0].size, Some(MessageSize::Bytes(5)));
        assert_eq!(
            parsed[1].size,
            Some(MessageSize::Relative(RelativeSize::OverMax))
        );
        let json = serde_json::to_value(&parsed[1]).unwrap();
        assert_eq!(json["size"], "max-message-size+1");
        assert_eq!(json["do"], "send");
    }
}
