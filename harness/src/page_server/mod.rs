//! Serves the browser peer page, the benchmark's loopback page and the page a shared browser's
//! window waits on between cases (`fixtures/browser/`) over http://127.0.0.1, and takes the
//! pages' news (`news.rs`).
//!
//! The files are compiled into the binary, so a run does not depend on the working directory.

mod news;

pub use news::{NewsBoard, Subscription};

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const PAGE_HTML: &str = include_str!("../../../fixtures/browser/peer.html");
const PAGE_JS: &str = include_str!("../../../fixtures/browser/peer.js");
const LOOPBACK_HTML: &str = include_str!("../../../fixtures/browser/loopback.html");
const LOOPBACK_JS: &str = include_str!("../../../fixtures/browser/loopback.js");
const CODECS_JS: &str = include_str!("../../../fixtures/browser/codecs.js");
const IDLE_HTML: &str = include_str!("../../../fixtures/browser/idle.html");

/// The page a shared browser's window waits on between cases, on the origin of the page it served.
pub const IDLE_PATH: &str = "/idle.html";

/// The idle page on the origin of `page_url` (`http://127.0.0.1:8080/peer.html?…` →
/// `http://127.0.0.1:8080/idle.html`), or `None` for a URL with no http(s) origin.
pub fn idle_url_for(page_url: &str) -> Option<String> {
    let scheme_end = ["http://", "https://"]
        .iter()
        .find_map(|scheme| page_url.starts_with(scheme).then_some(scheme.len()))?;
    let origin_end = page_url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(page_url.len(), |i| scheme_end + i);
    Some(format!("{}{IDLE_PATH}", &page_url[..origin_end]))
}

/// A running page server. Dropping it stops it.
pub struct PageServer {
    addr: SocketAddr,
    /// The address page URLs name: `addr`, or the one remote browsers reach it on.
    public: SocketAddr,
    news: NewsBoard,
    task: JoinHandle<()>,
}

/// The peer page of a page server, with the board its pages post their news to.
#[derive(Clone)]
pub struct PeerPage {
    /// The page's URL.
    pub url: String,
    /// Where a page's news arrives.
    pub news: NewsBoard,
}

impl PageServer {
    /// Starts serving on a free loopback port.
    pub async fn start() -> std::io::Result<PageServer> {
        PageServer::start_for(None).await
    }

    /// Starts serving on a free port: on loopback, or, for browsers elsewhere, on every
    /// interface with page URLs naming `advertised` (`--advertise-address`).
    pub async fn start_for(advertised: Option<std::net::IpAddr>) -> std::io::Result<PageServer> {
        let bind = match advertised {
            None => Ipv4Addr::LOCALHOST,
            Some(_) => Ipv4Addr::UNSPECIFIED,
        };
        let listener = TcpListener::bind((bind, 0)).await?;
        let addr = listener.local_addr()?;
        let public = advertised.map_or(addr, |ip| SocketAddr::new(ip, addr.port()));
        let news = NewsBoard::default();
        let board = news.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let board = board.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| serve(request, board.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(PageServer {
            addr,
            public,
            news,
            task,
        })
    }

    /// Where it listens (`127.0.0.1:<port>`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer page and where its news arrives.
    pub fn peer_page(&self) -> PeerPage {
        PeerPage {
            url: format!("http://{}/peer.html", self.public),
            news: self.news.clone(),
        }
    }

    /// The pages' origin when it is not loopback (browsers must be told to treat it as secure).
    pub fn non_loopback_origin(&self) -> Option<String> {
        (!self.public.ip().is_loopback()).then(|| format!("http://{}", self.public))
    }

    /// The URL of the loopback page (two connections in one page, for the benchmark:
    /// `window.rtcInteropLoopback.firstFrame(options)`, see `loopback.js`).
    pub fn loopback_url(&self) -> String {
        format!("http://{}/loopback.html", self.public)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    request: Request<Incoming>,
    news: NewsBoard,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    if let Some(key) = path.strip_prefix(news::NEWS_PREFIX) {
        let status = if *request.method() == Method::POST && news.deliver(key) {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::NOT_FOUND
        };
        return Ok(respond(status, "text/plain; charset=utf-8", ""));
    }
    let (status, content_type, body) = match path {
        "/" | "/peer.html" => (StatusCode::OK, "text/html; charset=utf-8", PAGE_HTML),
        "/peer.js" => (StatusCode::OK, "text/javascript; charset=utf-8", PAGE_JS),
        "/loopback.html" => (StatusCode::OK, "text/html; charset=utf-8", LOOPBACK_HTML),
        "/loopback.js" => (
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            LOOPBACK_JS,
        ),
        "/codecs.js" => (StatusCode::OK, "text/javascript; charset=utf-8", CODECS_JS),
        IDLE_PATH => (StatusCode::OK, "text/html; charset=utf-8", IDLE_HTML),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        ),
    };
    Ok(respond(status, content_type, body))
}

fn respond(status: StatusCode, content_type: &str, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_idle_page_is_on_the_origin_of_the_page() {
        assert_eq!(
            idle_url_for("http://127.0.0.1:8080/peer.html?x=1").as_deref(),
            Some("http://127.0.0.1:8080/idle.html")
        );
        assert_eq!(
            idle_url_for("https://10.0.0.2:9").as_deref(),
            Some("https://10.0.0.2:9/idle.html")
        );
        assert_eq!(idle_url_for("data:text/html,hi"), None);
        assert_eq!(idle_url_for("about:blank"), None);
    }

    async fn get(server: &PageServer, path: &str) -> String {
        request(server, "GET", path).await
    }

    async fn request(server: &PageServer, method: &str, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_the_peer_and_loopback_pages() {
        let server = PageServer::start().await.unwrap();
        for (path, words) in [
            ("/peer.html", "peer.js"),
            ("/peer.js", "window.rtcInterop ="),
            ("/loopback.html", "loopback.js"),
            ("/loopback.js", "window.rtcInteropLoopback ="),
            ("/codecs.js", "window.rtcInteropCodecs ="),
            (IDLE_PATH, "rtc-interop: idle"),
        ] {
            let response = get(&server, path).await;
            assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
            assert!(response.contains(words), "{path}");
        }
        assert!(get(&server, "/nope").await.starts_with("HTTP/1.1 404"));
        assert!(server.loopback_url().ends_with("/loopback.html"));
    }

    #[tokio::test]
    async fn a_page_posting_its_news_wakes_its_subscriber_only() {
        let server = PageServer::start().await.unwrap();
        let page = server.peer_page();
        assert!(page.url.ends_with("/peer.html"));
        let subscription = page.news.subscribe();
        let path = subscription.path();
        assert!(
            get(&server, &path).await.starts_with("HTTP/1.1 404"),
            "GET is no post"
        );
        let posted = request(&server, "POST", &path).await;
        assert!(posted.starts_with("HTTP/1.1 204"), "{posted}");
        let woken = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            subscription.notify().notified(),
        )
        .await;
        assert!(woken.is_ok(), "the post did not wake the subscriber");
        drop(subscription);
        let after = request(&server, "POST", &path).await;
        assert!(after.starts_with("HTTP/1.1 404"), "{after}");
    }
}
