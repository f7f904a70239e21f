//! STUN and TURN over TCP for the `turn` crate, which only speaks datagrams.
//!
//! The `turn` crate's server and client read and write whole messages through the datagram-shaped
//! [`Conn`] trait. Over TCP (RFC 8656 §3.1, RFC 5766 §2.1) the same messages run back to back on a
//! stream: a STUN message carries its own length, and a ChannelData message carries its length and
//! is padded to a multiple of four bytes. The adapters here cut a stream into those messages and
//! present them as datagrams:
//!
//! - [`TcpListenerConn`]: the server side. Every accepted connection is one "remote address"; a
//!   message sent to that address goes down that connection.
//! - [`TcpStreamConn`]: the client side, one connection to the server.
//!
//! Only the client-to-server leg is TCP; what the server relays to peers stays UDP, which is what
//! browsers ask for with `turn:…?transport=tcp`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use webrtc_util::Conn;

/// How many received messages may wait for the reader before connections stop being read.
const INBOX: usize = 1024;

/// Bytes 4..8 of every STUN message (RFC 5389 §6).
const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

type Datagram = (Vec<u8>, SocketAddr);

/// Reads one STUN or ChannelData message from a stream; `None` at a clean end of stream.
///
/// ChannelData padding is read and dropped, so the message returned is exactly header and data.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let invalid = |what: String| Err(io::Error::new(io::ErrorKind::InvalidData, what));
    let length = u16::from_be_bytes([header[2], header[3]]) as usize;
    let mut message = header.to_vec();
    match header[0] >> 6 {
        // STUN: a 20-byte header (with the magic cookie) whose length counts what follows it.
        0b00 => {
            let mut cookie = [0u8; 4];
            reader.read_exact(&mut cookie).await?;
            if cookie != STUN_MAGIC_COOKIE {
                return invalid(
                    "a message on a TURN TCP connection lacks the STUN magic cookie".into(),
                );
            }
            message.extend_from_slice(&cookie);
            message.resize(20 + length, 0);
            reader.read_exact(&mut message[8..]).await?;
        }
        // ChannelData: a 4-byte header, the data, and padding to a multiple of four.
        0b01 => {
            message.resize(4 + length.div_ceil(4) * 4, 0);
            reader.read_exact(&mut message[4..]).await?;
            message.truncate(4 + length);
        }
        _ => {
            return invalid(format!(
                "neither STUN nor ChannelData on a TURN TCP connection (first byte {:#04x})",
                header[0]
            ));
        }
    }
    Ok(Some(message))
}

/// Copies a received message into a caller's buffer (cutting it short like a datagram would be).
fn deliver(message: &[u8], buf: &mut [u8]) -> usize {
    let n = message.len().min(buf.len());
    buf[..n].copy_from_slice(&message[..n]);
    n
}

fn closed_error() -> webrtc_util::Error {
    webrtc_util::Error::Io(
        io::Error::new(io::ErrorKind::NotConnected, "the TCP transport is closed").into(),
    )
}

/// What the accept loop and the connections share with the [`Conn`] surface.
struct ListenerShared {
    inbox: mpsc::Sender<Datagram>,
    /// Each open connection's outbox, by the client's address.
    writers: Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>,
}

/// A TCP listener seen as one datagram socket: the server side of TURN over TCP.
pub(crate) struct TcpListenerConn {
    local: SocketAddr,
    shared: Arc<ListenerShared>,
    inbox: tokio::sync::Mutex<mpsc::Receiver<Datagram>>,
    accept: Mutex<Option<JoinHandle<()>>>,
    closed: watch::Sender<bool>,
}

