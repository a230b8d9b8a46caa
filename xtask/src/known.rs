//! Known issues: expected noise, matched by fingerprint, with a reason and an expiry date.
//! Pure apart from `load`. A known finding stays visible; an expired entry fails the cell.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KnownIssue {
    pub fingerprint: String,
    pub reason: String,
    /// `YYYY-MM-DD`; the entry stops hiding anything after this day.
    pub expires: String,
    #[serde(default)]
    pub cells: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    schema: u32,
    #[serde(default)]
    known_issues: Vec<KnownIssue>,
}

pub fn parse(text: &str, origin: &str) -> Result<Vec<KnownIssue>> {
    let f: File = serde_yaml::from_str(text).map_err(|e| match e.location() {
        Some(l) => anyhow::anyhow!("{origin}:{}:{}: {e}", l.line(), l.column()),
        None => anyhow::anyhow!("{origin}: {e}"),
    })?;
    if f.schema != 1 {
        bail!("{origin}: schema {} is not supported", f.schema);
    }
    for k in &f.known_issues {
        if !valid_date(&k.expires) {
            bail!("{origin}: known issue {}: expires {:?} is not a YYYY-MM-DD date", k.fingerprint, k.expires);
        }
        if k.reason.trim().is_empty() {
            bail!("{origin}: known issue {} has no reason", k.fingerprint);
        }
    }
    Ok(f.known_issues)
}

pub fn load(path: &Path) -> Result<Vec<KnownIssue>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

pub enum Match<'a> {
    Known(&'a KnownIssue),
    Expired(&'a KnownIssue),
    Unknown,
}

/// `today` is `YYYY-MM-DD`: ISO dates compare as strings.
pub fn lookup<'a>(known: &'a [KnownIssue], fingerprint: &str, cell: &str, today: &str) -> Match<'a> {
    match known
        .iter()
        .find(|k| k.fingerprint == fingerprint && (k.cells.is_empty() || k.cells.iter().any(|c| c == cell)))
    {
        Some(k) if k.expires.as_str() >= today => Match::Known(k),
        Some(k) => Match::Expired(k),
        None => Match::Unknown,
    }
}

pub fn today() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_until_expiry_then_expired_and_scoped_to_cells() {
        let k = parse("schema: 1\nknown_issues:\n  - {fingerprint: abc, reason: noise, expires: 2026-12-31, cells: [s390x-upstream-offline]}\n", "k").unwrap();
        assert!(matches!(lookup(&k, "abc", "s390x-upstream-offline", "2026-11-26"), Match::Known(_)));
        assert!(matches!(lookup(&k, "abc", "s390x-upstream-offline", "2027-01-01"), Match::Expired(_)));
        assert!(matches!(lookup(&k, "abc", "arm64-upstream-offline", "2026-11-26"), Match::Unknown));
        assert!(matches!(lookup(&k, "zzz", "s390x-upstream-offline", "2026-11-26"), Match::Unknown));
    }

    #[test]
    fn bad_entries_are_refused_with_location() {
        assert!(parse("schema: 1\nknown_issues:\n  - {fingerprint: a, reason: r, expires: soon}\n", "k")
            .unwrap_err()
            .to_string()
            .contains("YYYY-MM-DD"));
        assert!(parse("schema: 1\nknown_issues:\n  - {fingerprint: a, reason: r, expires: 2027-01-01, why: x}\n", "k")
            .unwrap_err()
            .to_string()
            .starts_with("k:3:"));
        assert!(load(&crate::paths::repo_root().join("configs/known-issues.yaml")).is_ok());
    }
}
