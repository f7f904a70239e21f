//! The signaling relay: a WebSocket server with rooms.
//!
//! A client joins a room by the URL path it connects to (`ws://host:port/<room>`; the whole path is
//! the room's name). Every text frame that is a JSON object with a string `type` is forwarded, as
//! is, to the other members of the same room, and recorded with a timestamp in the room's trace.
//! Anything else is answered with an error frame (`{"type":"error","error":"…"}`) and never reaches
//! other clients; a frame over the size limit closes that one connection (code 1009). One bad client
//! never affects another room.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::clock::epoch_ms;

/// What the relay reads from a socket at once: a whole offer usually, never the 128 KiB default.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Largest frame the relay accepts by default; SDP with many candidates stays far below it.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 256 * 1024;

/// How the relay behaves.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Frames larger than this close the sender's connection.
    pub max_frame_bytes: usize,
    /// Print every forwarded and rejected frame to stderr (the standalone `relay` command).
    pub log_to_stderr: bool,
}

impl RelayConfig {
    /// Writes one log line when logging is on. A closed stderr must not take the relay down, so
    /// write errors are ignored (`eprintln!` would panic).
    fn log(&self, line: std::fmt::Arguments<'_>) {
        if self.log_to_stderr {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "relay: {line}");
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            log_to_stderr: false,
        }
    }
}

/// One message the relay forwarded, as the case's signaling trace shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceEntry {
    /// When the relay received it (milliseconds since the Unix epoch).
    pub at_ms: f64,
    /// The room it was sent in.
    pub room: String,
    /// The relay's number for the sending connection.
    pub connection: u64,
    /// The message's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The sender's id (`m`), when the message carries one.
    pub sender: Option<String>,
    /// How many other members it was forwarded to.
    pub delivered_to: usize,
    /// The message itself.
    pub message: serde_json::Value,
}

/// What goes out to one member, each message with the moment it is due.
type Outbox = mpsc::UnboundedSender<(Instant, Message)>;
type Members = HashMap<u64, Outbox>;

#[derive(Default)]
struct State {
    rooms: Mutex<HashMap<String, Members>>,
    trace: Mutex<Vec<TraceEntry>>,
    next_connection: Mutex<u64>,
    /// Rooms whose messages are held this long before delivery.
    delays: Mutex<HashMap<String, Duration>>,
}

/// A running relay. Dropping it stops it.
pub struct Relay {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Binds `listen` (port 0: the OS picks one) and starts serving.
    pub async fn start(listen: SocketAddr, config: RelayConfig) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state.clone(), config, shutdown_rx));
        Ok(Relay {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// The address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client uses to join `room`.
    pub fn room_url(&self, room: &str) -> String {
        format!("ws://{}/{}", self.addr, room)
    }

    /// Every message forwarded in `room` so far, oldest first.
    pub fn trace(&self, room: &str) -> Vec<TraceEntry> {
        let trace = self.state.trace.lock().unwrap();
        trace.iter().filter(|e| e.room == room).cloned().collect()
    }

    /// Holds every message forwarded in `room` for `delay` before delivering it (in order): a slow
    /// signaling server, which makes offers from both sides cross (glare) reliably.
    pub fn set_delay(&self, room: &str, delay: Duration) {
        self.state
            .delays
            .lock()
            .unwrap()
            .insert(room.to_string(), delay);
    }

    /// How many clients are in `room` now.
    pub fn members(&self, room: &str) -> usize {
        let rooms = self.state.rooms.lock().unwrap();
        rooms.get(room).map_or(0, HashMap::len)
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    config: RelayConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let connection = {
                    let mut next = state.next_connection.lock().unwrap();
                    *next += 1;
                    *next
                };
                let state = state.clone();
                let config = config.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_client(stream, connection, &state, &config, shutdown).await {
                        config.log(format_args!("connection {connection} from {peer}: {e}"));
                    }
                });
            }
        }
    }
}

