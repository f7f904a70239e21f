//! The browser peer: the peer page from `fixtures/browser/` in a window of a shared headless
//! browser, driven over WebDriver. The page runs the same protocol with the browser's own
//! RTCPeerConnection and keeps its observations in `window.rtcInterop`, which the harness reads with
//! Execute Script.

use std::sync::Arc;

use super::shared_browser::{SharedBrowser, Window};
use super::webdriver::BrowserInfo;
use super::{Peer, PeerError, PeerPlan};
use crate::observe::Observations;
use crate::scenario::PeerKind;

/// A peer played by a browser page.
pub struct BrowserPeer {
    browser: Arc<SharedBrowser>,
    page_url: String,
    window: Option<Window>,
    info: Option<BrowserInfo>,
    name: String,
}

impl BrowserPeer {
    /// A peer that will open `page_url` in a new window of `browser`.
    pub fn new(browser: Arc<SharedBrowser>, page_url: String) -> Self {
        let name = browser.kind().to_string();
        Self {
            browser,
            page_url,
            window: None,
            info: None,
            name,
        }
    }

    fn error(&self, reason: impl Into<String>) -> PeerError {
        PeerError::new(self.name.clone(), reason)
    }

    async fn run_script(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, PeerError> {
        let window = self
            .window
            .as_ref()
            .ok_or_else(|| self.error("the browser window is not open"))?;
        self.browser
            .execute(window, script, args)
            .await
            .map_err(|e| self.error(e))
    }
}

#[async_trait::async_trait]
impl Peer for BrowserPeer {
    fn kind(&self) -> PeerKind {
        self.browser.kind()
    }

    fn browser(&self) -> Option<BrowserInfo> {
        self.info.clone()
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.name = format!("{} {}", self.browser.kind(), plan.role.as_str());
        let (window, info) = self
            .browser
            .open_window(&self.page_url)
            .await
            .map_err(|e| self.error(e))?;
        self.window = Some(window);
        self.info = Some(info);
        let plan = serde_json::to_value(plan).expect("plans serialize");
        // `start` resolves once the page has joined the relay room, or rejects with the reason.
        let started = self
            .run_script(
                "return window.rtcInterop.start(arguments[0]).then(() => null, e => String(e))",
                vec![plan],
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
        if let Some(window) = self.window.take() {
            let _ = self
                .browser
                .execute(&window, "window.rtcInterop.close()", vec![])
                .await;
            self.browser.close_window(&window).await;
        }
    }
}
