//! The browser peer: the peer page from `fixtures/browser/` in a headless browser driven over
//! WebDriver. The page runs the same protocol with the browser's own RTCPeerConnection and keeps its
//! observations in `window.rtcInterop`, which the harness reads with `execute`.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Client;

use super::webdriver::{BrowserInfo, DriverService, with_timeout};
use super::{Peer, PeerError, PeerPlan};
use crate::observe::Observations;
use crate::scenario::PeerKind;

/// How long one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer played by a browser page.
pub struct BrowserPeer {
    driver: Arc<DriverService>,
    page_url: String,
    client: Option<Client>,
    info: Option<BrowserInfo>,
    name: String,
}

impl BrowserPeer {
    /// A peer that will open `page_url` in a new session of `driver`'s browser.
    pub fn new(driver: Arc<DriverService>, page_url: String) -> Self {
        let name = driver.kind().to_string();
        Self {
            driver,
            page_url,
            client: None,
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
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| self.error("the browser session is not open"))?;
        with_timeout(COMMAND_TIMEOUT, "a WebDriver command", async {
            client
                .execute(script, args)
                .await
                .map_err(|e| format!("the browser did not run the page script: {e}"))
        })
        .await
        .map_err(|e| self.error(e))
    }
}

#[async_trait::async_trait]
impl Peer for BrowserPeer {
    fn kind(&self) -> PeerKind {
        self.driver.kind()
    }

    fn browser(&self) -> Option<BrowserInfo> {
        self.info.clone()
    }

    async fn start(&mut self, plan: &PeerPlan) -> Result<(), PeerError> {
        self.name = format!("{} {}", self.driver.kind(), plan.role.as_str());
        let (client, info) = self.driver.new_session().await.map_err(|e| self.error(e))?;
        self.client = Some(client);
        self.info = Some(info);
        let client = self.client.as_ref().expect("just set");
        with_timeout(COMMAND_TIMEOUT, "loading the peer page", async {
            client
                .goto(&self.page_url)
                .await
                .map_err(|e| format!("cannot load {}: {e}", self.page_url))
        })
        .await
        .map_err(|e| self.error(e))?;
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
        if self.client.is_some() {
            let _ = self.run_script("window.rtcInterop.close()", vec![]).await;
        }
        if let Some(client) = self.client.take() {
            // Ending the session quits this browser; the driver's process group catches the rest.
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, client.close()).await;
        }
    }
}
