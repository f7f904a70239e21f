//! WebDriver servers (chromedriver, geckodriver) and the browser sessions opened through them with
//! `fantoccini`, with the flags and prefs each browser needs to run WebRTC headless and offline.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::net::netns::{NetNs, TcpForwarder};
use crate::process::ChildGroup;
use crate::provision::BrowserInstall;
use crate::scenario::{HostCandidates, PeerKind};

/// How long a WebDriver server may take to accept connections.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long opening a browser session may take (Firefox needs a few seconds on a busy machine).
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The browser behind a peer, as the report names it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BrowserInfo {
    /// The peer kind (`chromium`).
    pub kind: PeerKind,
    /// The version the WebDriver session reported.
    pub version: String,
    /// `navigator.userAgent`.
    pub user_agent: String,
    /// The driver's version.
    pub driver_version: String,
}

/// A running WebDriver server for one browser kind.
pub struct DriverService {
    install: BrowserInstall,
    url: String,
    process: Mutex<ChildGroup>,
    profiles: tempfile::TempDir,
    sessions: AtomicU64,
    /// The network namespace the driver (and so its browsers) runs in, with the forwarder that
    /// leads to it from the root namespace's loopback.
    namespace: Option<(NetNs, TcpForwarder)>,
}

impl DriverService {
    /// Starts the kind's driver on a free loopback port and waits until it answers.
    pub async fn start(install: BrowserInstall) -> Result<DriverService, String> {
        DriverService::start_in(install, None).await
    }

    /// As [`DriverService::start`], with the driver inside `ns` when given: the browsers it starts
    /// then see only that namespace's network. The harness reaches the driver through a
    /// [`TcpForwarder`].
    pub async fn start_in(
        install: BrowserInstall,
        ns: Option<NetNs>,
    ) -> Result<DriverService, String> {
        // In a namespace the driver listens on the port the forwarder has in the root namespace:
        // geckodriver refuses requests whose Host header names another port.
        let forwarder = match &ns {
            None => None,
            Some(ns) => Some(
                TcpForwarder::same_port(ns.clone())
                    .await
                    .map_err(|e| format!("cannot forward to a driver in {}: {e}", ns.name()))?,
            ),
        };
        let port = match &forwarder {
            None => free_port().map_err(|e| format!("no free port for the driver: {e}"))?,
            Some(forwarder) => forwarder.local_addr().port(),
        };
        let mut command = match &ns {
            None => Command::new(&install.driver),
            Some(ns) => ns.command(&install.driver),
        };
        match install.kind {
            PeerKind::Firefox => command.args(["--host", "127.0.0.1", "--port", &port.to_string()]),
            _ => command.arg(format!("--port={port}")),
        };
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let name = install
            .driver
            .file_name()
            .map_or("driver".into(), |n| n.to_string_lossy().into_owned());
        let process = ChildGroup::spawn(&name, command).map_err(|e| e.to_string())?;
        let profiles = tempfile::Builder::new()
            .prefix("profiles-")
            .tempdir_in(crate::leftovers::run_folder()?)
            .map_err(|e| format!("cannot create a folder for browser profiles: {e}"))?;
        let driver_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let service = DriverService {
            install,
            url: format!("http://{driver_addr}"),
            process: Mutex::new(process),
            profiles,
            sessions: AtomicU64::new(0),
            namespace: ns.zip(forwarder),
        };
        service.wait_ready(driver_addr).await?;
        Ok(service)
    }

    /// The browser kind this server drives.
    pub fn kind(&self) -> PeerKind {
        self.install.kind
    }

    /// Whether the driver process is still running.
    pub fn is_running(&self) -> bool {
        self.process.lock().unwrap().exit_status().is_none()
    }

