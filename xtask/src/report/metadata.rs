//! What a results folder says about how it was made: metadata.json, written before anything
//! runs, and per cell reproduce.sh.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
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
/// kernel source still unresolved (`src` None), again once it is.
pub fn write_metadata(
    dir: &Path,
    repo: &Path,
    src: Option<&crate::kernel::KernelSource>,
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
        "kernel_source": src.map(|src| serde_json::json!({ "id": src.id, "version": src.version, "origin": src.origin, "path": src.pristine })),
        "git": { "revision": git(&["rev-parse", "HEAD"]).trim(), "dirty": !git(&["status", "--porcelain"]).trim().is_empty() },
        "run": extra,
    });
    crate::util::write_atomic(&dir.join("metadata.json"), &serde_json::to_vec_pretty(&meta)?)?;
    Ok(())
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
