//! Setting the features of several descriptions side by side (`rtc-interop sdp compare`).

use super::features::{MediaFeatures, SdpFeatures};

/// Renders a plain-text table: one row per feature, one column per description (named by the
/// first element of each pair, e.g. `chromium offer`; a name with line breaks takes several
/// header lines). Rows whose values differ between columns start with `*`; `-` means the
/// description does not have the feature at all.
pub fn compare_table(rows: &[(String, SdpFeatures)]) -> String {
    let columns: Vec<Vec<Row>> = rows.iter().map(|(_, f)| feature_rows(f)).collect();
    let keys = merged_keys(&columns);
    let mut table: Vec<Vec<String>> = Vec::with_capacity(keys.len() + 2);
    let header_lines = rows
        .iter()
        .map(|(name, _)| name.lines().count())
        .max()
        .unwrap_or(1)
        .max(1);
    for i in 0..header_lines {
        let mut header = vec![
            String::new(),
            if i == 0 { "feature" } else { "" }.to_string(),
        ];
        header.extend(
            rows.iter()
                .map(|(name, _)| name.lines().nth(i).unwrap_or("").to_string()),
        );
        table.push(header);
    }
    for key in &keys {
        let cells: Vec<String> = columns
            .iter()
            .map(|column| {
                column
                    .iter()
                    .find(|r| &r.key == key)
                    .map_or_else(|| "-".to_string(), |r| r.value.clone())
            })
            .collect();
        let differs = cells.iter().any(|c| c != &cells[0]);
        let mut line = vec![if differs { "*" } else { "" }.to_string(), key.clone()];
        line.extend(cells);
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (index, line) in table.iter().enumerate() {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            text.push_str(&" ".repeat(widths[i] - cell.chars().count()));
        }
        out.push_str(text.trim_end());
        out.push('\n');
        if index + 1 == header_lines {
            // No rule over the marker column, where a `-` could pass for a marker.
            let rule: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| if i == 0 { " " } else { "-" }.repeat(*w))
                .collect();
            out.push_str(rule.join("  ").trim_end());
            out.push('\n');
        }
    }
    out.push_str("(* = values differ; - = not present)\n");
    out
}

