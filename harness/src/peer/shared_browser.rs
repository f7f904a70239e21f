//! One browser per kind (and host-candidate mode) per run, shared by every case that needs it.
//!
//! Starting a browser costs most of a case's time (Firefox takes seconds), so a run starts each
//! browser once and gives every case a window of it with a fresh document: a new
//! RTCPeerConnection, nothing left over from the case before. WebDriver commands act on the
//! session's *current* window, so commands are serialized and each one first switches to the
//! window of the case that issued it.
//!
//! **Windows are reused.** Opening and closing a window cost Firefox ~0.45 CPU-seconds and
//! Chromium ~0.39 here, against ~0.18 and ~0.16 for loading the page in a window that is already
//! open and leaving it again (`fixtures/browser/idle.html`, same origin, so no process swap). A
//! case's window therefore goes back to an idle list on the idle page when the case is done, and
//! the next case loads its page there. Leaving the page unloads its document (the browsers' back-
//! forward caches are off, see `webdriver.rs`), so nothing of a case outlives it but the window.
//!
//! A browser that crashes, or a driver that dies, fails only the case that was using it: the next
//! case finds the session gone and starts a fresh browser (and driver).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Client;
use fantoccini::error::CmdError;
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use tokio::sync::Mutex;

use super::webdriver::{BrowserInfo, DriverEndpoint, DriverService, SESSION_TIMEOUT, with_timeout};
use crate::net::netns::NetNs;
use crate::page_server::idle_url_for;
use crate::provision::BrowserInstall;
use crate::scenario::{HostCandidates, PeerKind};

/// How long one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the health check of a session that failed a command may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A browser shared by the cases of a run.
pub struct SharedBrowser {
    endpoint: DriverEndpoint,
    hosts: HostCandidates,
    /// The peer page's origin when it is not loopback (`--advertise-address`).
    page_origin: Option<String>,
    /// The network namespace the driver and browser run in (`None`: the machine's own network).
    namespace: Option<NetNs>,
    /// `run --browser-logs`: the file the driver and browser log into.
    log_file: Option<PathBuf>,
    state: Mutex<State>,
    startup: Startup,
}

/// How long a browser took to become usable, measured when it was first started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Startup {
    /// Starting the WebDriver server until it accepted connections.
    pub driver_ms: f64,
    /// Opening the session: the browser process starting up, until it ran its first script.
    pub session_ms: f64,
}

#[derive(Default)]
struct State {
    driver: Option<DriverService>,
    session: Option<Session>,
    /// Counts sessions, so a window of a crashed browser is never mistaken for a live one.
    generation: u64,
    /// A command failed since the last health check.
    suspect: bool,
    /// Windows of this session that no case uses, on the idle page, ready for the next case.
    idle: Vec<WindowHandle>,
}

struct Session {
    client: Client,
    info: BrowserInfo,
    /// The window the browser started with. No case uses it; it keeps the session alive (closing
    /// the last window ends a session) and is where commands go between cases.
    home: WindowHandle,
    /// The window commands act on now.
    current: WindowHandle,
}

impl Session {
    /// Makes `window` the one commands act on (a no-op when it already is).
    async fn switch_to(&mut self, window: &WindowHandle) -> Result<(), String> {
        if self.current != *window {
            self.client
                .switch_to_window(window.clone())
                .await
                .map_err(describe)?;
            self.current = window.clone();
        }
        Ok(())
    }
}

/// One case's window in a shared browser.
#[derive(Debug, Clone)]
pub struct Window {
    handle: WindowHandle,
    generation: u64,
    /// Where the window waits once the case is done (`None`: the page has no http origin, so the
    /// window is closed instead).
    idle_url: Option<String>,
}

impl SharedBrowser {
    /// Starts the driver and the browser, so that the first case does not pay for it.
    /// `page_origin`: the peer page's origin when it is not served on loopback.
    pub async fn start(
        endpoint: DriverEndpoint,
        hosts: HostCandidates,
        page_origin: Option<String>,
    ) -> Result<Self, String> {
        SharedBrowser::launch(endpoint, hosts, page_origin, None, None).await
    }