async fn serve_client(
    stream: TcpStream,
    connection: u64,
    state: &State,
    config: &RelayConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), WsError> {
    // Signaling is bursts of small frames (an offer, then its candidates): with Nagle's algorithm
    // the second waits for the first's ACK, which the receiver delays ~40 ms.
    let _ = stream.set_nodelay(true);
    let mut room = String::new();
    // tungstenite's default 128 KiB read buffer is zero-filled on every read and held per
    // connection; signaling frames are a few KB.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(config.max_frame_bytes))
        .max_frame_size(Some(config.max_frame_bytes));
    // The callback's error type is tungstenite's (an HTTP response), not ours to shrink.
    #[allow(clippy::result_large_err)]
    let read_room = |request: &Request, response: Response| {
        room = request.uri().path().trim_start_matches('/').to_string();
        Ok(response)
    };
    let ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, read_room, Some(ws_config)).await?;
    let (mut sink, mut frames) = ws.split();
    let (outbox, mut outbox_rx) = mpsc::unbounded_channel::<(Instant, Message)>();
    // The next message out, once it is due; frames keep being read meanwhile.
    let mut next: Option<(Instant, Message)> = None;
    state
        .rooms
        .lock()
        .unwrap()
        .entry(room.clone())
        .or_default()
        .insert(connection, outbox.clone());
    config.log(format_args!("connection {connection} joined room '{room}'"));

    let result = loop {
        tokio::select! {
            _ = shutdown.changed() => break Ok(()),
            Some(out) = outbox_rx.recv(), if next.is_none() => next = Some(out),
            _ = tokio::time::sleep_until(next.as_ref().map_or_else(Instant::now, |(due, _)| *due)), if next.is_some() => {
                let (_, out) = next.take().expect("guarded");
                if let Err(e) = sink.send(out).await {
                    break Err(e);
                }
            }
            frame = frames.next() => match frame {
                None => break Ok(()),
                Some(Err(WsError::Capacity(e))) => {
                    let reason = format!("frame too large: {e}");
                    config.log(format_args!("connection {connection} in '{room}': {reason}"));
                    let close = CloseFrame { code: CloseCode::Size, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    break Ok(());
                }
                Some(Err(WsError::Utf8(e))) => {
                    // RFC 6455 §7.4.1: 1007, data inconsistent with the message type.
                    let reason = format!("a text frame that is not UTF-8: {e}");
                    config.log(format_args!("connection {connection} in '{room}': {reason}"));
                    let close = CloseFrame { code: CloseCode::Invalid, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    break Ok(());
                }
                Some(Err(e)) => break Err(e),
                Some(Ok(Message::Text(text))) => {
                    match check_frame(&text) {
                        Ok(message) => forward(state, &room, connection, text.as_str(), message, config),
                        Err(reason) => reject(&outbox, connection, &room, &reason, config),
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    reject(&outbox, connection, &room, "binary frames are not signaling messages", config)
                }
                Some(Ok(Message::Close(_))) => break Ok(()),
                Some(Ok(_)) => {} // ping/pong are answered by tungstenite itself
            }
        }
    };

    let mut rooms = state.rooms.lock().unwrap();
    if let Some(members) = rooms.get_mut(&room) {
        members.remove(&connection);
        if members.is_empty() {
            rooms.remove(&room);
        }
    }
    result
}

/// Accepts any JSON object with a string `type`, so clients with their own message kinds still work.
fn check_frame(text: &str) -> Result<serde_json::Value, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("frame is not JSON: {e}"))?;
    match value.get("type") {
        // The relay's own answer to a bad frame: a client sending one would be taken for it.
        Some(serde_json::Value::String(kind)) if kind == "error" => {
            Err("`error` is the relay's own message type; clients may not send it".into())
        }
        Some(serde_json::Value::String(_)) => Ok(value),
        Some(_) => Err("field `type` must be a string".into()),
        None if value.is_object() => Err("message has no `type` field".into()),
        None => Err("message must be a JSON object".into()),
    }
}

fn forward(
    state: &State,
    room: &str,
    connection: u64,
    text: &str,
    message: serde_json::Value,
    config: &RelayConfig,
) {
    let delay = state
        .delays
        .lock()
        .unwrap()
        .get(room)
        .copied()
        .unwrap_or_default();
    let due = Instant::now() + delay;
    // Record and forward under one lock so the trace order is the delivery order.
    let rooms = state.rooms.lock().unwrap();
    let mut delivered_to = 0;
    for (member, outbox) in rooms.get(room).into_iter().flatten() {
        if *member != connection && outbox.send((due, Message::text(text))).is_ok() {
            delivered_to += 1;
        }
    }
    let entry = TraceEntry {
        at_ms: epoch_ms(),
        room: room.to_string(),
        connection,
        kind: message["type"].as_str().unwrap_or_default().to_string(),
        sender: message
            .get("m")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        delivered_to,
        message,
    };
    config.log(format_args!(
        "'{}' {} from connection {} → {} member(s)",
        entry.room, entry.kind, connection, delivered_to
    ));
    state.trace.lock().unwrap().push(entry);
}

fn reject(outbox: &Outbox, connection: u64, room: &str, reason: &str, config: &RelayConfig) {
    config.log(format_args!(
        "rejected a frame from connection {connection} in '{room}': {reason}"
    ));
    let error = serde_json::json!({ "type": "error", "error": reason });
    let _ = outbox.send((Instant::now(), Message::text(error.to_string())));
}
