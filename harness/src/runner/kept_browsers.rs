//! Browsers of `[network]` cases, kept warm for the next `[network]` case.
//!
//! A peer behind a NAT needs a browser inside its own namespace, and starting one there for every
//! case cost more than the rest of the case: a Firefox side ~3.8 CPU-seconds against ~0.5 for a
//! side in the run's shared Firefox, and 3–6 s before the offer. So a case's peer namespace is
//! kept, with its browser, driver and page forwarders, when the case's network is torn down: it
//! loses its link and addresses, and the next case of the same browser kind and host-candidate
//! mode takes it into its own topology (`Topology::create_in`), where it gets new ones. The
//! browser sees its interface go and a new one come between two cases, as a laptop does when it
//! changes networks; each case still opens a fresh page (and RTCPeerConnection) in it.
//!
//! `run --browser-logs` keeps none: each case's browser log must be that case's alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::net::netns::{self, NetNs, TcpForwarder};
use crate::peer::SharedBrowser;

use super::BrowserKey;

/// A kept peer namespace and what lives in it.
pub struct KeptBrowser {
    pub ns: NetNs,
    pub browser: Arc<SharedBrowser>,
    /// The relay's and page server's ports inside `ns`: kept too, so that connections the browser
    /// keeps open to the page server stay valid.
    pub forwarders: Vec<TcpForwarder>,
}

/// The kept browsers no case uses right now.
#[derive(Default)]
pub struct KeptBrowsers {
    idle: Mutex<HashMap<BrowserKey, Vec<KeptBrowser>>>,
}

impl KeptBrowsers {
    /// A kept browser of `key` for a case, if one is idle.
    pub fn take(&self, key: BrowserKey) -> Option<KeptBrowser> {
        self.idle.lock().unwrap().get_mut(&key)?.pop()
    }

    /// Keeps `kept` for the next case of `key`.
    pub fn put_back(&self, key: BrowserKey, kept: KeptBrowser) {
        self.idle.lock().unwrap().entry(key).or_default().push(kept);
    }

    /// Quits every kept browser and removes its namespace.
    pub async fn shutdown(&self) {
        let all: Vec<KeptBrowser> = self
            .idle
            .lock()
            .unwrap()
            .drain()
            .flat_map(|(_, kept)| kept)
            .collect();
        for kept in all {
            kept.quit().await;
        }
    }
}

impl KeptBrowser {
    /// Quits the browser and removes the namespace (which dropping does too, less gently: it
    /// kills what runs inside).
    pub async fn quit(self) {
        self.browser.shutdown().await;
        tokio::task::spawn_blocking(move || drop(self))
            .await
            .unwrap_or_default();
    }
}

/// A kept namespace goes with its browser, also when a case is abandoned (Ctrl-C) while it had it.
impl Drop for KeptBrowser {
    fn drop(&mut self) {
        self.forwarders.clear();
        if let Err(e) = netns::remove_namespace(&self.ns) {
            eprintln!("rtc-interop: removing a kept browser's namespace: {e}");
        }
    }
}