    /// A browser of one case's peer: inside `namespace` when given (a peer behind a NAT), logging
    /// into `log_file` when given (`run --browser-logs`).
    pub async fn start_in(
        install: BrowserInstall,
        hosts: HostCandidates,
        namespace: Option<NetNs>,
        log_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        SharedBrowser::launch(
            DriverEndpoint::Local(install),
            hosts,
            None,
            namespace,
            log_file,
        )
        .await
    }

    /// A browser inside `namespace` that starts when its first window opens (so that the time a
    /// case spends starting it counts as starting its peer), kept for the cases after.
    pub fn unstarted_in(install: BrowserInstall, hosts: HostCandidates, namespace: NetNs) -> Self {
        SharedBrowser {
            endpoint: DriverEndpoint::Local(install),
            hosts,
            page_origin: None,
            namespace: Some(namespace),
            log_file: None,
            state: Mutex::new(State::default()),
            startup: Startup::default(),
        }
    }

    async fn launch(
        endpoint: DriverEndpoint,
        hosts: HostCandidates,
        page_origin: Option<String>,
        namespace: Option<NetNs>,
        log_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let mut browser = SharedBrowser {
            endpoint,
            hosts,
            page_origin,
            namespace,
            log_file,
            state: Mutex::new(State::default()),
            startup: Startup::default(),
        };
        let mut state = State::default();
        browser.startup = browser.ensure_session(&mut state).await?;
        browser.state = Mutex::new(state);
        Ok(browser)
    }

    /// How long the first start took.
    pub fn startup(&self) -> Startup {
        self.startup
    }

    /// The browser kind.
    pub fn kind(&self) -> PeerKind {
        self.endpoint.kind()
    }

    /// The browser's version and user agent (from its current session).
    pub async fn info(&self) -> Option<BrowserInfo> {
        let state = self.state.lock().await;
        state.session.as_ref().map(|s| s.info.clone())
    }

    /// How many windows the browser has open now, the idle ones and the first one included (as
    /// the browser counts them; `None` when it has no session or does not answer).
    pub async fn open_windows(&self) -> Option<usize> {
        let state = self.state.lock().await;
        let session = state.session.as_ref()?;
        let windows = tokio::time::timeout(PROBE_TIMEOUT, session.client.windows()).await;
        Some(windows.ok()?.ok()?.len())
    }

    /// Opens a window on `url` for one case (an idle one when there is one); restarts the browser
    /// first if it died.
    pub async fn open_window(&self, url: &str) -> Result<(Window, BrowserInfo), String> {
        let mut state = self.state.lock().await;
        if state.suspect {
            self.probe(&mut state).await;
        }
        self.ensure_session(&mut state).await?;
        let generation = state.generation;
        let reused = state.idle.pop();
        let session = state.session.as_mut().expect("ensured above");
        let opened = with_timeout(COMMAND_TIMEOUT, "opening a window", async {
            let handle = match reused {
                Some(handle) => handle,
                None => {
                    session
                        .client
                        .new_window(false)
                        .await
                        .map_err(describe)?
                        .handle
                }
            };
            session.switch_to(&handle).await?;
            session
                .client
                .goto(url)
                .await
                .map_err(|e| format!("cannot load {url}: {}", describe(e)))?;
            Ok(handle)
        })
        .await;
        match opened {
            Ok(handle) => Ok((
                Window {
                    handle,
                    generation,
                    idle_url: idle_url_for(url),
                },
                state.session.as_ref().expect("still open").info.clone(),
            )),
            Err(e) => {
                state.suspect = true;
                Err(e)
            }
        }
    }

    /// Runs `script` in `window` (WebDriver's Execute Script: `return …` gives the value).
    pub async fn execute(
        &self,
        window: &Window,
        script: &str,
        args: Vec<Value>,
    ) -> Result<Value, String> {
        let mut state = self.state.lock().await;
        let session = self.window_session(&mut state, window)?;
        let result = with_timeout(COMMAND_TIMEOUT, "a WebDriver command", async {
            session.switch_to(&window.handle).await?;
            session.client.execute(script, args).await.map_err(describe)
        })
        .await;
        if result.is_err() {
            state.suspect = true;
        }
        result.map_err(|e| self.with_driver_status(&state, e))
    }

