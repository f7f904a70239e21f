//! The burst measurement of `bench relay`: 5 frames back to back from one client, the other
//! client of the room replying to each, timed from the last send to the 5th reply. Both clients
//! of a pair are plain blocking WebSocket clients on threads of their own, so the figure is the
//! relay's latency and the loopback's: the Node load generator, one event loop for both ends of
//! all pairs, added a tail of its own (p99 3–6 ms through either relay, where these clients see
//! ~1 ms through ours).

use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// Frames per burst, as signaling sends an offer and its first candidates.
const FRAMES: u32 = 5;
/// No read or write waits longer than this: a relay that stops forwarding (or reading) ends the
/// bench with an error.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The relay registers a member just after its handshake; bursts start once both are in.
const SETTLE: Duration = Duration::from_millis(300);
/// Bytes of padding in a burst frame: about the size of an ICE candidate message.
const PAD_BYTES: usize = 200;

/// Bursts through one relay.
#[derive(Debug, Clone, Copy)]
pub struct BurstFigures {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

type Client = WebSocket<TcpStream>;

/// `pairs` rooms at once, each playing `bursts` bursts 10–30 ms apart, through the relay at
/// `base_url` (`ws://host:port`).
pub fn measure(base_url: &str, pairs: usize, bursts: usize) -> Result<BurstFigures, String> {
    let threads: Vec<_> = (0..pairs)
        .map(|pair| {
            let room = format!("{base_url}/bench/burst/{}/{pair}", std::process::id());
            thread::spawn(move || play_pair(&room, pair as u64, bursts))
        })
        .collect();
    let mut latencies = Vec::with_capacity(pairs * bursts);
    for thread in threads {
        let pair = thread
            .join()
            .map_err(|_| "a burst client panicked".to_string())??;
        latencies.extend(pair);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(BurstFigures {
        p50_ms: super::quantile(&latencies, 0.5),
        p99_ms: super::quantile(&latencies, 0.99),
    })
}

/// One room: the replying client on a thread of its own, the timing one on this thread.
fn play_pair(room: &str, seed: u64, bursts: usize) -> Result<Vec<f64>, String> {
    let (replier, replier_socket) = connect(room)?;
    let (mut sender, _) = connect(room)?;
    let replying = thread::spawn(move || reply_to_each(replier));
    thread::sleep(SETTLE);
    let mut jitter = Jitter(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pad = "x".repeat(PAD_BYTES);
    let mut latencies = Vec::with_capacity(bursts);
    let timed = (|| {
        for _ in 0..bursts {
            thread::sleep(Duration::from_millis(10 + jitter.below(20)));
            let mut last_sent = Instant::now();
            for i in 0..FRAMES {
                last_sent = Instant::now();
                let frame = format!(r#"{{"type":"candidate","m":"x","i":{i},"pad":"{pad}"}}"#);
                sender.send(Message::text(frame)).map_err(describe)?;
            }
            while index_of(&sender.read().map_err(describe)?) != Some(FRAMES - 1) {}
            latencies.push(last_sent.elapsed().as_secs_f64() * 1000.0);
        }
        Ok::<_, String>(())
    })();
    // The replier reads until its socket goes: end it whatever happened here.
    let _ = replier_socket.shutdown(Shutdown::Both);
    let _ = replying.join();
    timed.map(|()| latencies)
}

/// Answers every frame with a reply carrying its index, until the socket closes.
fn reply_to_each(mut client: Client) {
    while let Ok(message) = client.read() {
        if let Some(i) = index_of(&message) {
            let reply = format!(r#"{{"type":"reply","m":"y","i":{i}}}"#);
            if client.send(Message::text(reply)).is_err() {
                return;
            }
        }
    }
}

/// Joins `room_url` with Nagle off (as browsers and the relay do); also returns a handle on the
/// socket to end it from another thread.
fn connect(room_url: &str) -> Result<(Client, TcpStream), String> {
    let address = super::address_of(room_url)?;
    let stream = TcpStream::connect(address).map_err(|e| format!("cannot reach {address}: {e}"))?;
    stream.set_nodelay(true).map_err(describe)?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(describe)?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(describe)?;
    let handle = stream.try_clone().map_err(describe)?;
    let (client, _) = tungstenite::client(room_url, stream)
        .map_err(|e| format!("WebSocket handshake with {room_url}: {e}"))?;
    Ok((client, handle))
}

/// The `i` of a burst frame or reply.
fn index_of(message: &Message) -> Option<u32> {
    let text = message.to_text().ok()?;
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value["i"].as_u64().and_then(|i| u32::try_from(i).ok())
}

fn describe(e: impl std::fmt::Display) -> String {
    format!("burst client: {e}")
}

/// Gaps between bursts that differ per pair, so the pairs do not burst in step (xorshift).
struct Jitter(u64);

impl Jitter {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn bursts_through_the_relay_are_timed_to_the_last_reply() {
        let relay = crate::relay::Relay::start(
            "127.0.0.1:0".parse().unwrap(),
            crate::relay::RelayConfig::default(),
        )
        .await
        .unwrap();
        let url = format!("ws://{}", relay.local_addr());
        let figures = tokio::task::spawn_blocking(move || measure(&url, 2, 5))
            .await
            .unwrap()
            .unwrap();
        assert!(
            figures.p50_ms > 0.0 && figures.p50_ms <= figures.p99_ms,
            "{figures:?}"
        );
        assert!(
            figures.p99_ms < IO_TIMEOUT.as_secs_f64() * 1000.0,
            "{figures:?}"
        );
    }

    #[test]
    fn a_relay_that_is_not_there_is_an_error_naming_it() {
        let error = measure("ws://127.0.0.1:9", 1, 1).unwrap_err();
        assert!(error.contains("127.0.0.1:9"), "{error}");
    }
}
