//! A peer that runs inside a network namespace: every socket it opens (signaling, ICE, mDNS) is the
//! namespace's, so it sees only the namespace's interfaces and sits behind the namespace's NAT.
//!
//! `setns` moves only the calling thread, and tokio's shared workers must never be moved (they
//! would carry the namespace into whatever task runs on them next). So the peer lives on a thread
//! of its own that joins the namespace first and then runs a current-thread runtime; the trait's
//! calls travel to it over a channel, and their answers come back on oneshots.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Peer, PeerError, PeerPlan};
use crate::net::netns::NetNs;
use crate::observe::Observations;
use crate::scenario::PeerKind;

/// How long closing the peer and ending its thread may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the harness asks of the peer on the namespace's thread.
enum Call {
    Start(Box<PeerPlan>, oneshot::Sender<Result<(), PeerError>>),
    Observations(oneshot::Sender<Result<Observations, PeerError>>),
    Close(oneshot::Sender<()>),
}

/// Makes the peer, on the namespace's thread.
type MakePeer = Box<dyn FnOnce() -> Box<dyn Peer> + Send>;

/// A [`Peer`] made and driven on a thread inside a network namespace.
pub struct NamespacedPeer {
    kind: PeerKind,
    name: String,
    ns: NetNs,
    /// Taken when the peer starts (behind a mutex only so that the peer is `Sync`).
    make: std::sync::Mutex<Option<MakePeer>>,
    calls: Option<mpsc::UnboundedSender<Call>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NamespacedPeer {
    /// A peer of `kind` that `make` will make on a thread inside `ns` when it starts (so that
    /// anything the peer creates on construction is inside too).
    pub fn new<F>(ns: NetNs, kind: PeerKind, make: F) -> NamespacedPeer
    where
        F: FnOnce() -> Box<dyn Peer> + Send + 'static,
    {
        NamespacedPeer {
            kind,
            name: kind.to_string(),
            ns,
            make: std::sync::Mutex::new(Some(Box::new(make))),
            calls: None,
            thread: None,
        }
    }

    /// Starts the namespace's thread, its runtime and the peer.
    async fn launch(&mut self) -> Result<(), PeerError> {
        let Some(make) = self.make.lock().unwrap().take() else {
            return Ok(());
        };
        let (calls, mut inbox) = mpsc::unbounded_channel::<Call>();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let namespace = self.ns.clone();
        let thread = std::thread::Builder::new()
            .name(format!(
                "peer in {}",
                self.ns.name().rsplit('-').next().unwrap_or("ns")
            ))
            .spawn(move || {
                let runtime = namespace
                    .enter_current_thread()
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| format!("cannot start a runtime: {e}"))
                    });
                let runtime = match runtime {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut peer = make();
                    while let Some(call) = inbox.recv().await {
                        match call {
                            Call::Start(plan, reply) => {
                                let _ = reply.send(peer.start(&plan).await);
                            }
                            Call::Observations(reply) => {
                                let _ = reply.send(peer.observations().await);
                            }
                            Call::Close(reply) => {
                                peer.close().await;
                                let _ = reply.send(());
                                return;
                            }
                        }
                    }
                    // The harness let go without closing: close anyway.
                    peer.close().await;
                });
            })
            .map_err(|e| self.error(format!("cannot start a thread: {e}")))?;
        self.thread = Some(thread);
        match ready_rx.await {
            Ok(Ok(())) => {
                self.calls = Some(calls);
                Ok(())
            }
            Ok(Err(reason)) => Err(self.error(reason)),
            Err(_) => Err(self.error("its thread died while starting")),
        }
    }

    fn error(&self, reason: impl Into<String>) -> PeerError {
        PeerError::new(&self.name, reason)
    }

    async fn ask<T>(&self, call: impl FnOnce(oneshot::Sender<T>) -> Call) -> Result<T, PeerError> {
        let gone = || self.error("its thread in the network namespace is gone");
        let (reply, answer) = oneshot::channel();
        self.calls
            .as_ref()
            .ok_or_else(gone)?
            .send(call(reply))
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

#[async_trait::async_trait]
impl Peer for NamespacedPeer {
    fn kind(&self) -> PeerKind {
        self.kind
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.name = format!("{} {} in {}", self.kind, plan.role.as_str(), self.ns.name());
        self.launch().await?;
        let plan = Box::new(plan.clone());
        self.ask(|reply| Call::Start(plan, reply)).await?
    }

    async fn observations(&mut self) -> Result<Observations, PeerError> {
        self.ask(Call::Observations).await?
    }

    async fn close(&mut self) {
        if self.calls.is_some() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.ask(Call::Close)).await;
            self.calls = None;
        }
        if let Some(thread) = self.thread.take() {
            // The thread ends right after answering `Close`; joining off the runtime keeps a
            // slow exit from blocking it.
            let join = tokio::task::spawn_blocking(move || thread.join());
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, join).await;
        }
    }
}

impl Drop for NamespacedPeer {
    fn drop(&mut self) {
        // Closing the channel makes the thread close the peer and end; it is not joined here.
        self.calls = None;
    }
}
