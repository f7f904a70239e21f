//! One client connection: the handshake, then reading its frames and writing what the room sends
//! it, within the relay's limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

use super::{Member, RelayConfig, State, access};

/// What the relay reads from a socket at once: a whole offer usually, never the 128 KiB default
/// (zero-filled on every read, and held per connection).
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Outgoing frames gathered before a write; a burst goes out in one write, and what an idle
/// connection keeps stays small.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// How long a closing member gets to take its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

type Ws = WebSocketStream<TcpStream>;

/// Why a connection ended.
enum Ending {
    /// The client closed it or went away.
    Client,
    /// The relay is stopping.
    Shutdown,
    /// The relay closes it with this code and reason.
    Close(CloseCode, String),
    /// Reading or writing failed.
    Failed(WsError),
}

/// When the client was last heard from (any frame, pongs too), shared by reading and the idle
/// check of one connection.
struct Heard {
    started: Instant,
    /// Milliseconds after `started`.
    after_ms: AtomicU64,
}

impl Heard {
    fn new() -> Self {
        Heard {
            started: Instant::now(),
            after_ms: AtomicU64::new(0),
        }
    }

    fn now(&self) {
        let ms = self.started.elapsed().as_millis();
        self.after_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.after_ms.load(Ordering::Relaxed))
    }
}

/// Serves one accepted socket until it ends; every ending that is not the client's is logged.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    connection: u64,
    state: Arc<State>,
    config: Arc<RelayConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let config = &*config;
    let log = |what: std::fmt::Arguments<'_>| {
        config.log(format_args!("connection {connection} from {peer}: {what}"))
    };
    let (ws, room) = match handshake(stream, config).await {
        Ok(accepted) => accepted,
        Err(reason) => return log(format_args!("{reason}")),
    };
    log(format_args!("joined room '{room}'"));
    match relay_frames(ws, &room, connection, &state, config, shutdown).await {
        Ending::Client => log(format_args!("left '{room}'")),
        Ending::Shutdown => {}
        Ending::Close(code, reason) => log(format_args!(
            "closed by the relay ({}): {reason}",
            u16::from(code)
        )),
        Ending::Failed(e) => log(format_args!("in '{room}': {e}")),
    }
}

/// The WebSocket upgrade, within the handshake timeout and the access checks; the room is the
/// URL path (without the query).
async fn handshake(stream: TcpStream, config: &RelayConfig) -> Result<(Ws, String), String> {
    // Signaling is bursts of small frames (an offer, then its candidates): with Nagle's algorithm
    // the second waits for the first's ACK, which the receiver delays ~40 ms.
    let _ = stream.set_nodelay(true);
    let local_ip = stream.local_addr().ok().map(|a| a.ip());
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(config.max_frame_bytes))
        .max_frame_size(Some(config.max_frame_bytes));
    let mut room = String::new();
    let mut refusal = None;
    // The callback's error type is tungstenite's (an HTTP response), not ours to shrink.
    #[allow(clippy::result_large_err)]
    let check =
        |request: &Request, response: Response| match access::check(config, local_ip, request) {
            Ok(()) => {
                room = request.uri().path().trim_start_matches('/').to_string();
                Ok(response)
            }
            Err(refused) => {
                let response = refused.response();
                refusal = Some(refused);
                Err(response)
            }
        };
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ws_config));
    match tokio::time::timeout(config.handshake_timeout, upgrade).await {
        Ok(Ok(ws)) => Ok((ws, room)),
        Ok(Err(e)) => Err(match refusal {
            Some(refused) => format!("refused ({}): {}", refused.status, refused.reason),
            None => format!("handshake failed: {e}"),
        }),
        Err(_) => Err(format!(
            "no WebSocket handshake within {:?}; closed",
            config.handshake_timeout
        )),
    }
}

