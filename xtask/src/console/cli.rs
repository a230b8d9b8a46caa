//! `cargo xtask analyze [--json] FILE...` (`-` reads stdin).

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{analyze_reader, Analysis, Finding};

#[derive(Serialize)]
struct FileReport<'a> {
    path: String,
    findings: &'a [Finding],
    lockdep_turned_off: bool,
}

#[derive(Serialize)]
struct Document<'a> {
    schema: u32,
    files: Vec<FileReport<'a>>,
}

fn analyze_path(p: &Path) -> Result<Analysis> {
    if p.as_os_str() == "-" {
        let stdin = io::stdin();
        return analyze_reader(stdin.lock()).context("reading stdin");
    }
    let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
    analyze_reader(BufReader::with_capacity(1 << 20, f)).with_context(|| format!("reading {}", p.display()))
}

/// Prints the findings of every file to stdout; exit code 0 without problems, 1 with.
pub fn run_analyze(json: bool, files: &[PathBuf]) -> Result<i32> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    run_analyze_to(json, files, &mut out)
}

/// [`run_analyze`] writing to `out`.
pub fn run_analyze_to<W: Write>(json: bool, files: &[PathBuf], out: &mut W) -> Result<i32> {
    let mut results = Vec::with_capacity(files.len());
    for p in files {
        results.push((p, analyze_path(p)?));
    }
    let problems = results.iter().any(|(_, a)| a.has_problems());
    if json {
        let doc = Document {
            schema: 1,
            files: results
                .iter()
                .map(|(p, a)| FileReport {
                    path: p.display().to_string(),
                    findings: &a.findings,
                    lockdep_turned_off: a.lockdep_turned_off,
                })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        for (p, a) in &results {
            write_human(out, p, a)?;
        }
    }
    out.flush()?;
    Ok(i32::from(problems))
}

fn write_human<W: Write>(out: &mut W, p: &Path, a: &Analysis) -> io::Result<()> {
    let problems = a.problems().count();
    let info = a.findings.len() - problems;
    write!(
        out,
        "{}: {} problem{}, {} info, {} lines",
        p.display(),
        problems,
        if problems == 1 { "" } else { "s" },
        info,
        a.lines
    )?;
    if a.lockdep_turned_off {
        write!(out, ", lockdep turned off")?;
    }
    writeln!(out)?;
    for f in &a.findings {
        writeln!(out, "  {}/{}: {}", f.category, f.kind, f.title)?;
        let mut details =
            format!("      fingerprint {}  lines {}-{}  count {}", f.fingerprint, f.first_line, f.last_line, f.count);
        if let Some(t) = &f.task {
            details.push_str(&format!("  task {t}"));
        }
        if let Some(pid) = f.pid {
            details.push_str(&format!("  pid {pid}"));
        }
        if let Some(cpu) = f.cpu {
            details.push_str(&format!("  cpu {cpu}"));
        }
        if f.truncated {
            details.push_str("  (truncated)");
        }
        writeln!(out, "{details}")?;
    }
    Ok(())
}
