//! News from the peer pages. Reading a page's observations runs a script in its window, on the
//! main thread its WebRTC events need as well, and a driver's window switch on top: read every
//! 25 ms while a connection forms, Firefox's offer → echo took 30–60 % longer. So a page posts
//! to `/news/<key>` when it has something the runner must act on at once (it finished), and the
//! runner reads it seldom otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The path pages post their news under; the key follows.
pub const NEWS_PREFIX: &str = "/news/";

/// The pages' subscriptions of one page server, by key.
#[derive(Clone, Default)]
pub struct NewsBoard {
    inner: Arc<Board>,
}

#[derive(Default)]
struct Board {
    next_key: AtomicU64,
    subscribers: Mutex<HashMap<String, Arc<Notify>>>,
}

impl NewsBoard {
    /// A new key whose posts wake [`Subscription::notify`]. The key only wakes a reader (the
    /// observations are still read from the page), so a counter is enough.
    pub fn subscribe(&self) -> Subscription {
        let key = self
            .inner
            .next_key
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        let notify = Arc::new(Notify::new());
        self.subscribers().insert(key.clone(), notify.clone());
        Subscription {
            key,
            notify,
            board: self.clone(),
        }
    }

    /// Wakes the subscriber of `key` (a wake-up nobody waits for yet is kept for its next wait);
    /// false for a key nobody holds.
    pub(super) fn deliver(&self, key: &str) -> bool {
        match self.subscribers().get(key) {
            Some(notify) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// One page's key; dropping it ends the subscription.
pub struct Subscription {
    key: String,
    notify: Arc<Notify>,
    board: NewsBoard,
}

impl Subscription {
    /// The path the page posts to (relative to its own origin, which also holds for a browser
    /// reaching the server through a namespace or an advertised address).
    pub fn path(&self) -> String {
        format!("{NEWS_PREFIX}{}", self.key)
    }

    /// Woken by each post.
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.board.subscribers().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_post_wakes_its_subscriber_even_before_it_waits_and_only_while_subscribed() {
        let board = NewsBoard::default();
        let first = board.subscribe();
        let second = board.subscribe();
        assert_ne!(first.path(), second.path());
        assert!(board.deliver(first.path().trim_start_matches(NEWS_PREFIX)));
        let woken =
            tokio::time::timeout(std::time::Duration::from_secs(1), first.notify().notified())
                .await;
        assert!(woken.is_ok(), "the post before the wait was lost");
        let key = second.path().trim_start_matches(NEWS_PREFIX).to_string();
        drop(second);
        assert!(
            !board.deliver(&key),
            "a dropped subscription still delivered"
        );
        assert!(!board.deliver("nope"));
    }
}
