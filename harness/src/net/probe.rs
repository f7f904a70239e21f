//! A small STUN/TURN client: is a server up, does it take these credentials, does it relay.
//!
//! Used to wait for a server to be ready, and by the tests. It is webrtc-rs's `turn` crate client
//! over UDP, or over one TCP connection through `net::tcp`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

use super::TurnTransport;
use super::tcp::TcpStreamConn;

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No answer within the time given.
    #[error("no answer from {server} over {transport} within {waited:?}")]
    Timeout {
        /// The server asked.
        server: SocketAddr,
        /// The transport used.
        transport: TurnTransport,
        /// How long the probe waited.
        waited: Duration,
    },
    /// The server answered with an error response.
    #[error("{server} refused the request with error {code}: {message}")]
    Refused {
        /// The server asked.
        server: SocketAddr,
        /// The STUN error code (401, 400, 437, …).
        code: u16,
        /// The whole error as the client reported it.
        message: String,
    },
    /// Anything else (a socket error, a malformed answer).
    #[error("probing {server} failed: {message}")]
    Failed {
        /// The server asked.
        server: SocketAddr,
        /// What went wrong.
        message: String,
    },
}

/// How long the client waits before it retransmits a request over UDP.
const RTO: Duration = Duration::from_millis(100);

async fn connect(
    server: SocketAddr,
    transport: TurnTransport,
) -> Result<Arc<dyn Conn + Send + Sync>, ProbeError> {
    let failed = |e: std::io::Error| ProbeError::Failed {
        server,
        message: e.to_string(),
    };
    Ok(match transport {
        TurnTransport::Udp => {
            let local = SocketAddr::new(
                if server.is_ipv4() {
                    std::net::Ipv4Addr::UNSPECIFIED.into()
                } else {
                    std::net::Ipv6Addr::UNSPECIFIED.into()
                },
                0,
            );
            Arc::new(UdpSocket::bind(local).await.map_err(failed)?)
        }
        TurnTransport::Tcp => Arc::new(TcpStreamConn::connect(server).await.map_err(failed)?),
    })
}

async fn client(
    server: SocketAddr,
    transport: TurnTransport,
    username: &str,
    password: &str,
) -> Result<Client, ProbeError> {
    let conn = connect(server, transport).await?;
    let client = Client::new(ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        username: username.into(),
        password: password.into(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: RTO.as_millis() as u16,
        conn,
        vnet: None,
    })
    .await
    .map_err(|e| classify(server, e))?;
    client.listen().await.map_err(|e| classify(server, e))?;
    Ok(client)
}

/// Turns the client's error into a [`ProbeError`], finding the STUN error code in its text
/// (the crate reports `… (error 401: Unauthorized)` as a string).
fn classify(server: SocketAddr, e: turn::Error) -> ProbeError {
    let message = e.to_string();
    let code = message
        .split("error ")
        .skip(1)
        .find_map(|rest| rest.get(..3)?.parse::<u16>().ok());
    match code {
        Some(code) => ProbeError::Refused {
            server,
            code,
            message,
        },
        None => ProbeError::Failed { server, message },
    }
}

/// Sends a STUN binding request and returns the address the server saw it come from.
pub async fn stun_binding(
    server: SocketAddr,
    transport: TurnTransport,
    timeout: Duration,
) -> Result<SocketAddr, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || ProbeError::Timeout {
        server,
        transport,
        waited: timeout,
    };
    let client = tokio::time::timeout_at(deadline, client(server, transport, "", ""))
        .await
        .map_err(|_| timed_out())??;
    let result = tokio::time::timeout_at(
        deadline,
        client.send_binding_request_to(&server.to_string()),
    )
    .await;
    let _ = client.close().await;
    result
        .map_err(|_| timed_out())?
        .map_err(|e| classify(server, e))
}

/// A TURN allocation made by [`allocate`]: a relayed address and a way to use it.
pub struct Allocation {
    client: Client,
    relay: Box<dyn Conn + Send + Sync>,
    relayed: SocketAddr,
    server: SocketAddr,
}

impl Allocation {
    /// The relayed transport address the server allocated.
    pub fn relayed_addr(&self) -> SocketAddr {
        self.relayed
    }

    /// Sends `data` to `peer` through the relay (creating the permission first).
    pub async fn send_to(&self, data: &[u8], peer: SocketAddr) -> Result<(), ProbeError> {
        self.relay
            .send_to(data, peer)
            .await
            .map(|_| ())
            .map_err(|e| ProbeError::Failed {
                server: self.server,
                message: format!("relaying to {peer}: {e}"),
            })
    }

    /// Waits for data relayed from a peer: the data and the peer's address.
    pub async fn recv_from(&self, timeout: Duration) -> Result<(Vec<u8>, SocketAddr), ProbeError> {
        let mut buf = vec![0u8; 2048];
        let received = tokio::time::timeout(timeout, self.relay.recv_from(&mut buf))
            .await
            .map_err(|_| ProbeError::Failed {
                server: self.server,
                message: format!("nothing was relayed to {} within {timeout:?}", self.relayed),
            })?
            .map_err(|e| ProbeError::Failed {
                server: self.server,
                message: e.to_string(),
            })?;
        buf.truncate(received.0);
        Ok((buf, received.1))
    }

    /// Releases the allocation and closes the client.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.relay.close()).await;
        let _ = self.client.close().await;
    }
}

/// Allocates a UDP relay with long-term credentials.
pub async fn allocate(
    server: SocketAddr,
    transport: TurnTransport,
    username: &str,
    password: &str,
    timeout: Duration,
) -> Result<Allocation, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = || ProbeError::Timeout {
        server,
        transport,
        waited: timeout,
    };
    let client = tokio::time::timeout_at(deadline, client(server, transport, username, password))
        .await
        .map_err(|_| timed_out())??;
    let relay = match tokio::time::timeout_at(deadline, client.allocate()).await {
        Ok(Ok(relay)) => relay,
        failed => {
            let _ = client.close().await;
            return Err(match failed {
                Ok(Err(e)) => classify(server, e),
                _ => timed_out(),
            });
        }
    };
    let relayed = relay.local_addr().map_err(|e| ProbeError::Failed {
        server,
        message: e.to_string(),
    })?;
    Ok(Allocation {
        client,
        relay: Box::new(relay),
        relayed,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_found_in_the_clients_words() {
        let server: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        let e = classify(
            server,
            turn::Error::Other("Allocate error response (error 401: Unauthorized)".into()),
        );
        assert!(matches!(e, ProbeError::Refused { code: 401, .. }), "{e:?}");
        let e = classify(server, turn::Error::Other("transaction timed out".into()));
        assert!(matches!(e, ProbeError::Failed { .. }), "{e:?}");
    }
}
