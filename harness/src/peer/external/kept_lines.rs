//! The part of an external program's log that a report keeps: its first lines and its last ones.
//! The start holds how the connection was set up (a DTLS handshake, the first ICE checks), the end
//! how the case ended; with a stack's debug logging on, the middle is what can go.

use std::collections::VecDeque;

/// How many of the first lines are kept.
const HEAD_LINES: usize = 500;
/// How many of the last lines are kept.
const TAIL_LINES: usize = 1500;

/// A program's log lines, its first [`HEAD_LINES`] and last [`TAIL_LINES`].
#[derive(Debug, Default)]
pub struct KeptLines {
    head: Vec<String>,
    tail: VecDeque<String>,
    left_out: usize,
}

impl KeptLines {
    /// Adds the next line.
    pub fn push(&mut self, line: String) {
        if self.head.len() < HEAD_LINES {
            self.head.push(line);
            return;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
            self.left_out += 1;
        }
        self.tail.push_back(line);
    }

    /// Every kept line in order, with one line saying how many were left out between.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = self.head.clone();
        if self.left_out > 0 {
            lines.push(format!("… {} lines left out …", self.left_out));
        }
        lines.extend(self.tail.iter().cloned());
        lines
    }

    /// The last `n` lines.
    pub fn last(&self, n: usize) -> Vec<&str> {
        let all: Vec<&str> = self
            .head
            .iter()
            .chain(self.tail.iter())
            .map(String::as_str)
            .collect();
        all[all.len().saturating_sub(n)..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_keeps_its_start_and_its_end() {
        let mut kept = KeptLines::default();
        let total = HEAD_LINES + TAIL_LINES + 7;
        for i in 0..total {
            kept.push(format!("line {i}"));
        }
        let lines = kept.lines();
        assert_eq!(lines.len(), HEAD_LINES + 1 + TAIL_LINES);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[HEAD_LINES - 1], format!("line {}", HEAD_LINES - 1));
        assert_eq!(lines[HEAD_LINES], "… 7 lines left out …");
        assert_eq!(lines[HEAD_LINES + 1], format!("line {}", HEAD_LINES + 7));
        assert_eq!(lines.last().unwrap(), &format!("line {}", total - 1));
        assert_eq!(
            kept.last(2),
            [format!("line {}", total - 2), format!("line {}", total - 1)]
        );
    }

    #[test]
    fn a_short_log_is_kept_whole() {
        let mut kept = KeptLines::default();
        for i in 0..3 {
            kept.push(format!("line {i}"));
        }
        assert_eq!(kept.lines(), ["line 0", "line 1", "line 2"]);
        assert_eq!(kept.last(5), ["line 0", "line 1", "line 2"]);
    }
}
