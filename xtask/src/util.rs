//! Small helpers shared by several stages.

use std::path::Path;

use sha2::{Digest, Sha256};

pub fn short_hash(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The last `n` lines of a log file, for error messages that point at the full log.
pub fn tail_lines(path: &Path, n: usize) -> String {
    tail(&String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()), n)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// `20261126-112233`, for results folder names.
pub fn now_stamp() -> String {
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}
