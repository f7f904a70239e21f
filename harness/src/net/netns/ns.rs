//! One network namespace: running processes, threads and sockets inside it from the harness.
//!
//! A socket stays in the namespace it was created in, whatever thread uses it later. So the
//! harness, which lives in the root namespace, creates sockets inside a namespace on a short-lived
//! thread that first joins the namespace (`setns(CLONE_NEWNET)` only changes the calling thread),
//! and then uses them from anywhere. Threads of a shared pool (tokio workers, `spawn_blocking`) are
//! never moved: they would stay in the namespace for whatever task runs on them next.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::ChildGroup;

/// A named network namespace (`/run/netns/<name>`), as `ip netns` knows it.
///
/// This is a handle, not an owner: cloning it is cheap, and dropping it removes nothing. The
/// [`Topology`](super::Topology) that created a namespace removes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// A handle to the namespace called `name` (which may not exist yet).
    pub fn new(name: impl Into<String>) -> NetNs {
        NetNs { name: name.into() }
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file that pins the namespace: `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Moves the *calling thread* into this namespace, for good.
    ///
    /// Only for threads the caller owns and never hands back to a pool: every socket the thread
    /// creates afterwards lives in the namespace. A current-thread tokio runtime built on such a
    /// thread afterwards runs, say, a webrtc-rs peer entirely inside the namespace.
    pub fn enter_current_thread(&self) -> io::Result<()> {
        let path = self.path();
        let file = std::fs::File::open(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open network namespace {}: {e}", path.display()),
            )
        })?;
        // SAFETY: setns on a valid namespace fd; it only changes the calling thread's namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("cannot enter network namespace {}: {e}", self.name),
            ));
        }
        Ok(())
    }

    /// Starts a thread inside this namespace and runs `f` on it.
    ///
    /// The handle yields `f`'s result, or the error from joining the namespace.
    pub fn spawn_thread<R, F>(&self, f: F) -> io::Result<std::thread::JoinHandle<io::Result<R>>>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let ns = self.clone();
        std::thread::Builder::new()
            .name(format!("netns {}", short(&self.name)))
            .spawn(move || {
                ns.enter_current_thread()?;
                Ok(f())
            })
    }

    /// Runs `f` on a fresh thread inside this namespace and waits for its result.
    ///
    /// Blocking: from async code, prefer a socket helper such as [`NetNs::connect_tcp`].
    pub fn run<R, F>(&self, f: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.spawn_thread(f)?
            .join()
            .map_err(|_| io::Error::other(format!("a thread in {} panicked", self.name)))?
    }

    /// `ip netns exec <name> <program>`, ready for arguments and [`ChildGroup::spawn`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(super::ip_program());
        command
            .arg("netns")
            .arg("exec")
            .arg(&self.name)
            .arg(program);
        command
    }

    /// Starts `program args…` inside this namespace as a [`ChildGroup`] called `name`.
    ///
    /// The child (and everything it starts, such as chromedriver's browser) sees only this
    /// namespace's interfaces. Needs a tokio runtime, like every [`ChildGroup`].
    pub fn spawn<I, S>(
        &self,
        name: &str,
        program: impl AsRef<OsStr>,
        args: I,
    ) -> io::Result<ChildGroup>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(program);
        command.args(args);
        ChildGroup::spawn(name, command)
    }

    /// Binds a UDP socket inside this namespace.
    pub fn bind_udp(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        self.run(move || UdpSocket::bind(addr))?
    }

    /// Binds a TCP listener inside this namespace.
    pub fn bind_tcp(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        self.run(move || TcpListener::bind(addr))?
    }

    /// Opens a TCP connection from inside this namespace (blocking), e.g. to `127.0.0.1:<port>`
    /// of a server in it. The connection does not pass any NAT: it starts inside.
    pub fn connect_tcp_blocking(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        self.run(move || TcpStream::connect_timeout(&addr, timeout))?
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("connecting to {addr} in {}: {e}", self.name),
                )
            })
    }

    /// Opens a TCP connection from inside this namespace, without blocking the runtime.
    pub async fn connect_tcp(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<tokio::net::TcpStream> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ns = self.clone();
        std::thread::Builder::new()
            .name(format!("netns {}", short(&self.name)))
            .spawn(move || {
                let result = ns
                    .enter_current_thread()
                    .and_then(|()| TcpStream::connect_timeout(&addr, timeout));
                let _ = tx.send(result);
            })?;
        let stream = rx
            .await
            .map_err(|_| io::Error::other("the dialing thread died"))?
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("connecting to {addr} in {}: {e}", self.name),
                )
            })?;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        tokio::net::TcpStream::from_std(stream)
    }
}

/// The end of a namespace name (`peer1` of `rtci-123-0-peer1`): thread names hold 15 bytes.
fn short(name: &str) -> &str {
    name.rsplit('-').next().unwrap_or(name)
}

/// How long the forwarder waits for a connection inside the namespace.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP port on `127.0.0.1` of the root namespace that leads to a TCP server inside a namespace.
///
/// Every accepted connection is dialed anew from inside the namespace and copied both ways. This is
/// how the harness reaches a chromedriver that listens on `127.0.0.1` inside a peer namespace.
/// Dropping the forwarder stops listening and closes every connection it carries.
#[derive(Debug)]
pub struct TcpForwarder {
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TcpForwarder {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target` inside `ns`.
    pub async fn start(ns: NetNs, target: SocketAddr) -> io::Result<TcpForwarder> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        TcpForwarder::serve(ns, listener, target)
    }

    /// Listens on a free port of `127.0.0.1` and forwards to the *same* port of `127.0.0.1` inside
    /// `ns`, where the caller then starts its server ([`TcpForwarder::local_addr`] says which).
    /// For servers that check the `Host` header against their own address, as geckodriver does.
    pub async fn same_port(ns: NetNs) -> io::Result<TcpForwarder> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let target = listener.local_addr()?;
        TcpForwarder::serve(ns, listener, target)
    }

    /// Forwards every connection `listener` accepts to `target` inside `ns`.
    fn serve(
        ns: NetNs,
        listener: tokio::net::TcpListener,
        target: SocketAddr,
    ) -> io::Result<TcpForwarder> {
        TcpForwarder::forward(listener, move || {
            let ns = ns.clone();
            async move { ns.connect_tcp(target, DIAL_TIMEOUT).await }
        })
    }

    /// Accepts connections on `listener` and copies each, both ways, to a connection `dial` opens.
    fn forward<D, F>(listener: tokio::net::TcpListener, dial: D) -> io::Result<TcpForwarder>
    where
        D: Fn() -> F + Send + 'static,
        F: Future<Output = io::Result<tokio::net::TcpStream>> + Send + 'static,
    {
        let local = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let upstream = dial();
                        connections.spawn(async move {
                            let _ = inbound.set_nodelay(true);
                            match upstream.await {
                                Ok(mut upstream) => {
                                    let _ = upstream.set_nodelay(true);
                                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                                }
                                Err(e) => eprintln!("rtc-interop: forwarder {local}: {e}"),
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(TcpForwarder { local, task })
    }

    /// The root-namespace address to connect to (`127.0.0.1:<port>`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The other way round: listens on `127.0.0.1:<port>` *inside* `ns` and forwards every
    /// connection to `127.0.0.1:<port>` of the root namespace.
    ///
    /// This is how a peer in a namespace reaches the harness's relay and page server at the very
    /// URLs peers on the host use, without those servers listening beyond loopback. The listening
    /// socket is made inside the namespace; accepting and dialing run on the harness's runtime.
    pub async fn into_root(ns: NetNs, port: u16) -> io::Result<TcpForwarder> {
        let inside = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = ns.bind_tcp(inside)?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        TcpForwarder::forward(listener, move || async move {
            tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(inside))
                .await
                .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut)))
        })
    }
}

impl Drop for TcpForwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
