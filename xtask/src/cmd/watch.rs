//! `cargo xtask watch`: `run` again whenever what the cell is made of changes (the variant's
//! patches, `--patch` files, rust-ksm, `--kernel-src`, the matrix file, `--watch` paths),
//! printing one line per round: what changed, the verdict, and what moved since the last one.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use notify::{EventKind, RecursiveMode, Watcher as _};

use super::run::Run;
use crate::report::CellResult;

/// Run a cell, then again on every change to its inputs, one line per round (Ctrl-C stops)
#[derive(clap::Args)]
pub struct Watch {
    #[command(flatten)]
    run: Run,
    /// More files or folders whose changes start a round
    #[arg(long = "watch")]
    extra: Vec<PathBuf>,
    /// Quiet time after a change before the round starts (an editor saves in several writes)
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
}

impl Watch {
    pub fn run(self) -> Result<i32> {
        let mut inputs = self.run.inputs()?;
        inputs.extend(self.extra.iter().cloned());
        let (tx, rx) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(tx).context("starting the file watcher (inotify)")?;
        for p in &inputs {
            let mode = if p.is_dir() { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            watcher.watch(p, mode).with_context(|| format!("watching {}", p.display()))?;
        }
        println!("watching {} (Ctrl-C stops)", inputs.iter().map(|p| short(p)).collect::<Vec<_>>().join(", "));
        crate::progress::set_quiet(true);
        let mut last: Option<CellResult> = None;
        let mut changed: Vec<PathBuf> = Vec::new();
        loop {
            let t = Instant::now();
            let round = self.run.execute();
            match round {
                Ok((cell, dir)) => {
                    println!("{}", line(&changed, &cell, last.as_ref(), t.elapsed().as_secs_f64(), &dir));
                    last = Some(cell);
                }
                Err(e) => println!("{}round failed: {e:#}", changes(&changed)),
            }
            changed = match next_changes(&rx, Duration::from_millis(self.settle_ms)) {
                Some(c) => c,
                None => return Ok(0),
            };
        }
    }
}

/// Waits for a relevant change, then for quiet; None when interrupted or the watcher is gone.
fn next_changes(rx: &mpsc::Receiver<notify::Result<notify::Event>>, settle: Duration) -> Option<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    loop {
        if crate::tools::interrupted() {
            return None;
        }
        let wait = if paths.is_empty() { Duration::from_millis(200) } else { settle };
        match rx.recv_timeout(wait) {
            Ok(Ok(ev)) if matters(&ev.kind) => {
                for p in ev.paths.into_iter().filter(|p| relevant(p)) {
                    if !paths.contains(&p) {
                        paths.push(p);
                    }
                }
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) if !paths.is_empty() => return Some(paths),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn matters(k: &EventKind) -> bool {
    matches!(k, EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_))
}

/// A change that can change the kernel: not build output, git's own files or an editor's
/// scratch files.
fn relevant(p: &Path) -> bool {
    let s = p.to_string_lossy();
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    !(s.contains("/target/")
        || s.contains("/.git/")
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913")
}

fn short(p: &Path) -> String {
    let repo = crate::paths::repo_root();
    p.strip_prefix(&repo).unwrap_or(p).display().to_string()
}

fn changes(changed: &[PathBuf]) -> String {
    match changed {
        [] => String::new(),
        [one] => format!("{} changed: ", short(one)),
        [one, rest @ ..] => format!("{} (+{} more) changed: ", short(one), rest.len()),
    }
}

/// The round's line: what changed, the verdict, and what moved since the last round (the
/// outcome, the checks that flipped).
fn line(changed: &[PathBuf], c: &CellResult, last: Option<&CellResult>, secs: f64, dir: &Path) -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut s = format!(
        "[{:02}:{:02}:{:02}] {}{}: {} — {} ({secs:.0} s)",
        now.hour(),
        now.minute(),
        now.second(),
        changes(changed),
        c.id,
        c.verdict.outcome.name(),
        c.verdict.reason
    );
    if let Some(l) = last {
        let moved = since(l, c);
        s.push_str(&if moved.is_empty() { "; same as before".to_string() } else { format!("; {}", moved.join(", ")) });
    }
    s.push_str(&format!(" {}", dir.display()));
    s
}

/// What differs from the last round: the outcome, and each check that went from ok to not or
/// back (or appeared).
fn since(last: &CellResult, now: &CellResult) -> Vec<String> {
    let mut v = Vec::new();
    if last.verdict.outcome != now.verdict.outcome {
        v.push(format!("was {}", last.verdict.outcome.name()));
    }
    for ch in &now.verdict.checks {
        let before = last.verdict.checks.iter().find(|b| b.name == ch.name).map(|b| b.ok);
        let word = |ok: bool| if ok { "ok" } else { "FAIL" };
        match before {
            Some(b) if b != ch.ok => v.push(format!("{} {} -> {}", ch.name, word(b), word(ch.ok))),
            None => v.push(format!("{} new: {}", ch.name, word(ch.ok))),
            _ => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_and_editor_files_do_not_start_a_round() {
        assert!(relevant(Path::new("/work/main/rust-ksm/src/lib.rs")));
        assert!(relevant(Path::new("/home/me/linux/mm/ksm.c")));
        for p in [
            "/work/main/rust-ksm/target/debug/x.o",
            "/home/me/linux/.git/index.lock",
            "/home/me/linux/mm/.ksm.c.swp",
            "/home/me/linux/mm/ksm.c~",
            "/home/me/linux/mm/4913",
        ] {
            assert!(!relevant(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn a_round_says_what_moved_since_the_last() {
        let before: CellResult = serde_json::from_value(serde_json::json!({
            "id": "s390x-rust-offline", "arch": "s390x", "variant": "rust", "scenario": "offline",
            "expectation": "clean",
            "verdict": { "outcome": "PASS", "reason": "clean, lockout held", "checks": [
                { "name": "lockout-held", "ok": true, "detail": "1 window(s)" },
                { "name": "guest-finished", "ok": true, "detail": "done marker" },
            ] },
            "findings": { "findings": [], "lines": 0, "lockdep_turned_off": false },
            "guest": crate::vm::markers::GuestReport::default(),
            "host": { "harness_error": null, "dimm_expected": false, "interrupted": false, "timed_out": null, "qemu_exit": 0, "dimm_removed": null },
            "stages": [["build", 1.3]], "kernel_rebuilt": false, "dir": "/nonexistent",
        }))
        .unwrap();
        let mut after = before.clone();
        assert!(since(&before, &after).is_empty());
        after.verdict.outcome = crate::verdict::Outcome::Fail;
        after.verdict.checks[0].ok = !before.verdict.checks[0].ok;
        let moved = since(&before, &after);
        assert_eq!(moved[0], format!("was {}", before.verdict.outcome.name()));
        assert!(moved[1].starts_with(&before.verdict.checks[0].name), "{moved:?}");
        let l = line(&[PathBuf::from("/x/rust-ksm/src/lib.rs")], &after, Some(&before), 23.4, Path::new("/r"));
        assert!(
            l.contains("/x/rust-ksm/src/lib.rs changed: ") && l.contains(": FAIL — ") && l.contains("(23 s)"),
            "{l}"
        );
    }
}