    /// Waits until the driver accepts connections at `addr` (inside its namespace, if any: the
    /// forwarder would accept on the driver's behalf).
    async fn wait_ready(&self, addr: SocketAddr) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + DRIVER_READY_TIMEOUT;
        loop {
            let accepted = match &self.namespace {
                None => tokio::net::TcpStream::connect(addr).await.is_ok(),
                Some((ns, _)) => ns.connect_tcp(addr, Duration::from_secs(1)).await.is_ok(),
            };
            if accepted {
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

    /// Starts a browser (one session, a fresh profile) with the flags the harness needs.
    pub async fn new_session(
        &self,
        hosts: HostCandidates,
    ) -> Result<(Client, BrowserInfo), String> {
        // Two TLS back-ends are linked (webrtc-rs uses ring, hyper-rustls defaults to aws-lc-rs);
        // rustls needs one chosen. WebDriver traffic is plain HTTP on loopback anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = self.profiles.path().join(format!("session-{n}"));
        std::fs::create_dir_all(&profile)
            .map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
        let capabilities = match self.install.kind {
            PeerKind::Firefox => firefox_capabilities(&self.install, &profile, hosts),
            _ => chromium_capabilities(&self.install, &profile, hosts),
        };
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are a JSON object literal")
        };
        let driver = self.kind();
        let client = with_timeout(SESSION_TIMEOUT, "opening a browser session", async {
            ClientBuilder::rustls()
                .map_err(|e| e.to_string())?
                .capabilities(capabilities)
                .connect(&self.url)
                .await
                .map_err(|e| format!("the {driver} driver refused a session: {e}"))
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
                kind: self.kind(),
                version,
                user_agent,
                driver_version: self.install.driver_version.clone(),
            },
        ))
    }
}

impl Drop for DriverService {
    fn drop(&mut self) {
        self.process.lock().unwrap().kill();
    }
}

fn chromium_capabilities(
    install: &BrowserInstall,
    profile: &std::path::Path,
    hosts: HostCandidates,
) -> Value {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        // Offline machine: no update checks, sync or component downloads.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-device-for-media-stream",
        // Received audio plays in an <audio> element without a user gesture.
        "--autoplay-policy=no-user-gesture-required",
        // Every case runs in a window of one shared browser: none may be throttled as hidden.
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    match hosts {
        HostCandidates::Ip => {
            // Plain IP host candidates instead of mDNS names.
            args.push("--disable-features=WebRtcHideLocalIpsWithMdns".into());
            // Camera and microphone granted without asking.
            args.push("--use-fake-ui-for-media-stream".into());
        }
        // As for a user who has not granted camera or microphone: a granted media permission
        // lets a page enumerate local addresses, and Chromium then skips mDNS names altogether.
        HostCandidates::Mdns => {}
    }
    args.push(format!("--user-data-dir={}", profile.display()));
    json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": install.browser, "args": args },
    })
}

fn firefox_capabilities(
    install: &BrowserInstall,
    profile: &std::path::Path,
    hosts: HostCandidates,
) -> Value {
    json!({
        "browserName": "firefox",
        "moz:firefoxOptions": {
            "binary": install.browser,
            "args": ["-headless", "-profile", profile],
            "prefs": {
                "media.navigator.streams.fake": true,
                "media.navigator.permission.disabled": true,
                // Received audio plays in an <audio> element without a user gesture (0: allowed).
                "media.autoplay.default": 0,
                "media.autoplay.blocking_policy": 0,
                "media.peerconnection.ice.obfuscate_host_addresses": hosts == HostCandidates::Mdns,
                // Offline machine: nothing may phone home or download plugins.
                "app.update.enabled": false,
                "app.update.auto": false,
                "browser.shell.checkDefaultBrowser": false,
                "browser.safebrowsing.malware.enabled": false,
                "browser.safebrowsing.phishing.enabled": false,
                "datareporting.policy.dataSubmissionEnabled": false,
                "toolkit.telemetry.enabled": false,
                "network.captive-portal-service.enabled": false,
                "network.connectivity-service.enabled": false,
                "extensions.update.enabled": false,
                "media.gmp-manager.updateEnabled": false,
                "network.dns.disablePrefetch": true,
                // Cases share one browser in separate windows: keep timers of every window exact.
                "dom.min_background_timeout_value": 4,
                "dom.timeout.enable_budget_timer_throttling": false,
            },
        },
    })
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
