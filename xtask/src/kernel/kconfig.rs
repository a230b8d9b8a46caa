//! Kconfig fragments and the check that Kconfig kept every symbol we asked for (pure).
//! Kconfig drops a symbol whose dependencies are unmet without a word; a dropped
//! PROVE_LOCKING would look exactly like "no splat", so every requested value is verified.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;

/// `CONFIG_FOO=y` -> ("FOO", "y"); `# CONFIG_FOO is not set` -> ("FOO", "n").
pub fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("# CONFIG_") {
        let name = rest.strip_suffix(" is not set")?;
        return Some((name.to_string(), "n".to_string()));
    }
    let rest = line.strip_prefix("CONFIG_")?;
    let (k, v) = rest.split_once('=')?;
    Some((k.to_string(), v.to_string()))
}

pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(parse_line).collect()
}

#[derive(Debug, PartialEq)]
pub struct Mismatch {
    pub symbol: String,
    pub wanted: String,
    pub got: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.got {
            None => write!(f, "CONFIG_{} requested {} but it is not in .config", self.symbol, self.wanted),
            Some(g) => write!(f, "CONFIG_{} requested {} but .config has {}", self.symbol, self.wanted, g),
        }
    }
}

/// Every requested symbol whose final value differs ("n" matches an absent symbol).
pub fn verify(requested: &BTreeMap<String, String>, config: &BTreeMap<String, String>) -> Vec<Mismatch> {
    requested
        .iter()
        .filter_map(|(k, want)| {
            let got = config.get(k);
            let ok = match got {
                Some(g) => g == want,
                None => want == "n",
            };
            (!ok).then(|| Mismatch { symbol: k.clone(), wanted: want.clone(), got: got.cloned() })
        })
        .collect()
}

/// The fragments of one build, in merge order: common, debug, per arch, then the variant's.
/// The fragment that turns on the kernel tracing behind the `lockout-held` check.
pub const LOCKOUT_EVIDENCE: &str = "lockout-evidence.config";
/// The fragment `--debug-info` adds: reduced DWARF, for decoding frames to file:line.
pub const DEBUG_INFO: &str = "debug-info.config";

pub fn fragments(repo: &Path, arch: Arch, extra: &[PathBuf]) -> Vec<PathBuf> {
    let dir = repo.join("configs/kconfig");
    let mut v = vec![
        dir.join("common.config"),
        dir.join("debug.config"),
        dir.join(LOCKOUT_EVIDENCE),
        dir.join(format!("{}.config", arch.name())),
    ];
    v.extend(extra.iter().cloned());
    v
}

pub struct Fragments {
    pub files: Vec<PathBuf>,
    pub requested: BTreeMap<String, String>,
    /// Identifies the build tree: same fragments text, same tree.
    pub hash: String,
}

pub fn load(files: Vec<PathBuf>) -> Result<Fragments> {
    let mut requested = BTreeMap::new();
    let mut all = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading Kconfig fragment {}", f.display()))?;
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || (t.starts_with('#') && parse_line(t).is_none()) {
                continue;
            }
            match parse_line(t) {
                Some((k, v)) => {
                    requested.insert(k, v);
                }
                None => bail!(
                    "{}:{}: not a Kconfig line: {t:?} (want CONFIG_FOO=y or # CONFIG_FOO is not set)",
                    f.display(),
                    n + 1
                ),
            }
        }
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    Ok(Fragments { hash: crate::util::short_hash(&all), files, requested })
}

/// Kconfig's reason for a dropped symbol, if the `make` output printed one
/// (merge_config.sh and olddefconfig print "unmet direct dependencies" warnings).
pub fn explain(symbol: &str, make_output: &str) -> Option<String> {
    let needle = format!(" {symbol}\n");
    let lines: Vec<&str> = make_output.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("unmet direct dependencies") && format!(" {l}\n").contains(&needle) {
            let mut s = l.trim().to_string();
            if let Some(next) = lines.get(i + 1) {
                s.push_str("; ");
                s.push_str(next.trim());
            }
            return Some(s);
        }
    }
    None
}

/// The `depends on` lines of `config SYMBOL` in one Kconfig file's text (pure).
pub fn depends_on(kconfig_text: &str, symbol: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in kconfig_text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("config ").or_else(|| t.strip_prefix("menuconfig ")) {
            inside = rest.trim() == symbol;
        } else if inside {
            if let Some(dep) = t.strip_prefix("depends on ") {
                out.push(dep.trim().to_string());
            } else if t.starts_with("endmenu")
                || t.starts_with("endif")
                || t.starts_with("choice")
                || t.starts_with("menu ")
                || t.starts_with("if ")
            {
                inside = false;
            }
        }
    }
    out
}

