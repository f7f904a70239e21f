//! WebDriver servers (chromedriver) and the browser sessions opened through them with `fantoccini`.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde::Serialize;
use serde_json::json;
use tokio::process::Command;

use crate::process::ChildGroup;
use crate::provision::BrowserInstall;
use crate::scenario::PeerKind;

/// How long a WebDriver server may take to accept connections.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long opening a browser session may take.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// The browser behind a peer, as the report names it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BrowserInfo {
    /// The peer kind (`chromium`).
    pub kind: PeerKind,
    /// The version the WebDriver session reported.
    pub version: String,
    /// `navigator.userAgent`.
    pub user_agent: String,
}

/// A running WebDriver server for one browser kind, shared by every session of a run.
pub struct DriverService {
    kind: PeerKind,
    install: BrowserInstall,
    url: String,
    process: Mutex<ChildGroup>,
    profiles: tempfile::TempDir,
    sessions: AtomicU64,
}

impl DriverService {
    /// Starts chromedriver on a free loopback port and waits until it answers.
    pub async fn start_chromium(install: BrowserInstall) -> Result<DriverService, String> {
        let port = free_port().map_err(|e| format!("no free port for chromedriver: {e}"))?;
        let mut command = Command::new(&install.driver);
        command
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let process = ChildGroup::spawn("chromedriver", command).map_err(|e| e.to_string())?;
        let profiles = tempfile::Builder::new()
            .prefix("rtc-interop-profiles-")
            .tempdir()
            .map_err(|e| format!("cannot create a folder for browser profiles: {e}"))?;
        let service = DriverService {
            kind: PeerKind::Chromium,
            install,
            url: format!("http://127.0.0.1:{port}"),
            process: Mutex::new(process),
            profiles,
            sessions: AtomicU64::new(0),
        };
        service.wait_ready(port).await?;
        Ok(service)
    }

    /// The browser kind this server drives.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// The installed browser and driver.
    pub fn install(&self) -> &BrowserInstall {
        &self.install
    }

    async fn wait_ready(&self, port: u16) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = tokio::time::Instant::now() + DRIVER_READY_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.process.lock().unwrap().exit_status() {
                return Err(format!(
                    "{} exited before it was ready ({status})",
                    self.install.driver.display()
                ));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "{} did not accept connections within {}s",
                    self.install.driver.display(),
                    DRIVER_READY_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a new browser (one session, a fresh profile) with the flags the harness needs.
    pub async fn new_session(&self) -> Result<(Client, BrowserInfo), String> {
        // Two TLS back-ends are linked (webrtc-rs uses ring, hyper-rustls defaults to aws-lc-rs);
        // rustls needs one chosen. WebDriver traffic is plain HTTP on loopback anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = self.profiles.path().join(format!("session-{n}"));
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            // Plain IP host candidates instead of mDNS names, so webrtc-rs can reach them.
            "--disable-features=WebRtcHideLocalIpsWithMdns",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.install.browser,
                "args": args,
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = with_timeout(SESSION_TIMEOUT, "opening a browser session", async {
            ClientBuilder::rustls()
                .map_err(|e| e.to_string())?
                .capabilities(capabilities)
                .connect(&self.url)
                .await
                .map_err(|e| format!("chromedriver refused a session: {e}"))
        })
        .await?;
        let version = client
            .capabilities()
            .and_then(|c| c.get("browserVersion"))
            .and_then(|v| v.as_str())
            .unwrap_or(&self.install.browser_version)
            .to_string();
        // A browser that has just started can be slow to run its first script on a busy machine.
        let user_agent = with_timeout(SESSION_TIMEOUT, "reading the user agent", async {
            client
                .execute("return navigator.userAgent", vec![])
                .await
                .map_err(|e| e.to_string())
        })
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string();
        Ok((
            client,
            BrowserInfo {
                kind: self.kind,
                version,
                user_agent,
            },
        ))
    }
}

impl Drop for DriverService {
    fn drop(&mut self) {
        self.process.lock().unwrap().kill();
    }
}

/// Runs `work`, turning a timeout into an error that says what took too long.
pub async fn with_timeout<T>(
    limit: Duration,
    what: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(format!("{what} took longer than {}s", limit.as_secs_f64())))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
