//! Finding the browsers, drivers and servers (coturn) a run needs, and installing them where they
//! are missing.
//!
//! Like Selenium Manager, the harness looks for what it needs first and installs only what is
//! missing, with a progress line. It installs Debian's packages with `apt-get` when it runs as root;
//! anywhere else it stops and prints the exact command to run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a browser or driver is not ready.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvisionError {
    /// Not installed, and not installable by the harness here.
    #[error("{what} is not installed. Install it with:\n    {command}")]
    Missing {
        /// What is missing (`chromium and chromium-driver`).
        what: String,
        /// The exact command that installs it.
        command: String,
    },
    /// The installation was tried and failed.
    #[error("installing {what} failed ({reason}). Try by hand:\n    {command}")]
    InstallFailed {
        /// What was being installed.
        what: String,
        /// What went wrong, with the end of the installer's output.
        reason: String,
        /// The command to retry by hand.
        command: String,
    },
    /// Browser and driver are installed but their versions do not fit each other.
    #[error(
        "{driver} {driver_version} does not fit {browser} {browser_version} (major versions differ). Update both with:\n    {command}"
    )]
    VersionMismatch {
        /// The browser's name.
        browser: String,
        /// Its version.
        browser_version: String,
        /// The driver's name.
        driver: String,
        /// Its version.
        driver_version: String,
        /// The command that brings both to the same version.
        command: String,
    },
}

/// A browser and its WebDriver server, ready to start.
#[derive(Debug, Clone)]
pub struct BrowserInstall {
    /// The browser executable.
    pub browser: PathBuf,
    /// The browser's version (`156.0.8078.79`).
    pub browser_version: String,
    /// The WebDriver server executable.
    pub driver: PathBuf,
    /// The driver's version.
    pub driver_version: String,
}

const CHROMIUM_PACKAGES: &str = "chromium chromium-driver";

/// Finds Chromium and chromedriver; installs them first when `install` is set and they are missing.
pub fn chromium(install: bool) -> Result<BrowserInstall, ProvisionError> {
    match locate_chromium() {
        Ok(found) => Ok(found),
        Err(missing @ ProvisionError::Missing { .. }) if install => {
            apt_install("chromium and chromium-driver", CHROMIUM_PACKAGES).map_err(
                |e| match e {
                    ProvisionError::Missing { .. } => missing,
                    other => other,
                },
            )?;
            locate_chromium()
        }
        Err(e) => Err(e),
    }
}

/// Finds Chromium and chromedriver without installing anything.
pub fn locate_chromium() -> Result<BrowserInstall, ProvisionError> {
    let missing = || ProvisionError::Missing {
        what: "chromium and chromium-driver".into(),
        command: format!("sudo apt-get update && sudo apt-get install -y {CHROMIUM_PACKAGES}"),
    };
    // Debian's /usr/bin/chromium is a shell wrapper; the real binary starts faster and quieter.
    let browser = ["/usr/lib/chromium/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| find_in_path(&["chromium", "chromium-browser"]))
        .ok_or_else(missing)?;
    let driver = find_in_path(&["chromedriver"]).ok_or_else(missing)?;
    let browser_version = version_of(&browser).ok_or_else(missing)?;
    let driver_version = version_of(&driver).ok_or_else(missing)?;
    if major(&browser_version) != major(&driver_version) {
        return Err(ProvisionError::VersionMismatch {
            browser: "chromium".into(),
            browser_version,
            driver: "chromedriver".into(),
            driver_version,
            command: format!(
                "sudo apt-get update && sudo apt-get install -y --only-upgrade {CHROMIUM_PACKAGES}"
            ),
        });
    }
    Ok(BrowserInstall {
        browser,
        browser_version,
        driver,
        driver_version,
    })
}

const COTURN_PACKAGE: &str = "coturn";

/// Finds coturn's `turnserver`; installs the `coturn` package first when `install` is set and it
/// is missing.
pub fn coturn(install: bool) -> Result<PathBuf, ProvisionError> {
    match locate_coturn() {
        Ok(found) => Ok(found),
        Err(missing @ ProvisionError::Missing { .. }) if install => {
            apt_install("coturn (turnserver)", COTURN_PACKAGE).map_err(|e| match e {
                ProvisionError::Missing { .. } => missing,
                other => other,
            })?;
            locate_coturn()
        }
        Err(e) => Err(e),
    }
}

/// Finds coturn's `turnserver` without installing anything.
pub fn locate_coturn() -> Result<PathBuf, ProvisionError> {
    find_in_path(&["turnserver"])
        .or_else(|| Some(PathBuf::from("/usr/bin/turnserver")).filter(|p| p.is_file()))
        .ok_or_else(|| coturn_missing("coturn (turnserver)"))
}

/// The error for a missing coturn, with the command that installs it; `what` names what was
/// looked for.
pub fn coturn_missing(what: &str) -> ProvisionError {
    ProvisionError::Missing {
        what: what.into(),
        command: format!("sudo apt-get update && sudo apt-get install -y {COTURN_PACKAGE}"),
    }
}

/// Installs Debian packages, printing one progress line; `Missing` when this machine cannot.
fn apt_install(what: &str, packages: &str) -> Result<(), ProvisionError> {
    let command = format!("sudo apt-get update && sudo apt-get install -y {packages}");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || find_in_path(&["apt-get"]).is_none() {
        return Err(ProvisionError::Missing {
            what: what.into(),
            command,
        });
    }
    eprintln!(
        "rtc-interop: installing {what} with apt-get (about a minute; log in /tmp/rtc-interop-apt.log) …"
    );
    let script = format!(
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q; apt-get install -y -q {packages}"
    );
    let log = Path::new("/tmp/rtc-interop-apt.log");
    let status = std::fs::File::create(log)
        .and_then(|file| {
            let err = file.try_clone()?;
            Command::new("sh")
                .args(["-c", &script])
                .stdout(file)
                .stderr(err)
                .status()
        })
        .map_err(|e| ProvisionError::InstallFailed {
            what: what.into(),
            reason: e.to_string(),
            command: command.clone(),
        })?;
    if !status.success() {
        let output = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = output.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(ProvisionError::InstallFailed {
            what: what.into(),
            reason: format!("apt-get exited with {status}: {}", tail.join(" | ")),
            command,
        });
    }
    eprintln!("rtc-interop: installed {what}");
    Ok(())
}

/// The first of `names` found on `PATH`.
pub fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The first dotted version number `program --version` prints.
fn version_of(program: &Path) -> Option<String> {
    let output = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find(|word| {
            word.contains('.')
                && word
                    .split('.')
                    .all(|p| p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_error_names_the_install_command() {
        let e = ProvisionError::Missing {
            what: "chromium and chromium-driver".into(),
            command: "sudo apt-get install -y chromium chromium-driver".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("apt-get install -y chromium chromium-driver"),
            "{text}"
        );
    }

    #[test]
    fn major_version() {
        assert_eq!(major("156.0.8078.79"), "156");
    }
}
