//! Reports: consumers of the runner's events. Each format is one [`Reporter`].

pub mod candidate_matrix;
mod html;
mod json;
mod junit;
mod terminal;
#[cfg(test)]
mod test_fixtures;

use std::io;
use std::path::{Path, PathBuf};

pub use html::HtmlReport;
pub use json::JsonReport;
pub use junit::JunitReport;
pub use terminal::TerminalReport;

use crate::outcome::{CaseResult, RunSummary};
use crate::plan::Case;

/// What happens during a run, in order.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The environment is ready and these cases are about to run.
    Started {
        /// The run's id (also its folder name under `reports/`).
        run_id: &'a str,
        /// Every case, in the order they run.
        cases: &'a [Case],
    },
    /// A case begins.
    CaseStarted {
        /// The case.
        case: &'a Case,
        /// Its position in the run, from 0.
        index: usize,
    },
    /// A case has a verdict.
    CaseFinished {
        /// The verdict and its evidence.
        result: &'a CaseResult,
    },
    /// Every case has run.
    Finished {
        /// All results, in run order.
        results: &'a [CaseResult],
        /// Their counts.
        summary: &'a RunSummary,
    },
}

/// A consumer of run events.
pub trait Reporter {
    /// The report's name, for error messages.
    fn name(&self) -> &'static str;
    /// Handles one event.
    fn on_event(&mut self, event: &RunEvent<'_>) -> io::Result<()>;
}

/// Creates `reports/<run_id>/` and points `reports/latest` at it.
pub fn create_run_folder(reports: &Path, run_id: &str) -> io::Result<PathBuf> {
    let folder = reports.join(run_id);
    std::fs::create_dir_all(&folder)?;
    let latest = reports.join("latest");
    if latest.symlink_metadata().is_ok() {
        std::fs::remove_file(&latest)?;
    }
    std::os::unix::fs::symlink(run_id, &latest)?;
    Ok(folder)
}

/// A run id from the local time, `20261122-204512`, made unique within `reports`.
pub fn new_run_id(reports: &Path) -> String {
    let base = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let mut id = base.clone();
    let mut n = 1;
    while reports.join(&id).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by entities: safe as element content and as a
/// quoted attribute value, in HTML and in XML alike.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 has no way to write these, escaped or not (a junit.xml with one does not
            // parse); HTML calls them errors. Shown as text instead.
            c if is_control(c) && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` with every control character (escape sequences from a peer, a NUL from a file) shown as
/// `\u{1b}` instead: what the terminal prints of text the harness did not write itself.
pub(crate) fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if is_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// C0 and C1 controls, DEL, and the two noncharacters XML refuses.
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_replaces_every_markup_character() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("candidate:1 1 udp ↔ ok"), "candidate:1 1 udp ↔ ok");
        assert_eq!(escape("a\u{1b}[31mb\0\tc\n"), "a\\u{1b}[31mb\\u{0}\tc\n");
    }

    #[test]
    fn terminal_text_shows_control_characters_instead_of_obeying_them() {
        assert_eq!(super::visible("plain ↔ text"), "plain ↔ text");
        assert_eq!(super::visible("\u{1b}[2Jgone\u{7}"), "\\u{1b}[2Jgone\\u{7}");
    }
}
