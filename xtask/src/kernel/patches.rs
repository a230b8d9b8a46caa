//! Patch series per variant, applied to the per-arch source copy. Switching variants first
//! restores exactly the files the previous series touched (from the pristine tree, with a
//! fresh mtime so make rebuilds them), then checks and applies the new series: a variant
//! switch recompiles only what the patches touch, and the tree can always go back to pristine.
//!
//! A switch cut short at any point recovers on the next run: the state file (written whole or
//! not at all) lists a patch's files *before* the patch touches them, so the next switch
//! restores them too; a state file that cannot be read makes the whole tree mirror pristine.

use std::path::{Path, PathBuf};

use crate::tools;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

const STATE: &str = ".ksmh-applied.json";

/// Files a unified diff touches, and whether it creates them (`--- /dev/null`). Pure.
pub fn touched_files(patch: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut from_null = false;
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("--- ") {
            from_null = rest.split('\t').next().unwrap_or("").trim() == "/dev/null";
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            let path = rest.split('\t').next().unwrap_or("").trim();
            // -p1: drop the first component (b/...).
            if let Some((_, p)) = path.split_once('/') {
                if !out.iter().any(|(q, _): &(String, bool)| q == p) {
                    out.push((p.to_string(), from_null));
                }
            }
        }
    }
    out
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct State {
    /// (file name, sha256) of each applied patch, in order.
    patches: Vec<(String, String)>,
    /// Files the applied patches modified (restored from pristine on switch).
    modified: Vec<String>,
    /// Files the applied patches created (deleted on switch).
    created: Vec<String>,
}

/// The state of `tree`; None when the file exists but cannot be read (then nothing about the
/// tree is known).
fn read_state(tree: &Path) -> Option<State> {
    match std::fs::read(tree.join(STATE)) {
        Ok(b) => serde_json::from_slice(&b).ok(),
        Err(_) => Some(State::default()),
    }
}

fn write_state(tree: &Path, s: &State) -> Result<()> {
    crate::util::write_atomic(&tree.join(STATE), &serde_json::to_vec_pretty(s)?)?;
    Ok(())
}

/// The files the currently applied series owns (sync must not touch them).
pub fn owned_files(tree: &Path) -> Vec<String> {
    let s = read_state(tree).unwrap_or_default();
    s.modified.into_iter().chain(s.created).collect()
}

/// Patch files of a series: a directory's `*.patch` in name order, or files as given.
pub fn expand(entries: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in entries {
        if e.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(e)?
                .flatten()
                .map(|d| d.path())
                .filter(|p| p.extension().is_some_and(|x| x == "patch" || x == "diff"))
                .collect();
            v.sort();
            if v.is_empty() {
                // An empty series would silently build the unpatched kernel under the variant's name.
                bail!(
                    "patch folder {} holds no *.patch or *.diff file: a variant's patch folder must not be empty",
                    e.display()
                );
            }
            out.extend(v);
        } else if e.is_file() {
            out.push(e.clone());
        } else {
            bail!("patch {} does not exist", e.display());
        }
    }
    Ok(out)
}

/// Puts `tree` into the state "pristine + series". Returns true if anything changed.
pub fn switch(tree: &Path, pristine: &Path, series: &[PathBuf]) -> Result<bool> {
    let mut want = Vec::new();
    let mut texts = Vec::new();
    for p in series {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading patch {}", p.display()))?;
        want.push((
            p.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            crate::util::sha256_hex(text.as_bytes()),
        ));
        texts.push(text);
    }
    let state = match read_state(tree) {
        Some(s) => s,
        None => {
            eprintln!("{}: unreadable patch state; making the tree pristine again", tree.display());
            super::source::mirror(pristine, tree, &[])?;
            write_state(tree, &State::default())?;
            State { patches: vec![("(unknown)".into(), String::new())], ..State::default() }
        }
    };
    if state.patches == want {
        return Ok(false);
    }
    restore(tree, pristine, &state)?;
    write_state(tree, &State::default())?;
    tools::require_cmd("patch")?;
    let mut applied = State::default();
    for (p, text) in series.iter().zip(&texts) {
        let files = touched_files(text);
        if files.is_empty() {
            bail!("{} is not a unified diff (no +++ lines)", p.display());
        }
        let (applies, output) =
            tools::merged_output(duct::cmd!("patch", "-p1", "--dry-run", "--forward", "--batch", "-d", tree, "-i", p))?;
        if !applies {
            // Leave the tree as pristine as we found it, then say which patch and hunk.
            restore(tree, pristine, &applied)?;
            write_state(tree, &State::default())?;
            bail!(
                "patch {} does not apply to this kernel ({}):\n{}\nrefresh the patch against this tree (or pick a matching --kernel-src)",
                p.display(),
                pristine.display(),
                output.trim_end()
            );
        }
        // Journal first: the files this patch is about to touch are in the state before it
        // touches them, so a kill during the apply leaves them to be restored next time.
        for (f, created) in files {
            let list = if created { &mut applied.created } else { &mut applied.modified };
            if !list.contains(&f) {
                list.push(f);
            }
        }
        write_state(tree, &applied)?;
        tools::run(
            duct::cmd!("patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-s", "-d", tree, "-i", p),
            &format!("applying {}", p.display()),
        )?;
        applied.patches.push(want[applied.patches.len()].clone());
        write_state(tree, &applied)?;
        tools::fault_point("patch-switch");
    }
    Ok(true)
}