/// One feature of one description.
struct Row {
    /// Rows of a group (a section's codecs, its extensions) stay together when merged.
    group: String,
    key: String,
    value: String,
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn row(key: impl Into<String>, value: impl Into<String>) -> Row {
    let key = key.into();
    Row {
        group: key.clone(),
        key,
        value: value.into(),
    }
}

fn feature_rows(f: &SdpFeatures) -> Vec<Row> {
    let groups: Vec<String> = f.bundle_groups.iter().map(|g| g.join(" ")).collect();
    let mut rows = vec![
        row(
            "session: BUNDLE",
            if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(" | ")
            },
        ),
        row("session: ice trickle", yes_no(f.ice_trickle)),
        row("session: extmap-allow-mixed", yes_no(f.extmap_allow_mixed)),
        row("session: data channel only", yes_no(f.data_channel_only)),
    ];
    if f.ice_lite {
        rows.push(row("session: ice-lite", "yes"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for media in &f.media {
        let n = seen.iter().filter(|k| **k == media.kind).count();
        seen.push(&media.kind);
        let label = if n == 0 {
            media.kind.clone()
        } else {
            format!("{}#{}", media.kind, n + 1)
        };
        media_rows(&label, media, &mut rows);
    }
    rows
}

fn media_rows(label: &str, m: &MediaFeatures, rows: &mut Vec<Row>) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    rows.push(row(format!("{label}: protocol"), m.protocol.clone()));
    rows.push(row(format!("{label}: mid"), opt(&m.mid)));
    if m.rejected {
        rows.push(row(format!("{label}: rejected"), "yes"));
    }
    rows.push(row(format!("{label}: direction"), opt(&m.direction)));
    rows.push(row(format!("{label}: setup"), opt(&m.setup)));
    let rtp = m.protocol.contains("RTP");
    if rtp {
        rows.push(row(format!("{label}: rtcp-mux"), yes_no(m.rtcp_mux)));
        rows.push(row(format!("{label}: rtcp-rsize"), yes_no(m.rtcp_rsize)));
    }
    for codec in &m.codecs {
        rows.push(Row {
            group: format!("{label}: codec"),
            key: format!("{label}: codec {codec}"),
            value: "yes".to_string(),
        });
    }
    for uri in &m.header_extensions {
        rows.push(Row {
            group: format!("{label}: extmap"),
            key: format!("{label}: extmap {uri}"),
            value: "yes".to_string(),
        });
    }
    if let Some(port) = m.sctp_port {
        rows.push(row(format!("{label}: sctp-port"), port.to_string()));
    }
    if m.sctp_port.is_some() || m.max_message_size.is_some() {
        rows.push(row(
            format!("{label}: max-message-size"),
            m.max_message_size
                .map_or_else(|| "-".to_string(), |s| s.to_string()),
        ));
    }
}

/// Every key of every column once: in the first column's order, with keys only later columns
/// have placed after the last key of their group (or the last key of their section).
fn merged_keys(columns: &[Vec<Row>]) -> Vec<String> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for column in columns {
        let mut previous: Option<usize> = None;
        for r in column {
            if let Some(at) = keys.iter().position(|(_, k)| *k == r.key) {
                previous = Some(at);
                continue;
            }
            let at = keys
                .iter()
                .rposition(|(g, _)| *g == r.group)
                .map(|i| i + 1)
                .or(previous.map(|i| i + 1))
                .unwrap_or(keys.len());
            keys.insert(at, (r.group.clone(), r.key.clone()));
            previous = Some(at);
        }
    }
    keys.into_iter().map(|(_, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::features;

    #[test]
    fn marks_rows_that_differ_and_keeps_groups_together() {
        let a = features(
            "v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\na=rtpmap:111 opus/48000/2\na=rtcp-mux\n",
        )
        .unwrap();
        let b = features(
            "v=0\na=ice-options:trickle\nm=audio 9 UDP/TLS/RTP/SAVPF 111 8\na=rtpmap:111 opus/48000/2\na=rtcp-mux\n",
        )
        .unwrap();
        let table = compare_table(&[("left".into(), a), ("right".into(), b)]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].contains("feature") && lines[0].contains("left") && lines[0].contains("right")
        );
        let find = |key: &str| {
            *lines
                .iter()
                .find(|l| l.contains(key))
                .unwrap_or_else(|| panic!("no `{key}` in\n{table}"))
        };
        assert!(find("ice trickle").starts_with('*'), "{table}");
        assert!(find("codec opus/48000/2").starts_with(' '), "{table}");
        assert!(find("codec PCMU/8000").starts_with('*'), "{table}");
        assert!(
            find("codec PCMA/8000").trim_end().ends_with("yes"),
            "{table}"
        );
        let pcmu = lines.iter().position(|l| l.contains("PCMU")).unwrap();
        let pcma = lines.iter().position(|l| l.contains("PCMA")).unwrap();
        assert_eq!(pcma, pcmu + 1, "codec rows stay together:\n{table}");
    }

    #[test]
    fn names_with_line_breaks_take_several_header_lines() {
        let f = features("v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\n").unwrap();
        let table = compare_table(&[
            ("native answer\n(to chromium)".into(), f.clone()),
            ("firefox answer".into(), f),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].contains("feature") && lines[0].contains("native answer"),
            "{table}"
        );
        assert!(lines[0].trim_end().ends_with("firefox answer"), "{table}");
        assert!(lines[1].trim().starts_with("(to chromium)"), "{table}");
        assert!(lines[2].trim_start().starts_with("---"), "{table}");
    }
}
