//! The results folder as pages a person reads: `index.html` (the matrix grid, the run's
//! metadata) and `<cell>/index.html` (the cell's timeline, lockout windows, checks and the
//! splat drawn). Self-contained on purpose: inline CSS and SVG, no script, no network, so a
//! folder copied off CI opens from disk as it is, and reads the same with scripts disabled.
//!
//! Pure where it can be: [`grid`] lays the matrix out, [`timeline`] turns a cell's times into
//! spans and shaded windows, [`splat`] turns a lockdep report into its lock cycle; each also
//! renders its part (maud for the markup, plotters' SVG backend for the pictures). Only
//! [`write`] and [`browser`] touch files and processes.

pub mod bisect;
pub mod browser;
pub mod cell;
pub mod compare;
pub mod grid;
pub mod splat;
pub mod timeline;

use std::path::Path;

use anyhow::{Context, Result};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::report::compare::Comparison;
use crate::report::Results;
use crate::verdict::Outcome;

/// Each page's file name: the run's in the results folder, a cell's in the cell's folder.
pub const INDEX: &str = "index.html";

/// Writes `index.html` into `dir` and one page into each cell's folder `dir/<id>/`.
/// Called with every partial report too, so an interrupted run's pages say what finished.
/// `baseline`: what the run is compared with (its name, the comparison), a section of index.html.
/// `meta`: the folder's metadata.json, when it has one that reads.
pub fn write(
    dir: &Path,
    results: &Results,
    meta: Option<&serde_json::Value>,
    baseline: Option<(&str, &Comparison)>,
) -> Result<()> {
    let files: Vec<&str> = ["summary.md", "results.json", "junit.xml", "metadata.json"]
        .into_iter()
        .filter(|f| dir.join(f).exists())
        .collect();
    let index = grid::page(results, meta, &files, baseline);
    crate::util::write_atomic(&dir.join(INDEX), index.into_string().as_bytes()).context("writing index.html")?;
    for c in &results.cells {
        // The page sits beside the cell's logs so its links are plain relative names; a merged
        // folder has copied the logs there too.
        let cdir = dir.join(c.id.to_string());
        std::fs::create_dir_all(&cdir)?;
        // Only a kernel report needs the raw lines; a flooded console is not read for nothing
        // after every cell.
        let console = if c.findings.has_problems() {
            std::fs::read(cdir.join("console.log"))
                .or_else(|_| std::fs::read(c.dir.join("console.log")))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let page = cell::page(c, &cdir, &String::from_utf8_lossy(&console));
        crate::util::write_atomic(&cdir.join(INDEX), page.into_string().as_bytes())
            .with_context(|| format!("writing {}/index.html", c.id))?;
    }
    Ok(())
}

/// The relative link to a cell's page. Ids come from matrix names (`upstream+patch` too), so
/// anything outside the URL-safe set is percent-encoded rather than trusted.
pub fn cell_href(id: &str) -> String {
    format!("{}/{INDEX}", url_escape(id))
}

pub fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// CSS class of an outcome; the palette lives in [`CSS`].
pub fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Error => "error",
        Outcome::Inconclusive => "inconclusive",
        Outcome::Timeout => "timeout",
    }
}

