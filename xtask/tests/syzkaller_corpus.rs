//! syzkaller's own report corpus as a test of the analyzer: real console logs from many kernels
//! and arches, each with the title syzkaller gives its first report (`TITLE:`), kept beside the
//! repo in `../shared/corpus/syzkaller-linux-report` (see its README; it is not copied here).
//!
//! Two checks. Detection, on every log: a log with a title gives a finding, a log without one
//! (or `SUPPRESSED`) gives none. Blame, on the logs whose title is a lockdep report's
//! (`possible deadlock in F`, `inconsistent lock state in F`, ...): our first lockdep finding's
//! title names the function syzkaller names. Both print what they found and the files that
//! disagree, and fail below the floors set here; raise a floor as the figure rises, never lower it.

use std::fs;
use std::path::{Path, PathBuf};

use xtask::console::{analyze_bytes, Analysis, Category};

/// Share of the lockdep logs whose title blames syzkaller's function. Only raised.
const BLAME_FLOOR: f64 = 0.92;
/// Logs with a title that give no finding at all. Only lowered.
const MISSED_CEILING: usize = 16;
/// Logs without a title (or suppressed) that give a finding. Only lowered.
const FALSE_CEILING: usize = 2;

/// How syzkaller titles lockdep's reports (the text before ` in F`), and whether the report
/// is lockdep's own (compared with our first lockdep finding) or a WARN inside lockdep
/// (`WARNING: locking bug`: a `DEBUG_LOCKS_WARN_ON` is a lockdep finding of ours, a bare
/// WARNING at kernel/locking/lockdep.c a warning; compared with the first of either).
const LOCKDEP_TITLES: &[(&str, Report)] = &[
    ("possible deadlock", Report::Lockdep),
    ("possible circular locking", Report::Lockdep),
    ("inconsistent lock state", Report::Lockdep),
    ("bad unlock balance", Report::Lockdep),
    ("held lock freed", Report::Lockdep),
    ("suspicious RCU usage", Report::Lockdep),
    ("still has locks held", Report::Lockdep),
    ("lock held when returning to user space", Report::Lockdep),
    ("nested lock was not taken", Report::Lockdep),
    ("trying to register non-static key", Report::Lockdep),
    ("locking bug", Report::LockdepWarn),
];

#[derive(Clone, Copy, PartialEq)]
enum Report {
    Lockdep,
    LockdepWarn,
}

fn corpus_dir() -> PathBuf {
    let dir = xtask::paths::repo_root().join("../shared/corpus/syzkaller-linux-report");
    assert!(
        dir.is_dir(),
        "the syzkaller report corpus is missing: expected it at {} (shared/corpus/ beside the repo, \
         see shared/corpus/README.md)",
        dir.display()
    );
    dir
}

struct Log {
    name: String,
    title: Option<String>,
    suppressed: bool,
    analysis: Analysis,
}

/// Header lines (`TITLE: ..`, `SUPPRESSED: Y`, ...) up to the first empty line, then the log.
fn load(path: &Path) -> Log {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut title = None;
    let mut suppressed = false;
    let mut body = 0;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        body += line.len();
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        match line.split_once(": ") {
            Some(("TITLE", t)) => title = Some(t.to_string()),
            Some(("SUPPRESSED", _)) => suppressed = true,
            _ => {}
        }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Log { name, title, suppressed, analysis: analyze_bytes(&bytes[body.min(bytes.len())..]) }
}

fn logs() -> Vec<Log> {
    let mut paths: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    paths.sort_by_key(|p| {
        let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (n.parse::<u64>().unwrap_or(u64::MAX), n)
    });
    assert!(paths.len() >= 300, "only {} logs in the corpus", paths.len());
    paths.iter().map(|p| load(p)).collect()
}

/// The function a title blames: the word after its last ` in `.
fn blamed(title: &str) -> Option<&str> {
    title.rsplit_once(" in ").map(|(_, f)| f.trim()).filter(|f| !f.is_empty() && !f.contains(' '))
}

/// Function names as both sides may spell them: compiler suffixes (`.isra.0`, `.cold`) gone,
/// syscall wrappers down to the call's name (syzkaller strips `__x64_`, `__se_sys_`, `ksys_`,
/// ...; we rename them `sys_NAME`).
fn canonical(f: &str) -> String {
    let f = f.split('.').next().unwrap_or(f);
    #[rustfmt::skip]
    const WRAPPERS: &[&str] = &[
        "__x64_", "__ia32_", "__arm64_", "__s390x_", "__s390_", "compat_", "__do_sys_", "__se_sys_", "____sys_",
        "___sys_", "__sys_", "SYSC_", "SyS_", "sys_", "ksys_",
    ];
    let mut f = f;
    while let Some(rest) = WRAPPERS.iter().find_map(|w| f.strip_prefix(w).filter(|r| !r.is_empty())) {
        f = rest;
    }
    f.to_string()
}