/// Where Kconfig declares `symbol` in `tree`, with its `depends on` lines (for error messages).
pub fn find_dependencies(tree: &Path, symbol: &str) -> Option<String> {
    let mut stack = vec![tree.to_path_buf()];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if p.is_dir() && !name.starts_with('.') {
                stack.push(p);
            } else if name.starts_with("Kconfig") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if text.contains(&format!("config {symbol}\n")) {
                    let rel = p.strip_prefix(tree).unwrap_or(&p).display().to_string();
                    let deps = depends_on(&text, symbol);
                    found.push(if deps.is_empty() { rel } else { format!("{rel}: depends on {}", deps.join(" && ")) });
                }
            }
        }
    }
    (!found.is_empty()).then(|| found.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_unset_and_values() {
        assert_eq!(parse_line("CONFIG_KSM=y"), Some(("KSM".into(), "y".into())));
        assert_eq!(parse_line("# CONFIG_EXPERT is not set"), Some(("EXPERT".into(), "n".into())));
        assert_eq!(parse_line("CONFIG_CMDLINE=\"a b\""), Some(("CMDLINE".into(), "\"a b\"".into())));
        assert_eq!(parse_line("# a comment"), None);
    }

    #[test]
    fn a_dropped_symbol_is_reported_by_name() {
        let req = parse("CONFIG_PROVE_LOCKING=y\nCONFIG_KSM=y\n# CONFIG_MODULES is not set\n");
        let cfg = parse("CONFIG_KSM=y\n# CONFIG_PROVE_LOCKING is not set\n");
        let m = verify(&req, &cfg);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].symbol, "PROVE_LOCKING");
        assert!(m[0].to_string().contains("requested y but .config has n"));
        assert!(verify(&parse("CONFIG_A=y"), &parse("")).iter().any(|m| m.got.is_none()));
    }

    #[test]
    fn the_repo_fragments_request_lockdep_ksm_and_hotremove_for_both_arches() {
        for arch in Arch::ALL {
            let f = load(fragments(&crate::paths::repo_root(), arch, &[])).unwrap();
            for s in ["PROVE_LOCKING", "KSM", "MEMORY_HOTREMOVE", "MEMORY_NOTIFIER_ERROR_INJECT", "PRINTK"] {
                assert_eq!(f.requested.get(s).map(String::as_str), Some("y"), "{arch}: {s}");
            }
        }
        let a = load(fragments(&crate::paths::repo_root(), Arch::S390x, &[])).unwrap().hash;
        let b = load(fragments(&crate::paths::repo_root(), Arch::Arm64, &[])).unwrap().hash;
        assert_ne!(a, b);
    }

    #[test]
    fn a_broken_fragment_line_is_located() {
        let d = std::env::temp_dir().join(format!("ksmh-frag-{}", std::process::id()));
        std::fs::write(&d, "CONFIG_A=y\nKSM=y\n").unwrap();
        let e = load(vec![d.clone()]).err().unwrap().to_string();
        assert!(e.contains(":2:") && e.contains("KSM=y"), "{e}");
        std::fs::remove_file(d).unwrap();
    }

    #[test]
    fn finds_the_depends_on_lines_of_a_symbol() {
        let k = "config A\n\tbool \"a\"\n\tdepends on S390\n\tdepends on TTY\n\nconfig B\n\tdepends on X\n";
        assert_eq!(depends_on(k, "A"), vec!["S390".to_string(), "TTY".to_string()]);
        assert_eq!(depends_on(k, "B"), vec!["X".to_string()]);
        assert!(depends_on(k, "C").is_empty());
    }

    #[test]
    fn explains_unmet_dependencies_from_kconfig_output() {
        let out = "WARNING: unmet direct dependencies detected for ACPI_HOTPLUG_MEMORY\n  Depends on [n]: ACPI [=y] && MEMORY_HOTPLUG [=n]\n";
        let e = explain("ACPI_HOTPLUG_MEMORY", out).unwrap();
        assert!(e.contains("MEMORY_HOTPLUG [=n]"), "{e}");
        assert_eq!(explain("KSM", out), None);
    }
}
