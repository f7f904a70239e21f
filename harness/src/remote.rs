//! Browsers on other machines: `--webdriver KIND=URL` sends a browser kind's sessions to any W3C
//! WebDriver endpoint (a Selenium Grid hub, a chromedriver or geckodriver started elsewhere), and
//! `--advertise-address` names the address of this machine those browsers reach the relay, the
//! peer page and the STUN/TURN servers on. Both can also be set in `rtc-interop.toml`:
//!
//! ```toml
//! advertise_address = "10.0.0.5"
//! [webdriver]
//! chromium = "http://grid.internal:4444"
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::scenario::PeerKind;

/// Where remote browsers run and how they reach this machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteBrowsers {
    /// Browser kinds on remote WebDriver endpoints.
    pub drivers: BTreeMap<PeerKind, String>,
    /// The address of this machine they reach.
    pub advertise: Option<IpAddr>,
}

impl RemoteBrowsers {
    /// The settings of the project file at `path` (absent: none), then the command line's
    /// `--webdriver` and `--advertise-address`, which override it.
    pub fn configure(
        path: &Path,
        webdrivers: &[String],
        advertise: Option<IpAddr>,
    ) -> Result<RemoteBrowsers, String> {
        let mut remote = if path.is_file() {
            read_project_file(path)?
        } else {
            RemoteBrowsers::default()
        };
        for spec in webdrivers {
            let (kind, url) = parse_webdriver(spec).map_err(|e| format!("--webdriver: {e}"))?;
            remote.drivers.insert(kind, url);
        }
        remote.advertise = advertise.or(remote.advertise);
        if !remote.drivers.is_empty() && remote.advertise.is_none() {
            return Err(
                "--webdriver needs --advertise-address: the address of this machine the remote \
                 browsers reach (its relay, peer page and STUN/TURN servers listen there)"
                    .into(),
            );
        }
        Ok(remote)
    }
}

/// Parses `KIND=URL`: a browser kind and an `http://` WebDriver endpoint.
pub fn parse_webdriver(spec: &str) -> Result<(PeerKind, String), String> {
    let (kind, url) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}` is not KIND=URL (`chromium=http://grid:4444`)"))?;
    let kind = PeerKind::named(kind)?;
    if !kind.is_browser() {
        return Err(format!(
            "`{kind}` is not a browser kind: only chromium and firefox run over WebDriver"
        ));
    }
    let url = url.trim().trim_end_matches('/');
    let valid = url
        .strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !valid {
        return Err(format!(
            "`{url}` is not a WebDriver URL: write http://HOST:PORT (with a path if the endpoint \
             has one, e.g. http://grid:4444/wd/hub)"
        ));
    }
    Ok((kind, url.to_string()))
}

fn read_project_file(path: &Path) -> Result<RemoteBrowsers, String> {
    #[derive(Deserialize)]
    struct Project {
        #[serde(default)]
        webdriver: BTreeMap<String, String>,
        advertise_address: Option<IpAddr>,
    }
    let at = |e: String| format!("{}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let project: Project = toml::from_str(&text).map_err(|e| at(e.to_string()))?;
    let mut drivers = BTreeMap::new();
    for (kind, url) in project.webdriver {
        let (kind, url) = parse_webdriver(&format!("{kind}={url}"))
            .map_err(|e| at(format!("[webdriver]: {e}")))?;
        drivers.insert(kind, url);
    }
    Ok(RemoteBrowsers {
        drivers,
        advertise: project.advertise_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webdriver_specs_name_a_browser_and_an_http_url() {
        assert_eq!(
            parse_webdriver("chromium=http://127.0.0.1:9515/"),
            Ok((PeerKind::Chromium, "http://127.0.0.1:9515".into()))
        );
        assert_eq!(
            parse_webdriver("firefox=http://grid:4444/wd/hub"),
            Ok((PeerKind::Firefox, "http://grid:4444/wd/hub".into()))
        );
        for (bad, says) in [
            ("chromium", "is not KIND=URL"),
            ("native=http://x:1", "not a browser kind"),
            ("chromium=https://x:1", "not a WebDriver URL"),
            ("chromium=grid:4444", "not a WebDriver URL"),
            ("chromium=http://", "not a WebDriver URL"),
        ] {
            let e = parse_webdriver(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_project_file_is_read_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rtc-interop.toml");
        std::fs::write(
            &file,
            "advertise_address = \"10.0.0.5\"\n[webdriver]\nchromium = \"http://grid:4444\"\n",
        )
        .unwrap();
        let remote = RemoteBrowsers::configure(&file, &[], None).unwrap();
        assert_eq!(remote.drivers[&PeerKind::Chromium], "http://grid:4444");
        assert_eq!(remote.advertise, Some("10.0.0.5".parse().unwrap()));
        let remote = RemoteBrowsers::configure(
            &file,
            &[
                "chromium=http://other:1".into(),
                "firefox=http://ff:2".into(),
            ],
            Some("10.0.0.6".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(remote.drivers[&PeerKind::Chromium], "http://other:1");
        assert_eq!(remote.drivers.len(), 2);
        assert_eq!(remote.advertise, Some("10.0.0.6".parse().unwrap()));

        std::fs::write(&file, "[webdriver]\nnative = \"http://x:1\"\n").unwrap();
        let e = RemoteBrowsers::configure(&file, &[], None).unwrap_err();
        assert!(
            e.contains("rtc-interop.toml: [webdriver]: `native` is not a browser"),
            "{e}"
        );
        let none = dir.path().join("absent.toml");
        let e =
            RemoteBrowsers::configure(&none, &["chromium=http://x:1".into()], None).unwrap_err();
        assert!(e.contains("needs --advertise-address"), "{e}");
        assert_eq!(
            RemoteBrowsers::configure(&none, &[], None).unwrap(),
            RemoteBrowsers::default()
        );
    }
}
