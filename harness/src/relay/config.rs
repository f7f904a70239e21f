//! How the relay behaves: its limits, timeouts and who may connect.

use std::time::Duration;

/// Largest frame the relay accepts by default; SDP with many candidates stays far below it.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 256 * 1024;

/// How the relay behaves.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Frames larger than this close the sender's connection (code 1009).
    pub max_frame_bytes: usize,
    /// Log connections, refusals and closes to stderr (the standalone `relay` command). Forwarded
    /// frames are not logged: a line per frame costs more than forwarding it.
    pub log_to_stderr: bool,
    /// Messages waiting for one member before it counts as too slow and is disconnected (code
    /// 1008), so a member that does not read never holds memory or stalls its sender. Messages
    /// held by a room's delay wait here too.
    pub send_queue: usize,
    /// A connection that has not finished its WebSocket handshake by then is closed.
    pub handshake_timeout: Duration,
    /// The relay pings every member this often, so a live but quiet client keeps answering.
    pub ping_interval: Duration,
    /// A member from which nothing (no frame, no pong) arrived for this long is closed (code 1001).
    pub idle_timeout: Duration,
    /// Open connections at most, handshakes included; beyond it new sockets are closed at once.
    pub max_connections: usize,
    /// Most trace entries kept per traced room; later messages are only counted.
    pub max_trace_entries: usize,
    /// When set, clients must connect with `?token=<token>` (else HTTP 401 at the upgrade).
    pub token: Option<String>,
    /// Web origins allowed besides loopback ones and the relay's own address (`*`: any). An
    /// upgrade with any other `Origin` header is refused (HTTP 403); native clients send none.
    pub allowed_origins: Vec<String>,
}

impl RelayConfig {
    /// Writes one log line when logging is on. A closed stderr must not take the relay down, so
    /// write errors are ignored (`eprintln!` would panic).
    pub(crate) fn log(&self, line: std::fmt::Arguments<'_>) {
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
            // A case's burst is tens of messages; this leaves room for a room's delay too.
            send_queue: 256,
            handshake_timeout: Duration::from_secs(10),
            // Peers may sit silent for tens of seconds in a case: pings keep them known alive.
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            // A case has tens to a few hundred messages.
            max_trace_entries: 10_000,
            token: None,
            allowed_origins: Vec::new(),
        }
    }
}