/// Joins `room`, relays until the connection ends, leaves, and closes with the ending's code.
async fn relay_frames(
    ws: Ws,
    room: &str,
    connection: u64,
    state: &State,
    config: &RelayConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Ending {
    let (mut sink, mut frames) = ws.split();
    let (outbox, outbox_rx) = mpsc::channel(config.send_queue.max(1));
    let kick = Arc::new(Notify::new());
    state.join(
        room,
        connection,
        Member {
            outbox: outbox.clone(),
            kick: kick.clone(),
        },
    );
    let heard = Heard::new();
    let ending = {
        let reading = read_frames(
            &mut frames,
            room,
            connection,
            state,
            config,
            &outbox,
            &heard,
        );
        let writing = write_frames(&mut sink, outbox_rx, config.ping_interval);
        tokio::pin!(reading, writing);
        loop {
            let silent_until = heard.last() + config.idle_timeout;
            tokio::select! {
                _ = shutdown.changed() => break Ending::Shutdown,
                ending = &mut reading => break ending,
                ending = &mut writing => break ending,
                _ = kick.notified() => break Ending::Close(
                    CloseCode::Policy,
                    format!("too slow: {} messages waiting for it", config.send_queue),
                ),
                _ = tokio::time::sleep_until(silent_until) => {
                    if heard.last() + config.idle_timeout <= Instant::now() {
                        break Ending::Close(
                            CloseCode::Away,
                            format!("idle: nothing heard for {:?}", config.idle_timeout),
                        );
                    }
                }
            }
        }
    };
    state.leave(room, connection);
    if let Ending::Close(code, reason) = &ending {
        let close = CloseFrame {
            code: *code,
            reason: reason.clone().into(),
        };
        // The closing handshake: the client reads the close frame and answers it. One that does
        // not read may never take it; the socket closes after the grace regardless.
        let closing = async {
            sink.send(Message::Close(Some(close))).await?;
            while let Some(frame) = frames.next().await {
                if frame?.is_close() {
                    break;
                }
            }
            Ok::<_, WsError>(())
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, closing).await;
    }
    ending
}

/// Reads the client's frames: forwards signaling messages, answers bad ones with an error frame.
async fn read_frames(
    frames: &mut SplitStream<Ws>,
    room: &str,
    connection: u64,
    state: &State,
    config: &RelayConfig,
    outbox: &mpsc::Sender<(Instant, Message)>,
    heard: &Heard,
) -> Ending {
    while let Some(frame) = frames.next().await {
        heard.now();
        let rejected = match frame {
            Err(WsError::Capacity(e)) => {
                return Ending::Close(CloseCode::Size, format!("frame too large: {e}"));
            }
            // RFC 6455 §7.4.1: 1007, data inconsistent with the message type.
            Err(WsError::Utf8(e)) => {
                return Ending::Close(
                    CloseCode::Invalid,
                    format!("a text frame that is not UTF-8: {e}"),
                );
            }
            Err(e) => return Ending::Failed(e),
            Ok(Message::Text(text)) => match check_frame(&text) {
                Ok(()) => {
                    state.forward(room, connection, text, config);
                    None
                }
                Err(reason) => Some(reason),
            },
            Ok(Message::Binary(_)) => Some("binary frames are not signaling messages".into()),
            Ok(Message::Close(_)) => return Ending::Client,
            Ok(_) => None, // pings are answered by tungstenite itself; pongs only count as heard
        };
        if let Some(reason) = rejected {
            let error = serde_json::json!({ "type": "error", "error": reason });
            let answer = (Instant::now(), Message::text(error.to_string()));
            if outbox.try_send(answer).is_err() {
                return Ending::Close(CloseCode::Policy, "too slow to take its errors".into());
            }
        }
    }
    Ending::Client
}

/// Writes what the room sends, each message once it is due, and a ping every `ping_every`.
/// Messages already due go out together, in one write.
async fn write_frames(
    sink: &mut SplitSink<Ws, Message>,
    mut outbox: mpsc::Receiver<(Instant, Message)>,
    ping_every: Duration,
) -> Ending {
    let mut pings = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut held = None;
    loop {
        let (due, message) = match held.take() {
            Some(next) => next,
            None => tokio::select! {
                next = outbox.recv() => match next {
                    Some(next) => next,
                    None => return Ending::Client,
                },
                _ = pings.tick() => (Instant::now(), Message::Ping(Bytes::new())),
            },
        };
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        if let Err(e) = sink.feed(message).await {
            return Ending::Failed(e);
        }
        while let Ok((due, message)) = outbox.try_recv() {
            if due > Instant::now() {
                held = Some((due, message));
                break;
            }
            if let Err(e) = sink.feed(message).await {
                return Ending::Failed(e);
            }
        }
        if let Err(e) = sink.flush().await {
            return Ending::Failed(e);
        }
    }
}

/// The part of a frame the relay reads to accept it: its `type`. Deserializing into it checks the
/// whole frame is JSON without building it (that is done only for traced rooms).
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// Accepts any JSON object with a string `type`, so clients with their own message kinds still work.
fn check_frame(text: &str) -> Result<(), String> {
    // serde reads a struct from an array as well (`["offer"]`); a message is an object.
    let object = text.trim_start().starts_with('{');
    let head = object
        .then(|| serde_json::from_str::<Head<'_>>(text).ok())
        .flatten();
    match head {
        // The relay's own answer to a bad frame: a client sending one would be taken for it.
        Some(head) if head.kind == "error" => {
            Err("`error` is the relay's own message type; clients may not send it".into())
        }
        Some(_) => Ok(()),
        None => Err(why_not_a_message(text)),
    }
}

/// Why a frame that is not a JSON object with a string `type` was refused (the slow path: the
/// fast one only knows that it failed).
fn why_not_a_message(text: &str) -> String {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return format!("frame is not JSON: {e}"),
    };
    match value.get("type") {
        Some(serde_json::Value::String(_)) => {
            "frame has a duplicate or malformed `type` field".into()
        }
        Some(_) => "field `type` must be a string".into(),
        None if value.is_object() => "message has no `type` field".into(),
        None => "message must be a JSON object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::check_frame;

    #[test]
    fn frames_are_signaling_messages_only_with_one_string_type_other_than_error() {
        assert_eq!(check_frame(r#"{"type":"offer","sdp":"v=0"}"#), Ok(()));
        assert_eq!(check_frame(r#"{"type":"o\u0066fer"}"#), Ok(()));
        for (frame, reason) in [
            ("not json", "not JSON"),
            (r#"{"m":"x"}"#, "no `type`"),
            (r#"{"type":7}"#, "must be a string"),
            (r#"["hello"]"#, "JSON object"),
            (r#"{"type":"offer","type":"answer"}"#, "duplicate"),
            (r#"{"type":"error"}"#, "relay's own"),
        ] {
            let refused = check_frame(frame).expect_err(frame);
            assert!(refused.contains(reason), "{frame}: {refused}");
        }
    }
}
