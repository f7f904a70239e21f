//! Records the webrtc-rs version from the workspace's Cargo.lock, so reports and `doctor` can name
//! the native stack as exactly as they name browsers.

fn main() {
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    let version = locked_version(&lock, "webrtc").unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RTC_INTEROP_WEBRTC_VERSION={version}");
}

/// The version of package `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}
