//! coturn's admin CLI: a telnet-style text protocol on loopback, and the one way to end a user's
//! allocations in a running coturn before they expire (`ps <user>` lists them, `cs <id>` cancels
//! one). Checked against coturn 4.6.1:
//!
//! ```text
//! TURN Server … Enter password:        ← on connect
//! > ps rtc-interop.3                   ← after the password
//!     1) id=001000000000000001, user <rtc-interop.3>:
//!       …
//!   Total sessions: 1
//! > cs 001000000000000001
//! >
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one conversation with the CLI (log in, list, cancel) may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a coturn's CLI listens and its password.
#[derive(Debug, Clone)]
pub struct CoturnCli {
    /// A loopback address of this machine.
    pub addr: SocketAddr,
    /// `cli-password`, in plain text.
    pub password: String,
}

impl CoturnCli {
    /// Cancels every session (allocation) of `user`, returning how many there were.
    pub async fn cancel_sessions_of(&self, user: &str) -> Result<usize, String> {
        if user.is_empty() || user.chars().any(char::is_whitespace) {
            return Err(format!(
                "the user name {user:?} cannot go on a CLI command line"
            ));
        }
        tokio::time::timeout(CLI_TIMEOUT, self.converse(user))
            .await
            .map_err(|_| {
                format!(
                    "coturn's CLI at {} did not answer within {CLI_TIMEOUT:?}",
                    self.addr
                )
            })?
    }

    async fn converse(&self, user: &str) -> Result<usize, String> {
        let failed = |e: std::io::Error| format!("coturn's CLI at {}: {e}", self.addr);
        let mut cli = Conversation {
            stream: TcpStream::connect(self.addr).await.map_err(failed)?,
            text: String::new(),
        };
        cli.read_until(|t| t.contains("Enter password:"))
            .await
            .map_err(failed)?;
        cli.command(&self.password).await.map_err(failed)?;
        let listing = cli.command(&format!("ps {user}")).await.map_err(failed)?;
        let ids = session_ids(&listing, user);
        for id in &ids {
            cli.command(&format!("cs {id}")).await.map_err(failed)?;
        }
        let _ = cli.stream.write_all(b"quit\r\n").await;
        Ok(ids.len())
    }
}

struct Conversation {
    stream: TcpStream,
    /// What has been read since the last command.
    text: String,
}

impl Conversation {
    /// Sends one line and returns what came back up to the next prompt.
    async fn command(&mut self, line: &str) -> std::io::Result<String> {
        self.text.clear();
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.read_until(is_prompt).await?;
        Ok(std::mem::take(&mut self.text))
    }

    async fn read_until(&mut self, done: impl Fn(&str) -> bool) -> std::io::Result<()> {
        let mut buffer = [0u8; 4096];
        while !done(&self.text) {
            let n = self.stream.read(&mut buffer).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("closed the connection after {:?}", self.text),
                ));
            }
            self.text.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        Ok(())
    }
}

/// Whether the CLI has printed its prompt: the output ends with `> ` (a session listing never
/// does: its user names are printed as `<name>:`).
fn is_prompt(text: &str) -> bool {
    text.ends_with("> ")
}

/// The session ids in a `ps` listing that belong to exactly `user`.
fn session_ids(listing: &str, user: &str) -> Vec<String> {
    let owner = format!(", user <{user}>:");
    listing
        .lines()
        .filter(|line| line.trim_end().ends_with(&owner))
        .filter_map(|line| {
            let (_, rest) = line.split_once("id=")?;
            let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (!id.is_empty()).then_some(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_gives_the_ids_of_exactly_that_user() {
        let listing = "\r\n    1) id=000000000000000001, user <rtc-interop.1>:\r\n      realm: x\r\n\
                       \r\n    2) id=001000000000000002, user <rtc-interop.12>:\r\n\
                       \r\n    3) id=001000000000000003, user <rtc-interop.1>:\r\n      relay addr 1.2.3.4:5\r\n\
                       \r\n  Total sessions: 3\r\n\r\n> ";
        assert_eq!(
            session_ids(listing, "rtc-interop.1"),
            ["000000000000000001", "001000000000000003"]
        );
        assert!(session_ids("\r\n  Total sessions: 0\r\n\r\n> ", "rtc-interop.1").is_empty());
        assert!(is_prompt(listing));
        assert!(!is_prompt("    1) id=1, user <a>:\r\n"));
    }
}
