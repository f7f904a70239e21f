//! The browser peer: the peer page from `fixtures/browser/` in a window of a shared headless
//! browser (or, for a peer behind a NAT, of a browser of its own inside the peer's network
//! namespace), driven over WebDriver. The page runs the same protocol with the browser's own
//! RTCPeerConnection and keeps its observations in `window.rtcInterop`, which the harness reads with
//! Execute Script — seldom, and at once when the page posts news that it finished
//! ([`crate::page_server::NewsBoard`]).

use std::path::PathBuf;
use std::sync::Arc;

use super::shared_browser::{SharedBrowser, Window};
use super::webdriver::BrowserInfo;
use super::{Peer, PeerError, PeerPlan};
use crate::net::netns::NetNs;
use crate::observe::Observations;
use crate::page_server::{PeerPage, Subscription};
use crate::provision::BrowserInstall;
use crate::scenario::{HostCandidates, PeerKind};

/// A peer played by a browser page.
pub struct BrowserPeer {
    kind: PeerKind,
    source: Source,
    /// The browser in use, once the peer has started.
    browser: Option<Arc<SharedBrowser>>,
    page: PeerPage,
    /// The page's news key while it plays.
    news: Option<Subscription>,
    window: Option<Window>,
    info: Option<BrowserInfo>,
    name: String,
}

/// Where the peer's browser comes from.
enum Source {
    /// The run's browser of this kind, shared with other cases.
    Shared(Arc<SharedBrowser>),
    /// A browser of this case alone, started in `start` and quit in `close`: inside the peer's
    /// namespace when it has one, logging into a file with `run --browser-logs`.
    Dedicated {
        install: BrowserInstall,
        hosts: HostCandidates,
        namespace: Option<NetNs>,
        log_file: Option<PathBuf>,
    },
}

impl BrowserPeer {
    /// A peer that will open `page` in a window of `browser`.
    pub fn new(browser: Arc<SharedBrowser>, page: PeerPage) -> Self {
        let kind = browser.kind();
        Self::from_source(kind, Source::Shared(browser), page)
    }

    /// A peer with a browser of its own, started when the peer starts and quit when it closes:
    /// inside `namespace` for a peer behind a NAT (its browser must see only the namespace's
    /// network), and logging into `log_file` with `run --browser-logs` (the log is then this
    /// case's alone).
    pub fn own_browser(
        install: BrowserInstall,
        hosts: HostCandidates,
        namespace: Option<NetNs>,
        log_file: Option<PathBuf>,
        page: PeerPage,
    ) -> Self {
        let kind = install.kind;
        let source = Source::Dedicated {
            install,
            hosts,
            namespace,
            log_file,
        };
        Self::from_source(kind, source, page)
    }

    fn from_source(kind: PeerKind, source: Source, page: PeerPage) -> Self {
        Self {
            kind,
            source,
            browser: None,
            page,
            news: None,
            window: None,
            info: None,
            name: kind.to_string(),
        }
    }

    /// The browser for this case: the shared one, or a new one in the peer's namespace.
    async fn obtain_browser(&mut self) -> Result<Arc<SharedBrowser>, PeerError> {
        if let Some(browser) = &self.browser {
            return Ok(browser.clone());
        }
        let browser = match &self.source {
            Source::Shared(browser) => browser.clone(),
            Source::Dedicated {
                install,
                hosts,
                namespace,
                log_file,
            } => {
                if let Some(namespace) = namespace {
                    self.name = format!("{} in {}", self.name, namespace.name());
                }
                let started = SharedBrowser::start_in(
                    install.clone(),
                    *hosts,
                    namespace.clone(),
                    log_file.clone(),
                )
                .await;
                Arc::new(started.map_err(|e| self.error(e))?)
            }
        };
        self.browser = Some(browser.clone());
        Ok(browser)
    }

    fn error(&self, reason: impl Into<String>) -> PeerError {
        PeerError::new(self.name.clone(), reason)
    }

    async fn run_script(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, PeerError> {
        let (Some(browser), Some(window)) = (&self.browser, &self.window) else {
            return Err(self.error("the browser window is not open"));
        };
        browser
            .execute(window, script, args)
            .await
            .map_err(|e| self.error(e))
    }
}

#[async_trait::async_trait]
impl Peer for BrowserPeer {
    fn kind(&self) -> PeerKind {
        self.kind
    }

    fn browser(&self) -> Option<BrowserInfo> {
        self.info.clone()
    }

    fn news(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.news.as_ref().map(Subscription::notify)
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.name = format!("{} {}", self.kind, plan.role.as_str());
        let browser = self.obtain_browser().await?;
        let (window, info) = browser
            .open_window(&self.page.url)
            .await
            .map_err(|e| self.error(e))?;
        self.window = Some(window);
        self.info = Some(info);
        let plan = serde_json::to_value(plan).expect("plans serialize");
        let news = self.page.news.subscribe();
        let options = serde_json::json!({ "news_path": news.path() });
        self.news = Some(news);
        // `start` resolves once the page has joined the relay room, or rejects with the reason.
        let started = self
            .run_script(
                "return window.rtcInterop.start(arguments[0], arguments[1])\
                 .then(() => null, e => String(e))",
                vec![plan, options],
            )
            .await?;
        match started.as_str() {
            None => Ok(()),
            Some(reason) => Err(self.error(format!("the peer page could not start: {reason}"))),
        }
    }

    async fn observations(&mut self) -> Result<Observations, PeerError> {
        let value = self
            .run_script("return window.rtcInterop.observations()", vec![])
            .await?;
        serde_json::from_value(value)
            .map_err(|e| self.error(format!("the page returned malformed observations: {e}")))
    }

    async fn close(&mut self) {
        self.news = None;
        let Some(browser) = &self.browser else {
            return;
        };
        if let Some(window) = self.window.take() {
            let _ = browser
                .execute(&window, "window.rtcInterop.close()", vec![])
                .await;
            if matches!(self.source, Source::Shared(_)) {
                browser.close_window(&window).await;
            }
        }
        if matches!(self.source, Source::Dedicated { .. }) {
            // The browser quits with its windows: nothing to leave for a next case.
            browser.shutdown().await;
        }
    }
}
