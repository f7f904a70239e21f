//! Splitting an SDP (RFC 8866) into its session part and media sections.
//!
//! The parser only checks the structure the rest of this module relies on: every line is
//! `<letter>=<value>`, the first is `v=`, `o=` and `c=` have their fields, and `m=` lines have
//! media, port, protocol and at least one format. Values of placeholders written by
//! [`super::normalize`] (`<port>`) are accepted wherever a number is expected, so normalized
//! text parses again.

use super::SdpError;

/// One `x=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the input.
    pub number: usize,
    /// The type letter (`a`, `m`, `c`, …).
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

impl Line {
    /// For an attribute line (`a=name:value` or `a=flag`), its name and value (`""` for a flag).
    pub fn attribute(&self) -> Option<(&str, &str)> {
        if self.kind != 'a' {
            return None;
        }
        Some(match self.value.split_once(':') {
            Some((name, value)) => (name, value),
            None => (self.value.as_str(), ""),
        })
    }

    /// The line as it appears in SDP text, without line ending.
    pub fn text(&self) -> String {
        format!("{}={}", self.kind, self.value)
    }
}

/// The fields of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, `application`, …
    pub media: String,
    /// The port field as written (`9`, `0`, `49170/2`, `<port>`).
    pub port: String,
    /// The transport protocol (`UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`).
    pub protocol: String,
    /// Payload types, or `webrtc-datachannel` for data channels.
    pub formats: Vec<String>,
}

impl MediaLine {
    /// Whether the section is rejected or disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == "0" || self.port.starts_with("0/")
    }
}

/// One media section: its `m=` line and the lines after it, up to the next `m=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// The `m=` line itself.
    pub line: Line,
    /// Its parsed fields.
    pub media: MediaLine,
    /// The lines that follow it.
    pub lines: Vec<Line>,
}

impl MediaSection {
    /// The attribute lines of this section, as (name, value).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(Line::attribute)
    }

    /// The first value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether flag or attribute `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The section's `a=mid`, if any.
    pub fn mid(&self) -> Option<&str> {
        self.attribute("mid")
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// Session-level lines (`v=` up to the first `m=`).
    pub session: Vec<Line>,
    /// Media sections in order.
    pub media: Vec<MediaSection>,
}

impl Sdp {
    /// Session-level attributes as (name, value).
    pub fn session_attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.session.iter().filter_map(Line::attribute)
    }

    /// The first session-level value of attribute `name`.
    pub fn session_attribute(&self, name: &str) -> Option<&str> {
        self.session_attributes()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Every line in order, session first.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.session.iter().chain(
            self.media
                .iter()
                .flat_map(|m| std::iter::once(&m.line).chain(&m.lines)),
        )
    }
}

/// Parses SDP text (`\r\n` or `\n` line endings; one final empty line is allowed).
pub fn parse(text: &str) -> Result<Sdp, SdpError> {
    let mut raw: Vec<&str> = text.split('\n').collect();
    if raw.last() == Some(&"") {
        raw.pop();
    }
    if raw.is_empty() || raw.iter().all(|l| l.trim().is_empty()) {
        return Err(SdpError::Empty);
    }
    let mut sdp = Sdp {
        session: Vec::new(),
        media: Vec::new(),
    };
    for (index, raw_line) in raw.iter().enumerate() {
        let number = index + 1;
        let text = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = parse_line(number, text)?;
        if number == 1 && line.kind != 'v' {
            return Err(SdpError::line(number, text, "an SDP starts with `v=`"));
        }
        match line.kind {
            'm' => {
                let media = parse_media_line(&line)?;
                sdp.media.push(MediaSection {
                    line,
                    media,
                    lines: Vec::new(),
                });
            }
            _ => {
                check_fields(&line)?;
                match sdp.media.last_mut() {
                    Some(section) => section.lines.push(line),
                    None => sdp.session.push(line),
                }
            }
        }
    }
    Ok(sdp)
}

fn parse_line(number: usize, text: &str) -> Result<Line, SdpError> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(kind), Some('=')) if kind.is_ascii_alphabetic() => Ok(Line {
            number,
            kind,
            value: text[2..].to_string(),
        }),
        _ if text.trim().is_empty() => Err(SdpError::line(number, text, "empty line")),
        _ => Err(SdpError::line(
            number,
            text,
            "not an SDP line (`<letter>=<value>`)",
        )),
    }
}

/// `<number>`, `<number>/<count>` or a placeholder such as `<port>`.
pub(crate) fn is_port(port: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    is_placeholder(port)
        || match port.split_once('/') {
            Some((p, n)) => (number(p) || is_placeholder(p)) && number(n),
            None => number(port),
        }
}