/// Whether `series` applies to `pristine`, tried in a scratch folder holding only the files
/// the series touches (the tree is never touched): for the hint after a series that does not.
pub fn series_applies(pristine: &Path, series: &[PathBuf]) -> Result<bool> {
    let scratch =
        std::env::temp_dir().join(format!("ksmh-applies-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut ok = true;
    for p in series {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading patch {}", p.display()))?;
        for (f, created) in touched_files(&text) {
            let (from, to) = (pristine.join(&f), scratch.join(&f));
            if !created && !to.exists() && from.exists() {
                std::fs::create_dir_all(to.parent().unwrap_or(&scratch))?;
                std::fs::copy(&from, &to)?;
            }
        }
        std::fs::create_dir_all(&scratch)?;
        let (applied, _) =
            tools::merged_output(duct::cmd!("patch", "-p1", "--forward", "--batch", "-s", "-d", &scratch, "-i", p))?;
        if !applied {
            ok = false;
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(ok)
}

fn restore(tree: &Path, pristine: &Path, s: &State) -> Result<()> {
    for f in &s.modified {
        let (from, to) = (pristine.join(f), tree.join(f));
        // Removed first, so the copy has a fresh mtime and make rebuilds it.
        let _ = std::fs::remove_file(&to);
        std::fs::copy(&from, &to).with_context(|| format!("restoring {} from {}", f, pristine.display()))?;
    }
    for f in &s.created {
        let _ = std::fs::remove_file(tree.join(f));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_patch_folder_is_an_error_not_an_empty_series() {
        let d = tmp("empty");
        std::fs::write(d.join("README.md"), "no patches here\n").unwrap();
        let e = expand(std::slice::from_ref(&d)).unwrap_err().to_string();
        assert!(e.contains("holds no *.patch") && e.contains(&d.display().to_string()), "{e}");
        std::fs::write(d.join("0001-x.patch"), "").unwrap();
        assert_eq!(expand(std::slice::from_ref(&d)).unwrap(), vec![d.join("0001-x.patch")]);
    }

    #[test]
    fn finds_modified_and_created_files() {
        let p = "--- a/mm/ksm.c\t2026\n+++ b/mm/ksm.c\t2026\n@@ -1 +1 @@\n-a\n+b\n--- /dev/null\n+++ b/mm/glue.c\n@@ -0,0 +1 @@\n+x\n";
        assert_eq!(touched_files(p), vec![("mm/ksm.c".to_string(), false), ("mm/glue.c".to_string(), true)]);
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ksmh-patches-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn apply_is_idempotent_reversible_and_a_bad_patch_names_file_and_hunk() {
        if crate::tools::which("patch").is_none() {
            eprintln!("skipping: no patch(1)");
            return;
        }
        let root = tmp("apply");
        let (pristine, tree) = (root.join("pristine"), root.join("tree"));
        for d in [&pristine, &tree] {
            std::fs::create_dir_all(d.join("mm")).unwrap();
            std::fs::write(d.join("mm/ksm.c"), "one\ntwo\nthree\n").unwrap();
        }
        let good = root.join("0001-good.patch");
        std::fs::write(&good, "--- a/mm/ksm.c\n+++ b/mm/ksm.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n--- /dev/null\n+++ b/mm/new.c\n@@ -0,0 +1 @@\n+new\n").unwrap();
        assert!(switch(&tree, &pristine, std::slice::from_ref(&good)).unwrap());
        assert_eq!(std::fs::read_to_string(tree.join("mm/ksm.c")).unwrap(), "one\nTWO\nthree\n");
        assert!(tree.join("mm/new.c").exists());
        assert!(!switch(&tree, &pristine, std::slice::from_ref(&good)).unwrap(), "second apply must be a no-op");
        assert!(switch(&tree, &pristine, &[]).unwrap());
        assert_eq!(std::fs::read_to_string(tree.join("mm/ksm.c")).unwrap(), "one\ntwo\nthree\n");
        assert!(!tree.join("mm/new.c").exists());

        let bad = root.join("0002-bad.patch");
        std::fs::write(&bad, "--- a/mm/ksm.c\n+++ b/mm/ksm.c\n@@ -1,3 +1,3 @@\n one\n-zwei\n+ZWEI\n three\n").unwrap();
        let e = format!("{:#}", switch(&tree, &pristine, &[good, bad]).unwrap_err());
        assert!(e.contains("0002-bad.patch") && e.contains("Hunk #1 FAILED"), "{e}");
        assert_eq!(
            std::fs::read_to_string(tree.join("mm/ksm.c")).unwrap(),
            "one\ntwo\nthree\n",
            "a failed series leaves the tree pristine"
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