impl TcpListenerConn {
    /// Starts accepting connections on `listener`.
    pub(crate) fn new(listener: TcpListener) -> io::Result<TcpListenerConn> {
        let local = listener.local_addr()?;
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOX);
        let shared = Arc::new(ListenerShared {
            inbox: inbox_tx,
            writers: Mutex::new(HashMap::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(TcpListenerConn {
            local,
            shared,
            inbox: tokio::sync::Mutex::new(inbox_rx),
            accept: Mutex::new(Some(accept)),
            closed: watch::channel(false).0,
        })
    }

    /// Stops accepting, drops every connection, and waits until the listening socket is closed.
    ///
    /// Not [`Conn::close`]: the `turn` crate closes its listening socket whenever one allocation
    /// ends (harmless for a UDP socket, whose `close` does nothing), so that one must not stop
    /// the listener.
    pub(crate) async fn shutdown(&self) {
        if let Some(accept) = self.stop() {
            let _ = accept.await;
        }
    }

    fn stop(&self) -> Option<JoinHandle<()>> {
        self.closed.send_replace(true);
        let accept = self.accept.lock().unwrap().take();
        if let Some(task) = &accept {
            // Dropping the accept loop drops its JoinSet, which aborts every connection.
            task.abort();
        }
        self.shared.writers.lock().unwrap().clear();
        accept
    }
}

impl Drop for TcpListenerConn {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<ListenerShared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, remote, shared.clone()));
                }
                Err(_) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, remote: SocketAddr, shared: Arc<ListenerShared>) {
    let (mut reader, mut writer) = stream.into_split();
    let (outbox, mut outbox_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    shared.writers.lock().unwrap().insert(remote, outbox);
    // The end of the stream, or bytes that are no TURN: either way the connection ends.
    let read = async {
        while let Ok(Some(message)) = read_message(&mut reader).await {
            if shared.inbox.send((message, remote)).await.is_err() {
                break;
            }
        }
    };
    let write = async {
        while let Some(message) = outbox_rx.recv().await {
            if writer.write_all(&message).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = read => {}
        _ = write => {}
    }
    shared.writers.lock().unwrap().remove(&remote);
}

#[async_trait]
impl Conn for TcpListenerConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "a TCP listener does not connect".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let mut closed = self.closed.subscribe();
        let mut inbox = self.inbox.lock().await;
        tokio::select! {
            received = inbox.recv() => match received {
                Some((message, from)) => Ok((deliver(&message, buf), from)),
                None => Err(closed_error()),
            },
            _ = closed.wait_for(|closed| *closed) => Err(closed_error()),
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other(
            "a TCP listener needs a destination".into(),
        ))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let writers = self.shared.writers.lock().unwrap();
        let writer = writers.get(&target).ok_or_else(|| {
            webrtc_util::Error::Other(format!("no TURN TCP connection from {target}"))
        })?;
        writer.send(buf.to_vec()).map_err(|_| closed_error())?;
        Ok(buf.len())
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        // Like a UDP socket's: nothing. See `shutdown`.
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// One TCP connection to a TURN server seen as a datagram socket: the client side.
pub(crate) struct TcpStreamConn {
    local: SocketAddr,
    server: SocketAddr,
    writer: tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>,
    inbox: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl TcpStreamConn {
    /// Connects to `server`.
    pub(crate) async fn connect(server: SocketAddr) -> io::Result<TcpStreamConn> {
        let stream = TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let (mut reader, writer) = stream.into_split();
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOX);
        let reader = tokio::spawn(async move {
            while let Ok(Some(message)) = read_message(&mut reader).await {
                if inbox_tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(TcpStreamConn {
            local,
            server,
            writer: tokio::sync::Mutex::new(writer),
            inbox: tokio::sync::Mutex::new(inbox_rx),
            reader,
        })
    }
}

impl Drop for TcpStreamConn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[async_trait]
impl Conn for TcpStreamConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let message = self
            .inbox
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(closed_error)?;
        Ok((deliver(&message, buf), self.server))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.writer
            .lock()
            .await
            .write_all(buf)
            .await
            .map_err(|e| webrtc_util::Error::Io(e.into()))?;
        Ok(buf.len())
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        // Everything goes to the server: the only other end of the connection.
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.server)
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.reader.abort();
        let _ = self.writer.lock().await.shutdown().await;
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stream_is_cut_into_stun_and_padded_channel_data() {
        // A STUN binding request (no attributes), ChannelData of 5 bytes padded to 8, and a
        // ChannelData of 4 bytes with no padding.
        let mut stream = Vec::new();
        let stun = [
            0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        stream.extend_from_slice(&stun);
        stream.extend_from_slice(&[
            0x40, 0x00, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0, 0, 0,
        ]);
        stream.extend_from_slice(&[0x40, 0x01, 0x00, 0x04, 1, 2, 3, 4]);
        let mut reader = &stream[..];
        assert_eq!(read_message(&mut reader).await.unwrap().unwrap(), stun);
        assert_eq!(
            read_message(&mut reader).await.unwrap().unwrap(),
            [0x40, 0x00, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o']
        );
        assert_eq!(
            read_message(&mut reader).await.unwrap().unwrap(),
            [0x40, 0x01, 0x00, 0x04, 1, 2, 3, 4]
        );
        assert!(read_message(&mut reader).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn garbage_is_refused() {
        // The start of a TLS ClientHello (looks like STUN by its first bits, lacks the cookie),
        // and a byte that is neither STUN nor ChannelData.
        let hello = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        for garbage in [&hello[..], &[0xff, 0, 0, 0][..]] {
            let mut reader = garbage;
            let e = read_message(&mut reader).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{garbage:?}");
        }
    }
}