/// `label:` and the items, one a line, or `label: none`.
fn print_list(label: &str, items: &[String]) {
    if items.is_empty() {
        println!("{label}: none");
    } else {
        println!("{label}:\n  {}", items.join("\n  "));
    }
}

fn lockdep_title(title: &str) -> Option<Report> {
    LOCKDEP_TITLES.iter().find(|(t, _)| title.contains(t)).map(|(_, r)| *r)
}

#[test]
fn every_report_is_found_and_no_clean_log_gives_one() {
    let logs = logs();
    let (mut missed, mut false_findings, mut titled, mut clean) = (Vec::new(), Vec::new(), 0, 0);
    for l in &logs {
        match (&l.title, l.suppressed) {
            (Some(t), false) => {
                titled += 1;
                if !l.analysis.has_problems() {
                    missed.push(format!("{}: {t}", l.name));
                }
            }
            _ => {
                clean += 1;
                if let Some(f) = l.analysis.problems().next() {
                    false_findings.push(format!("{}: {}", l.name, f.title));
                }
            }
        }
    }
    println!(
        "titled logs: {titled}, found {}; clean or suppressed logs: {clean}, with a finding {}",
        titled - missed.len(),
        false_findings.len()
    );
    print_list("missed", &missed);
    print_list("findings on clean or suppressed logs", &false_findings);
    assert!(
        missed.len() <= MISSED_CEILING,
        "{} titled logs without a finding (ceiling {MISSED_CEILING})",
        missed.len()
    );
    assert!(
        false_findings.len() <= FALSE_CEILING,
        "{} clean or suppressed logs with a finding (ceiling {FALSE_CEILING})",
        false_findings.len()
    );
}

#[test]
fn lockdep_titles_blame_what_syzkaller_blames() {
    let logs = logs();
    let (mut agree, mut disagree, mut not_found, mut no_function) = (0usize, Vec::new(), Vec::new(), Vec::new());
    for l in &logs {
        let Some((title, report)) = l.title.as_deref().and_then(|t| Some((t, lockdep_title(t)?))) else { continue };
        let lockdep = l.analysis.findings.iter().find(|f| f.category == Category::Lockdep);
        let ours = match report {
            Report::Lockdep => lockdep,
            Report::LockdepWarn => lockdep.or_else(|| l.analysis.problems().next()),
        };
        let Some(ours) = ours else {
            not_found.push(format!("{}: {title}", l.name));
            continue;
        };
        // `corrupted`: syzkaller found no frame to blame either; nothing to compare.
        let Some(theirs) = blamed(title).filter(|f| *f != "corrupted") else {
            no_function.push(format!("{}: {title}", l.name));
            continue;
        };
        match blamed(&ours.title) {
            Some(f) if canonical(f) == canonical(theirs) => agree += 1,
            _ => disagree.push(format!("{}: syzkaller {theirs:?}, ours {:?} ({})", l.name, ours.title, ours.kind)),
        }
    }
    let compared = agree + disagree.len();
    let share = if compared == 0 { 0.0 } else { agree as f64 / compared as f64 };
    println!(
        "lockdep logs: {} ({} without a lockdep finding, {} without a function in syzkaller's title); \
         blame agrees on {agree} of {compared} ({:.1} %)",
        compared + not_found.len() + no_function.len(),
        not_found.len(),
        no_function.len(),
        share * 100.0
    );
    print_list("without a lockdep finding", &not_found);
    print_list("no function to compare", &no_function);
    print_list("disagreements", &disagree);
    assert!(not_found.is_empty(), "lockdep reports not found: {not_found:#?}");
    assert!(
        share >= BLAME_FLOOR,
        "blame agrees on {:.1} % of the lockdep logs, below the floor {:.1} %",
        share * 100.0,
        BLAME_FLOOR * 100.0
    );
}

#[test]
fn canonical_names() {
    assert_eq!(canonical("tun_queue_purge.isra.0"), "tun_queue_purge");
    assert_eq!(canonical("__x64_sys_rt_sigreturn"), "rt_sigreturn");
    assert_eq!(canonical("sys_rt_sigreturn"), "rt_sigreturn");
    assert_eq!(canonical("ksys_write"), "write");
    assert_eq!(canonical("sys_"), "sys_");
    assert_eq!(blamed("possible deadlock in flush_workqueue"), Some("flush_workqueue"));
    assert_eq!(blamed("BUG: Dentry still in use [unmount of x]"), None);
}