    /// Ends a case's use of its window: the window leaves the case's page for the idle page and
    /// waits for the next case (or is closed when it cannot). The session stays open.
    pub async fn close_window(&self, window: &Window) {
        let mut state = self.state.lock().await;
        let Ok(session) = self.window_session(&mut state, window) else {
            return;
        };
        if let Some(idle_url) = &window.idle_url {
            let parked = with_timeout(COMMAND_TIMEOUT, "leaving a case's page", async {
                session.switch_to(&window.handle).await?;
                session.client.goto(idle_url).await.map_err(describe)
            })
            .await;
            if parked.is_ok() {
                state.idle.push(window.handle.clone());
                return;
            }
        }
        let Ok(session) = self.window_session(&mut state, window) else {
            return;
        };
        let closed = with_timeout(COMMAND_TIMEOUT, "closing a window", async {
            session.switch_to(&window.handle).await?;
            session.client.close_window().await.map_err(describe)?;
            // New Window needs an open current window: go home.
            let home = session.home.clone();
            session.switch_to(&home).await
        })
        .await;
        if closed.is_err() {
            state.suspect = true;
        }
    }

    /// Ends the session (the browser quits) and stops the driver.
    pub async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        if let Some(session) = state.session.take() {
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, session.client.close()).await;
        }
        state.driver = None; // dropping it kills the driver's process group
    }

    fn window_session<'s>(
        &self,
        state: &'s mut State,
        window: &Window,
    ) -> Result<&'s mut Session, String> {
        if window.generation != state.generation {
            return Err(format!(
                "the {} browser this case used was restarted after a crash",
                self.kind()
            ));
        }
        state
            .session
            .as_mut()
            .ok_or_else(|| format!("the {} browser is gone", self.kind()))
    }

    /// Drops a session that no longer answers, so that the next case starts a fresh browser.
    async fn probe(&self, state: &mut State) {
        state.suspect = false;
        let alive = match &state.session {
            Some(session) => tokio::time::timeout(PROBE_TIMEOUT, session.client.windows())
                .await
                .is_ok_and(|r| r.is_ok()),
            None => false,
        };
        if !alive {
            state.session = None;
        }
    }

    /// Starts the driver (if it is not running) and a session (if there is none), timing both.
    async fn ensure_session(&self, state: &mut State) -> Result<Startup, String> {
        let mut startup = Startup::default();
        if state.session.is_some() {
            return Ok(startup);
        }
        if !state.driver.as_ref().is_some_and(DriverService::is_running) {
            state.driver = None;
            let started = std::time::Instant::now();
            state.driver = Some(
                DriverService::for_endpoint(
                    &self.endpoint,
                    self.namespace.clone(),
                    self.log_file.clone(),
                )
                .await?,
            );
            startup.driver_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
        let started = std::time::Instant::now();
        let driver = state.driver.as_ref().expect("started above");
        let (client, info) = with_timeout(
            SESSION_TIMEOUT,
            "starting the browser",
            driver.new_session(self.hosts, self.page_origin.as_deref()),
        )
        .await?;
        let home = with_timeout(COMMAND_TIMEOUT, "reading the first window", async {
            client.window().await.map_err(describe)
        })
        .await?;
        state.generation += 1;
        state.idle.clear();
        state.session = Some(Session {
            client,
            info,
            current: home.clone(),
            home,
        });
        startup.session_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(startup)
    }

    fn with_driver_status(&self, state: &State, error: String) -> String {
        match &state.driver {
            Some(driver) if !driver.is_running() => {
                format!("{error} (the {} driver has exited)", self.kind())
            }
            _ => error,
        }
    }
}

/// A WebDriver error in words, the browser's own message first.
fn describe(error: CmdError) -> String {
    match error {
        CmdError::Standard(e) => format!("{}: {}", e.error(), e.message),
        CmdError::Lost(e) => format!("the connection to the driver was lost: {e}"),
        other => other.to_string(),
    }
}
