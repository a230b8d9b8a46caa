//! What a results folder says about how it was made: metadata.json, written before anything
//! runs, and per cell reproduce.sh.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde_json::Value;
use xshell::cmd;

use super::SCHEMA;
use crate::matrix::Cell;

fn tool_version(cmd: &str, arg: &str) -> String {
    crate::tools::merged_output(duct::cmd!(cmd, arg))
        .ok()
        .and_then(|(_, s)| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "not found".into())
}

/// Written before anything runs, so even a killed run says what it was: first with the
/// kernel sources still unresolved (`kernels` empty), again once they are: each kernel of the
/// run by its name on the matrix's kernel axis (None without one) and its source.
pub fn write_metadata(
    dir: &Path,
    repo: &Path,
    kernels: &[(Option<&str>, &crate::kernel::KernelSource)],
    extra: serde_json::Value,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let sh = crate::tools::shell()?;
    sh.change_dir(repo);
    let git = |args: &[&str]| cmd!(sh, "git {args...}").ignore_stderr().read().unwrap_or_default();
    let tools: BTreeMap<&str, String> = [
        ("qemu-system-s390x", tool_version("qemu-system-s390x", "--version")),
        ("qemu-system-aarch64", tool_version("qemu-system-aarch64", "--version")),
        ("s390x-linux-gnu-gcc", tool_version("s390x-linux-gnu-gcc", "--version")),
        ("aarch64-linux-gnu-gcc", tool_version("aarch64-linux-gnu-gcc", "--version")),
        ("make", tool_version("make", "--version")),
        ("ccache", tool_version("ccache", "--version")),
        (
            "rustc (kernel side)",
            crate::kernel::rust_toolchain()
                .map(|t| format!("{} ({})", t.version, t.source))
                .unwrap_or_else(|e| format!("{e}")),
        ),
    ]
    .into_iter()
    .collect();
    let meta = serde_json::json!({
        "schema": SCHEMA,
        "started": crate::util::now_rfc3339(),
        "command_line": std::env::args().collect::<Vec<_>>(),
        "host": {
            "uname": cmd!(sh, "uname -srvm").read().unwrap_or_default(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        },
        "tools": tools,
        "kernels": kernels.iter().map(|(name, src)| serde_json::json!({
            "name": name, "id": src.id, "version": src.version, "origin": src.origin, "path": src.pristine,
        })).collect::<Vec<_>>(),
        "git": { "revision": git(&["rev-parse", "HEAD"]).trim(), "dirty": !git(&["status", "--porcelain"]).trim().is_empty() },
        "run": extra,
    });
    crate::util::write_atomic(&dir.join("metadata.json"), &serde_json::to_vec_pretty(&meta)?)?;
    Ok(())
}

/// A kernel of the run as the report header names it.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelLine {
    /// On the matrix's kernel axis (`6.12`); None in a single-kernel matrix.
    pub name: Option<String>,
    /// `6.12.95 — Debian linux-source-6.12 (...)`, or that metadata.json does not say.
    pub source: String,
}

impl std::fmt::Display for KernelLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n}: {}", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// The kernel entries of a metadata.json: its `kernels`, or the one `kernel_source` that
/// folders of older harness versions (and a run killed before resolving) have.
pub fn kernel_entries(meta: &Value) -> Vec<Value> {
    match (meta.get("kernels").and_then(Value::as_array), meta.get("kernel_source")) {
        (Some(k), _) => k.clone(),
        (None, Some(v)) if v.is_object() => vec![v.clone()],
        _ => vec![],
    }
}

/// Every kernel of the run with its source: those metadata.json names, then any kernel a cell
/// ran that it does not (a shard's metadata merged from a folder that lacked it). Pure.
pub fn kernels_of(meta: Option<&Value>, results: &super::Results) -> Vec<KernelLine> {
    let word = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let mut out: Vec<KernelLine> = meta
        .map(kernel_entries)
        .unwrap_or_default()
        .iter()
        .map(|e| KernelLine {
            name: e.get("name").and_then(Value::as_str).map(String::from),
            source: format!("{} — {}", word(e, "version"), word(e, "origin")),
        })
        .collect();
    for c in &results.cells {
        if out.iter().any(|l| l.name == c.id.kernel) {
            continue;
        }
        // An older folder's one unnamed entry: the kernel whose version series it is (`6.1`
        // for 6.1.192).
        let series = |l: &KernelLine| {
            c.id.kernel.as_ref().is_some_and(|k| l.name.is_none() && l.source.starts_with(&format!("{k}.")))
        };
        match out.iter_mut().find(|l| series(l)) {
            Some(l) => l.name = c.id.kernel.clone(),
            None => out
                .push(KernelLine { name: c.id.kernel.clone(), source: "source not recorded in metadata.json".into() }),
        }
    }
    out
}

/// The metadata.json of a merged folder: the first shard's, naming the kernels of every shard
/// (each shard of the nightly runs one cell, so one kernel).
pub fn merged(metas: &[Value]) -> Option<Value> {
    let mut first = metas.first()?.clone();
    let mut kernels: Vec<Value> = Vec::new();
    for k in metas.iter().flat_map(kernel_entries) {
        if !kernels.contains(&k) {
            kernels.push(k);
        }
    }
    let o = first.as_object_mut()?;
    o.remove("kernel_source");
    o.insert("kernels".into(), Value::Array(kernels));
    Some(first)
}

/// `reproduce.sh` in the cell's folder: reruns exactly this cell from the repository `repo`.
/// `extra` are the words the run needs beyond the cell (`--kernel-src ...`, `--matrix ...`).
pub fn write_reproduce(dir: &Path, repo: &Path, cell: &Cell, extra: &[String]) {
    let script = format!(
        "#!/bin/sh\n# Reruns exactly this cell ({}) from the repository it came from.\nset -e\ncd {}\nexec {}\n",
        cell.id(),
        shell_quote(&repo.display().to_string()),
        reproduce_words(cell, extra).iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
    );
    let p = dir.join("reproduce.sh");
    let _ = crate::util::write_atomic(&p, script.as_bytes());
    let _ = std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
}

/// The command line that makes `cell` again: a matrix variant by name, an ad hoc one by its
/// base and patches; always the expectation, memory and timeout it ran with. Pure.
pub fn reproduce_words(cell: &Cell, extra: &[String]) -> Vec<String> {
    let mut w: Vec<String> = ["cargo", "xtask", "run", "--arch", cell.arch.name()].map(String::from).to_vec();
    if let Some(k) = &cell.kernel.name {
        w.extend(["--kernel".into(), k.clone()]);
    }
    match &cell.variant.adhoc {
        None => w.extend(["--variant".into(), cell.variant.name.clone()]),
        Some(a) => {
            if let Some(b) = &a.base {
                w.extend(["--variant".into(), b.clone()]);
            }
            w.push("--patch".into());
            w.extend(a.patches.iter().map(|p| p.display().to_string()));
        }
    }
    #[rustfmt::skip]
    w.extend([
        "--scenario".into(), cell.scenario.name().into(), "--mib".into(), cell.mib.to_string(),
        "--expect".into(), cell.expectation.word().into(), "--timeout".into(), cell.timeout.to_string(),
    ]);
    w.extend(extra.iter().cloned());
    w
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
