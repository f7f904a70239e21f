//! Who may open a WebSocket on the relay: the token and the `Origin` checks at the upgrade.
//!
//! A web page anywhere can open a WebSocket to a relay on the user's machine; the browser names
//! the page's origin in the `Origin` header. Loopback origins and the relay's own address (an IP
//! literal the client really connected to, so DNS rebinding cannot pass for it) are allowed,
//! others only when configured. Native clients send no `Origin` and are not affected.

use std::net::IpAddr;

use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::RelayConfig;

/// Why an upgrade was refused, with the HTTP status it gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// 401 (token) or 403 (origin).
    pub status: StatusCode,
    /// What the log and the response body say.
    pub reason: String,
}

impl Refusal {
    /// The HTTP response that ends the handshake.
    pub fn response(&self) -> ErrorResponse {
        let mut response = ErrorResponse::new(Some(format!("{}\n", self.reason)));
        *response.status_mut() = self.status;
        response
    }
}

/// Checks an upgrade request against the token and the allowed origins. `local_ip` is the address
/// the client connected to.
pub fn check(
    config: &RelayConfig,
    local_ip: Option<IpAddr>,
    request: &Request,
) -> Result<(), Refusal> {
    if let Some(token) = &config.token {
        let given = request.uri().query().and_then(|q| query_value(q, "token"));
        match given {
            Some(given) if same_secret(given.as_bytes(), token.as_bytes()) => {}
            Some(_) => return Err(refuse(StatusCode::UNAUTHORIZED, "wrong token")),
            None => {
                return Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    "this relay needs a token: connect with ?token=…",
                ));
            }
        }
    }
    let Some(origin) = request.headers().get("origin") else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("(not ASCII)");
    if origin_allowed(origin, local_ip, &config.allowed_origins) {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::FORBIDDEN,
            &format!("origin {origin:?} is not allowed (start the relay with --allow-origin)"),
        ))
    }
}

fn refuse(status: StatusCode, reason: &str) -> Refusal {
    Refusal {
        status,
        reason: reason.to_string(),
    }
}

/// The value of `key` in a query string (`a=1&token=x`), as is.
fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Compares in time independent of where they differ, so the token cannot be guessed bytewise.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Loopback origins, the relay's own address, and the configured ones are allowed.
fn origin_allowed(origin: &str, local_ip: Option<IpAddr>, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(host) = origin_host(origin) else {
        return false; // "null" (a sandboxed page or a file) and anything unparsable
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || Some(ip) == local_ip,
        Err(_) => false,
    }
}

/// The host of `scheme://host[:port]`, without the IPv6 brackets.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, authority) = origin.split_once("://")?;
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map(|(host, _)| host);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, origin: Option<&str>) -> Request {
        let mut builder = Request::builder().uri(uri);
        if let Some(origin) = origin {
            builder = builder.header("Origin", origin);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn origins() {
        let local = Some("192.0.2.7".parse().unwrap());
        let allowed = vec!["https://app.example".to_string()];
        for (origin, ok) in [
            ("http://127.0.0.1:8000", true),
            ("http://localhost:3000", true),
            ("http://[::1]:9", true),
            ("http://192.0.2.7:8080", true),
            ("https://app.example", true),
            ("https://app.example/", true),
            ("https://evil.example", false),
            ("http://192.0.2.8", false),
            ("http://localhost.evil.example", false),
            ("null", false),
        ] {
            assert_eq!(origin_allowed(origin, local, &allowed), ok, "{origin}");
        }
        assert!(origin_allowed("https://evil.example", local, &["*".into()]));
    }

    #[test]
    fn token_and_origin_at_the_upgrade() {
        let config = RelayConfig {
            token: Some("s3cret".into()),
            ..RelayConfig::default()
        };
        assert!(check(&config, None, &request("/room?token=s3cret", None)).is_ok());
        let missing = check(&config, None, &request("/room", None)).unwrap_err();
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert!(check(&config, None, &request("/room?token=s3cre", None)).is_err());
        assert!(check(&config, None, &request("/room?token=s3cretX", None)).is_err());
        let foreign = request("/room?token=s3cret", Some("https://evil.example"));
        assert_eq!(
            check(&config, None, &foreign).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }
}