/// Whether a token is a placeholder written by the normalizer (`<…>`).
pub(crate) fn is_placeholder(token: &str) -> bool {
    token.len() > 2 && token.starts_with('<') && token.ends_with('>')
}

fn parse_media_line(line: &Line) -> Result<MediaLine, SdpError> {
    let fields: Vec<&str> = line.value.split_ascii_whitespace().collect();
    if fields.len() < 4 {
        return Err(SdpError::line(
            line.number,
            &line.text(),
            format!(
                "a media line has media, port, protocol and at least one format; this one has {} field(s)",
                fields.len()
            ),
        ));
    }
    if !is_port(fields[1]) {
        return Err(SdpError::line(
            line.number,
            &line.text(),
            format!("port `{}` is not a number", fields[1]),
        ));
    }
    Ok(MediaLine {
        media: fields[0].to_string(),
        port: fields[1].to_string(),
        protocol: fields[2].to_string(),
        formats: fields[3..].iter().map(|f| f.to_string()).collect(),
    })
}

/// Field counts of the lines the normalizer rewrites.
fn check_fields(line: &Line) -> Result<(), SdpError> {
    let fields = line.value.split_ascii_whitespace().count();
    let (wanted, what) = match line.kind {
        'o' => (
            6,
            "an origin line has username, session id, version, network type, address type and address",
        ),
        'c' => (
            3,
            "a connection line has network type, address type and address",
        ),
        _ => return Ok(()),
    };
    if fields != wanted {
        return Err(SdpError::line(
            line.number,
            &line.text(),
            format!("{what}; this one has {fields} field(s)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n";

    #[test]
    fn splits_session_and_media() {
        let sdp = parse(SMALL).unwrap();
        assert_eq!(sdp.session.len(), 5);
        assert_eq!(sdp.media.len(), 1);
        let m = &sdp.media[0];
        assert_eq!(m.media.media, "application");
        assert_eq!(m.media.formats, ["webrtc-datachannel"]);
        assert_eq!(m.mid(), Some("0"));
        assert_eq!(m.attribute("sctp-port"), Some("5000"));
        assert_eq!(m.line.number, 6);
        assert_eq!(sdp.session_attribute("group"), Some("BUNDLE 0"));
        assert_eq!(sdp.lines().count(), 9);
    }

    #[test]
    fn lf_and_crlf_parse_alike() {
        assert_eq!(
            parse(SMALL).unwrap(),
            parse(&SMALL.replace("\r\n", "\n")).unwrap()
        );
        // No final line ending either.
        assert_eq!(parse(SMALL).unwrap(), parse(SMALL.trim_end()).unwrap());
    }

    fn error(text: &str) -> SdpError {
        parse(text).unwrap_err()
    }

    #[test]
    fn malformed_input_names_the_line() {
        assert_eq!(error(""), SdpError::Empty);
        assert_eq!(error("\r\n\r\n"), SdpError::Empty);
        let e = error("o=- 1 2 IN IP4 127.0.0.1\n");
        assert!(matches!(&e, SdpError::Line { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("v="), "{e}");
        let e = error("v=0\nhello\n");
        assert!(matches!(&e, SdpError::Line { line: 2, text, .. } if text == "hello"));
        let e = error("v=0\ns=-\nm=audio 9\n");
        assert!(matches!(&e, SdpError::Line { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("m=audio 9"), "{e}");
        let e = error("v=0\nm=audio nine RTP/AVP 0\n");
        assert!(e.to_string().contains("`nine`"), "{e}");
        let e = error("v=0\no=- 1 IN IP4 0.0.0.0\n");
        assert!(matches!(&e, SdpError::Line { line: 2, .. }), "{e}");
        let e = error("v=0\nm=audio 9 RTP/AVP 0\nc=IN IP4\n");
        assert!(matches!(&e, SdpError::Line { line: 3, .. }), "{e}");
        let e = error("v=0\n\ns=-\n");
        assert!(e.to_string().contains("empty line"), "{e}");
    }

    #[test]
    fn placeholders_parse_as_ports() {
        let sdp = parse("v=0\nm=audio <port> RTP/AVP 0\nm=video 9/2 RTP/AVP 96\n").unwrap();
        assert_eq!(sdp.media[0].media.port, "<port>");
        assert!(!sdp.media[0].media.is_rejected());
        assert!(
            parse("v=0\nm=audio 0 RTP/AVP 0\n").unwrap().media[0]
                .media
                .is_rejected()
        );
    }
}