/// Seconds as a person reads them: `0.4 s`, `12 s`, `3 min 05 s`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "-".into()
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else {
        format!("{} min {:02.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// Every page's frame: one stylesheet, inline.
pub fn shell(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
}

/// An SVG a chart function made, or the reason it could not: a page never fails for a picture.
pub fn figure(id: &str, caption: Markup, svg: Result<String>) -> Markup {
    html! {
        figure.chart id=(id) {
            @match svg {
                Ok(s) => (PreEscaped(s)),
                Err(e) => p.note { "could not draw this picture: " (format!("{e:#}")) },
            }
            figcaption { (caption) }
        }
    }
}

const CSS: &str = r#"
:root { --pass:#1b7f3b; --pass-bg:#d8f0de; --fail:#b3261e; --fail-bg:#fadcd8; --error:#9a5b00;
  --error-bg:#fde6c2; --inconclusive:#6b6400; --inconclusive-bg:#f2efbd; --timeout:#6a1b9a;
  --timeout-bg:#ecdcf5; --idle:#666; --idle-bg:#eceff1; --line:#d0d4d9; --muted:#5f6368; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1f21;
  margin: 0 auto; max-width: 1200px; padding: 16px 28px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
a { color: #0b57d0; } code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 8px 10px; overflow-x: auto; max-height: 420px; }
table { border-collapse: collapse; margin: 6px 0; } th, td { border: 1px solid var(--line); padding: 4px 8px;
  text-align: left; vertical-align: top; } th { background: #f3f4f6; font-weight: 600; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 700; font-size: 13px;
  letter-spacing: .02em; }
.pass { color: var(--pass); background: var(--pass-bg); } .fail { color: var(--fail); background: var(--fail-bg); }
.error { color: var(--error); background: var(--error-bg); }
.inconclusive { color: var(--inconclusive); background: var(--inconclusive-bg); }
.timeout { color: var(--timeout); background: var(--timeout-bg); }
.notrun, .pending, .skipped { color: var(--idle); background: var(--idle-bg); }
.status { font-size: 15px; margin: 6px 0 14px; } .note, .muted { color: var(--muted); }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
.meta dt { color: var(--muted); } .meta dd { margin: 0; }
table.grid td.cell { width: 170px; height: 84px; padding: 0; border: 3px solid #fff; }
table.grid td.cell a, table.grid td.cell div.in { display: block; height: 100%; padding: 7px 9px; color: inherit;
  text-decoration: none; } table.grid td.cell a:hover { outline: 2px solid #0b57d0; }
table.grid .word { font-weight: 700; font-size: 15px; } table.grid .sub { font-size: 12px; opacity: .9; }
table.grid th.arch { font-size: 15px; vertical-align: middle; } table.grid th { text-align: center; }
table.grid td.empty { background: repeating-linear-gradient(45deg,#fafafa,#fafafa 6px,#f0f0f0 6px,#f0f0f0 12px); }
ul.checks { list-style: none; padding: 0; } ul.checks li { margin: 3px 0; display: grid;
  grid-template-columns: 92px 220px 1fr; gap: 8px; align-items: baseline; }
ul.checks .word { text-align: center; font-size: 12px; }
figure.chart { margin: 10px 0 18px; } figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 2px; }
nav.top { font-size: 13px; margin-bottom: 4px; } .links a { margin-right: 12px; }
.missing { color: var(--muted); margin-right: 12px; text-decoration: line-through; }
.scenario { display: grid; grid-template-columns: repeat(2, max-content); gap: 0 40px; }
ul.kernels { margin: 0; padding-left: 18px; } #compare td:first-child, #compare td.num { white-space: nowrap; }
ol.frames { columns: 2; font-size: 12.5px; } ol.frames li { break-inside: avoid; }
table.decoded { font-size: 12.5px; border-collapse: collapse; } table.decoded td { padding: 1px 14px 1px 0;
  vertical-align: top; border-bottom: 1px solid #eee; } table.decoded tr.head td { padding-top: 10px; font-weight: 700; }
.splat { border-left: 4px solid var(--fail); padding-left: 14px; margin: 14px 0 24px; }
.splat.expected { border-left-color: var(--pass); }
.windows td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_links_survive_odd_variant_names() {
        assert_eq!(cell_href("s390x-upstream-offline"), "s390x-upstream-offline/index.html");
        assert_eq!(cell_href("arm64-upstream+patch-cancel"), "arm64-upstream+patch-cancel/index.html");
        assert_eq!(cell_href("a b#c"), "a%20b%23c/index.html");
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(seconds(0.42), "0.4 s");
        assert_eq!(seconds(28.6), "29 s");
        assert_eq!(seconds(185.0), "3 min 05 s");
        assert_eq!(seconds(f64::NAN), "-");
    }
}
