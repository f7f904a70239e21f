//! A case's evidence (facts, timelines, media charts, candidates, ladder, SDP) is most of a
//! report's bytes: about 25 KB of markup per case. Parsed up front, a merged report of 5 000
//! cases takes 13 s to open. So the page carries it gzip-compressed, in chunks of
//! [`CHUNK`] cases, and unpacks a chunk only when one of its cases is opened (the browser's own
//! `DecompressionStream`: no library, no network, works from `file://`).

use std::fmt::Write as _;
use std::io::{Read, Write};

use base64::prelude::{BASE64_STANDARD, Engine};

/// Cases per compressed chunk: opening a case unpacks at most this many.
pub const CHUNK: usize = 50;

/// Where case `index`'s evidence goes in the page, until it is opened.
pub fn placeholder(index: usize) -> String {
    format!("<div class=\"evidence\" data-case=\"{index}\"></div>\n")
}

/// The script elements holding `evidence` (one markup string per case, in case order).
pub fn chunks(evidence: &[String]) -> String {
    let mut html = String::new();
    for (k, chunk) in evidence.chunks(CHUNK).enumerate() {
        let json = serde_json::to_vec(chunk).expect("strings are JSON");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&json).expect("writing to memory");
        let packed = gzip.finish().expect("writing to memory");
        let _ = writeln!(
            html,
            "<script type=\"application/gzip;base64\" id=\"evidence-{k}\">{}</script>",
            BASE64_STANDARD.encode(packed)
        );
    }
    html
}

/// Unpacks a chunk and fills in a case's evidence when the case is opened.
pub const SCRIPT: &str = "var evidenceChunks={};\n\
function evidenceChunk(k){return evidenceChunks[k]||(evidenceChunks[k]=new Response(new Blob([Uint8Array.from(atob(document.getElementById('evidence-'+k).textContent),function(c){return c.charCodeAt(0);})]).stream().pipeThrough(new DecompressionStream('gzip'))).json());}\n\
function fill(d){var e=d.querySelector(':scope>.body>.evidence[data-case]');if(!e)return;var n=+e.dataset.case;e.removeAttribute('data-case');\
evidenceChunk(Math.floor(n/CHUNK)).then(function(list){e.innerHTML=list[n%CHUNK];e.classList.add('filled');},function(err){e.textContent='cannot unpack this case: '+err;});}\n";

/// `html` with every case's evidence in place, as a browser shows an opened case: for tools and
/// tests that read a report's markup.
pub fn expanded(html: &str) -> Result<String, String> {
    let mut evidence: Vec<String> = Vec::new();
    let opener = "<script type=\"application/gzip;base64\" id=\"evidence-";
    let mut rest = html;
    while let Some(at) = rest.find(opener) {
        let body = &rest[at + opener.len()..];
        let start = body.find('>').ok_or("an evidence chunk has no body")? + 1;
        let end = body
            .find("</script>")
            .ok_or("an evidence chunk is not closed")?;
        let packed = BASE64_STANDARD
            .decode(&body[start..end])
            .map_err(|e| format!("an evidence chunk is not base64: {e}"))?;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut json)
            .map_err(|e| format!("an evidence chunk is not gzip: {e}"))?;
        let chunk: Vec<String> = serde_json::from_slice(&json)
            .map_err(|e| format!("an evidence chunk is not a JSON list: {e}"))?;
        evidence.extend(chunk);
        rest = &body[end..];
    }
    let mut out = html.to_string();
    for (index, markup) in evidence.iter().enumerate() {
        out = out.replacen(&placeholder(index), markup, 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_round_trips_through_the_chunks() {
        let evidence: Vec<String> = (0..CHUNK * 2 + 3)
            .map(|i| format!("<p>case {i} &amp; its \"evidence\" ↔</p>"))
            .collect();
        let mut page = String::new();
        for i in 0..evidence.len() {
            page.push_str(&placeholder(i));
        }
        page.push_str(&chunks(&evidence));
        assert_eq!(page.matches("id=\"evidence-").count(), 3);
        let shown = expanded(&page).unwrap();
        for markup in &evidence {
            assert!(shown.contains(markup.as_str()), "{markup}");
        }
        assert!(!shown.contains("data-case="));
        assert!(
            expanded("<script type=\"application/gzip;base64\" id=\"evidence-0\">!!</script>")
                .is_err()
        );
    }
}
