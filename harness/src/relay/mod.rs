//! The signaling relay: a WebSocket server with rooms.
//!
//! A client joins a room by the URL path it connects to (`ws://host:port/<room>`; the whole path is
//! the room's name, the query is not part of it). Every text frame that is a JSON object with a
//! string `type` is forwarded, as is, to the other members of the same room, and recorded in the
//! room's trace when the room is traced ([`Relay::trace_room`]). Anything else is answered with an
//! error frame (`{"type":"error","error":"…"}`) and never reaches other clients; a frame over the
//! size limit closes that one connection (code 1009). One bad client never affects another room.
//!
//! It is bounded so it can be left running (see [`RelayConfig`]): a member that cannot keep up is
//! disconnected (1008) instead of queueing without limit, silent handshakes and idle members are
//! closed, connections are limited, and accept errors (out of file descriptors) back off.

mod access;
mod config;
mod connection;
mod trace;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

pub use access::Refusal;
pub use config::{DEFAULT_MAX_FRAME_BYTES, RelayConfig};
pub use trace::{Trace, TraceEntry};

use crate::clock::epoch_ms;

/// How long the accept loop waits after an accept error (out of file descriptors, mostly) instead
/// of retrying at once and spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One member of a room: where its messages go (each with the moment it is due), and how to tell
/// it that it is too slow.
struct Member {
    outbox: mpsc::Sender<(Instant, Message)>,
    kick: Arc<Notify>,
}

#[derive(Default)]
struct State {
    rooms: Mutex<HashMap<String, HashMap<u64, Member>>>,
    traces: Mutex<trace::Traces>,
    next_connection: AtomicU64,
    /// Connections open now, handshakes included.
    open: AtomicUsize,
    /// Rooms whose messages are held this long before delivery.
    delays: Mutex<HashMap<String, Duration>>,
}

impl State {
    fn join(&self, room: &str, connection: u64, member: Member) {
        let mut rooms = self.rooms.lock().unwrap();
        let members = rooms.entry(room.to_string()).or_default();
        members.insert(connection, member);
    }

    fn leave(&self, room: &str, connection: u64) {
        let mut rooms = self.rooms.lock().unwrap();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(&connection);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// Queues `text` for every other member of `room` without ever waiting: a member whose queue
    /// is full is told to go. Records it when the room is traced.
    fn forward(&self, room: &str, connection: u64, text: Utf8Bytes, config: &RelayConfig) {
        let delay = self.delays.lock().unwrap().get(room).copied();
        let due = Instant::now() + delay.unwrap_or_default();
        // Record and forward under one lock so the trace order is the delivery order.
        let rooms = self.rooms.lock().unwrap();
        let mut delivered_to = 0;
        for (member_id, member) in rooms.get(room).into_iter().flatten() {
            if *member_id == connection {
                continue;
            }
            match member.outbox.try_send((due, Message::Text(text.clone()))) {
                Ok(()) => delivered_to += 1,
                Err(mpsc::error::TrySendError::Full(_)) => member.kick.notify_one(),
                Err(mpsc::error::TrySendError::Closed(_)) => {} // it is leaving
            }
        }
        let mut traces = self.traces.lock().unwrap();
        if !traces.is_traced(room) {
            return;
        }
        // The frame was checked to be a JSON object before it was forwarded.
        let message: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
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
        traces.record(entry, config.max_trace_entries);
    }
}

/// The thread every relay of this process forwards on. A run's relay used to share the runner's
/// worker threads with WebDriver traffic and the reading of observations, and a signaling hop
/// then waited its turn: on a thread of its own, chromium→chromium offer → echo fell from
/// 27.6 / 29.1 to 24.6 / 21.3 ms (`bench`, back-to-back pairs).
fn relay_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("relay")
            .enable_all()
            .build()
            .expect("a one-thread tokio runtime for the relay (only fails without threads)")
    })
}

/// A running relay. Dropping it stops it.
pub struct Relay {
    addr: SocketAddr,
    /// The address room URLs name: `addr`, or the address remote browsers reach it on.
    public: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Binds `listen` (port 0: the OS picks one) and starts serving, on the relay's own thread.
    pub async fn start(listen: SocketAddr, config: RelayConfig) -> std::io::Result<Relay> {
        let runtime = relay_runtime();
        let std_listener = std::net::TcpListener::bind(listen)?;
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _inside = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let config = Arc::new(config);
        let task = runtime.spawn(accept_loop(listener, state.clone(), config, shutdown_rx));
        Ok(Relay {
            addr,
            public: addr,
            state,
            shutdown,
            task,
        })
    }

    /// The address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Names `ip` in room URLs instead of the address it listens on: the address remote
    /// browsers reach it on (`--advertise-address`).
    pub fn advertise(&mut self, ip: std::net::IpAddr) {
        self.public = SocketAddr::new(ip, self.addr.port());
    }

    /// The URL a client uses to join `room`.
    pub fn room_url(&self, room: &str) -> String {
        format!("ws://{}/{}", self.public, room)
    }

    /// Starts recording the messages forwarded in `room` (up to the configured limit). Rooms not
    /// traced are recorded nowhere.
    pub fn trace_room(&self, room: &str) {
        self.state.traces.lock().unwrap().start(room);
    }

    /// The messages recorded in `room` so far, oldest first (none if it is not traced).
    pub fn trace(&self, room: &str) -> Vec<TraceEntry> {
        self.state.traces.lock().unwrap().peek(room)
    }

    /// Stops recording `room` and returns its trace, freeing it.
    pub fn take_trace(&self, room: &str) -> Trace {
        self.state.traces.lock().unwrap().take(room)
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

    /// How many connections are open now, handshakes included.
    pub fn connections(&self) -> usize {
        self.state.open.load(Ordering::Relaxed)
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

/// One open connection counted against the limit, for as long as it lives.
struct Slot(Arc<State>);

impl Slot {
    fn take(state: &Arc<State>, limit: usize) -> Option<Slot> {
        let open = state.open.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(state.clone());
        (open < limit).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open_before = self.0.open.fetch_sub(1, Ordering::Relaxed);
        if open_before == 1 {
            // The last connection is gone: hand what its buffers used back to the OS, so that a
            // relay left running returns to its idle size after a load (glibc keeps freed
            // memory in its per-thread arenas otherwise).
            // SAFETY: malloc_trim only releases free heap memory.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    config: Arc<RelayConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                config.log(format_args!(
                    "cannot accept a connection: {e}; retrying in {ACCEPT_BACKOFF:?}"
                ));
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(slot) = Slot::take(&state, config.max_connections) else {
            config.log(format_args!(
                "refused {peer}: {} connections open already (the limit)",
                config.max_connections
            ));
            continue; // dropping the socket closes it
        };
        let connection = state.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
        let (state, config, shutdown) = (state.clone(), config.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _slot = slot;
            connection::serve(stream, peer, connection, state, config, shutdown).await;
        });
    }
}
