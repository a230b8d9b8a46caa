//! The report opened in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `setup`) loads each page from disk, and the DOM it built is checked, not our own string:
//! the grid has one cell per planned cell, every cell page has its timeline, every relative
//! link leads to a file, and the browser logged no console message (the pages have no script,
//! so any message is an error). Screenshots are saved beside the pages.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use regex::Regex;

use super::INDEX;

/// Where Chromium is: `$KSMH_CHROMIUM`, else the first of Debian's and others' names on PATH.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KSMH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .find_map(|c| crate::tools::which(c))
}

/// A page load must not hang a test run; a cold Chromium start on a busy 2-core box takes seconds.
const PAGE_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs Chromium headless on one page with `extra` arguments; stdout and stderr.
fn chromium(bin: &Path, page: &Path, extra: &[String]) -> Result<(String, String)> {
    // A profile per run: two checks at once (cargo runs tests in parallel) must not share one.
    let profile = std::env::temp_dir().join(format!("ksmh-chromium-{}-{}", std::process::id(), unique()));
    let mut args: Vec<String> = vec![
        "--headless".into(),
        // As root (CI's containers) Chromium refuses to start sandboxed.
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--hide-scrollbars".into(),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().cloned());
    args.push(file_url(page)?);
    let g =
        crate::tools::Group::start(duct::cmd(bin, &args).stdin_null().stdout_capture().stderr_capture().unchecked())
            .with_context(|| format!("starting {}", bin.display()))?;
    let t0 = Instant::now();
    let out = loop {
        if let Some(o) = g.handle.try_wait()? {
            break o.clone();
        }
        if t0.elapsed() > PAGE_TIMEOUT {
            drop(g);
            let _ = std::fs::remove_dir_all(&profile);
            bail!("{} did not finish {} within {} s", bin.display(), page.display(), PAGE_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(g);
    let _ = std::fs::remove_dir_all(&profile);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    if !out.status.success() {
        bail!("{} exited with {} on {}:\n{}", bin.display(), out.status, page.display(), tail(&stderr, 12));
    }
    Ok((stdout, stderr))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn file_url(p: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(p).with_context(|| format!("{} does not exist", p.display()))?;
    let s = abs.to_str().context("page path is not UTF-8")?;
    Ok(format!("file://{}", s.split('/').map(super::url_escape).collect::<Vec<_>>().join("/")))
}

/// The DOM Chromium built from a page, and the console messages it logged.
pub fn dump_dom(bin: &Path, page: &Path) -> Result<(String, Vec<String>)> {
    let (dom, log) = chromium(bin, page, &["--dump-dom".into()])?;
    Ok((dom, console_messages(&log)))
}

/// A screenshot of a page at `width` x `height` CSS pixels.
pub fn screenshot(bin: &Path, page: &Path, out: &Path, (width, height): (u32, u32)) -> Result<()> {
    let _ = std::fs::remove_file(out);
    chromium(bin, page, &[format!("--screenshot={}", out.display()), format!("--window-size={width},{height}")])?;
    if !out.exists() {
        bail!("Chromium wrote no screenshot {}", out.display());
    }
    Ok(())
}

/// Chromium's log lines that carry a page's console messages (`INFO:CONSOLE(..)`).
pub fn console_messages(log: &str) -> Vec<String> {
    log.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect()
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("regex"))
}

/// The ids of the grid's cells, as table cells of the browser's DOM (markup the parser had to
/// move or drop would not be there).
pub fn grid_cells(dom: &str) -> Vec<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r#"<td\b[^>]*\bdata-cell="([^"]*)""#).captures_iter(dom).map(|c| c[1].to_string()).collect()
}

/// Whether the element with `id` holds an SVG picture.
pub fn has_svg(dom: &str, id: &str) -> bool {
    let open = format!("id=\"{id}\"");
    let Some(at) = dom.find(&open) else { return false };
    let rest = &dom[at..];
    let end = rest.find("</figure>").unwrap_or(rest.len());
    rest[..end].contains("<svg")
}

/// Relative links of a page (`href` and `src`), decoded, that do not lead to a file next to it.
pub fn dead_links(dom: &str, page_dir: &Path) -> Vec<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r##"\b(?:href|src)="([^"#?]+)[^"]*""##)
        .captures_iter(dom)
        .map(|c| c[1].to_string())
        .filter(|h| !h.contains(':'))
        .filter(|h| !page_dir.join(percent_decode(h)).exists())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the browser showed of one results folder.
#[derive(Debug, Default)]
pub struct Checked {
    /// Pages loaded (index and cells).
    pub pages: usize,
    /// Grid cells the DOM holds, in page order.
    pub grid_cells: Vec<String>,
    /// Cell pages whose timeline is a picture.
    pub timelines: usize,
    /// Cell pages with a lock cycle drawn.
    pub cycles: usize,
    pub screenshots: Vec<PathBuf>,
    /// Everything wrong, one line each; empty when the report renders as it should.
    pub problems: Vec<String>,
}

/// Loads `dir/index.html` and every cell page in Chromium. `planned`: the cell ids the grid
/// must show, each once. Screenshots: `dir/index.png`, and `<cell>/index.png` for the first
/// cell with a lock cycle (else the first cell).
pub fn check(bin: &Path, dir: &Path, planned: &[String]) -> Result<Checked> {
    let mut r = Checked::default();
    let index = dir.join(INDEX);
    let (dom, console) = dump_dom(bin, &index)?;
    r.pages += 1;
    r.problems.extend(console.iter().map(|m| format!("index.html: console message: {m}")));
    r.grid_cells = grid_cells(&dom);
    let mut want = planned.to_vec();
    want.sort();
    let mut have = r.grid_cells.clone();
    have.sort();
    if want != have {
        r.problems.push(format!("index.html: the grid shows cells {have:?}, the plan has {want:?}"));
    }
    r.problems.extend(dead_links(&dom, dir).into_iter().map(|l| format!("index.html: dead link {l}")));
    let mut shot_cell: Option<PathBuf> = None;
    for id in planned {
        let page = dir.join(id).join(INDEX);
        if !page.exists() {
            // A planned cell that never ran has no page; the grid says NOT RUN.
            continue;
        }
        let (dom, console) = dump_dom(bin, &page)?;
        r.pages += 1;
        r.problems.extend(console.iter().map(|m| format!("{id}: console message: {m}")));
        if !dom.contains(r#"id="timeline""#) {
            r.problems.push(format!("{id}: the page has no timeline"));
        }
        if has_svg(&dom, "timeline") {
            r.timelines += 1;
        }
        if has_svg(&dom, "cycle-0") {
            r.cycles += 1;
            shot_cell.get_or_insert_with(|| page.clone());
        }
        if !dom.contains(r#"id="checks""#) {
            r.problems.push(format!("{id}: the page has no checks list"));
        }
        r.problems
            .extend(dead_links(&dom, page.parent().unwrap_or(dir)).into_iter().map(|l| format!("{id}: dead link {l}")));
    }
    let png = dir.join("index.png");
    screenshot(bin, &index, &png, (1280, 900))?;
    r.screenshots.push(png);
    let cell_page = shot_cell.or_else(|| planned.iter().map(|id| dir.join(id).join(INDEX)).find(|p| p.exists()));
    if let Some(page) = cell_page {
        let png = page.with_extension("png");
        screenshot(bin, &page, &png, (1280, 2300))?;
        r.screenshots.push(png);
    }
    Ok(r)
}

/// `cargo xtask test`'s check of its merged report: whether it passed, and one line to print.
pub fn suite_check(dir: &Path, planned: &[String]) -> (bool, String) {
    let Some(bin) = find() else {
        return (false, "chromium not found: run `cargo xtask setup` (apt-get install -y chromium)".into());
    };
    match check(&bin, dir, planned) {
        Ok(c) if c.problems.is_empty() => (
            true,
            format!(
                "ok: {} pages rendered, {} grid cells, {} timelines, {} lock cycles drawn; screenshots: {}",
                c.pages,
                c.grid_cells.len(),
                c.timelines,
                c.cycles,
                c.screenshots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        ),
        Ok(c) => (false, format!("{} problem(s):\n  {}", c.problems.len(), c.problems.join("\n  "))),
        Err(e) => (false, format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_cells_are_read_from_table_cells_only() {
        let dom = r#"<table><tbody><tr><td class="cell pass" data-cell="a-b-c" title="x"><a>..</a></td><td class="empty"></td>
            <td data-cell="d-e-f"></td></tr></tbody></table><div data-cell="not-a-td"></div>"#;
        assert_eq!(grid_cells(dom), vec!["a-b-c", "d-e-f"]);
    }

    #[test]
    fn a_timeline_counts_only_with_its_picture() {
        assert!(has_svg(
            r#"<figure class="chart" id="timeline"><svg width="1"></svg><figcaption>..</figcaption></figure>"#,
            "timeline"
        ));
        assert!(!has_svg(
            r#"<figure class="chart" id="timeline"><p class="note">none</p></figure><figure><svg></svg></figure>"#,
            "timeline"
        ));
        assert!(!has_svg("<body></body>", "timeline"));
    }

    #[test]
    fn dead_links_are_relative_ones_without_a_file() {
        let dir = std::env::temp_dir().join(format!("ksmh-links-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a b")).unwrap();
        std::fs::write(dir.join("a b/index.html"), "").unwrap();
        std::fs::write(dir.join("console.log"), "").unwrap();
        let dom = r##"<a href="a%20b/index.html">x</a><a href="console.log">c</a><a href="build.log">b</a>
            <a href="#checks">in-page</a><a href="https://example.invalid/">ext</a><svg xmlns="http://www.w3.org/2000/svg"></svg>"##;
        assert_eq!(dead_links(dom, &dir), vec!["build.log"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_console_lines_of_the_log_count() {
        let log = "[1:2:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n[3:3:INFO:CONSOLE:1] \"boom\", source: file:///x (1)\n";
        assert_eq!(console_messages(log).len(), 1);
    }
}
