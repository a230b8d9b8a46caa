//! Behaviour of the analyzer as a whole: interleaving, dedup, truncation, identity across
//! architectures, hostile input, the streaming API and the `analyze` command.

use std::fs;
use std::path::{Path, PathBuf};

use xtask::console::cli::run_analyze_to;
use xtask::console::{analyze_bytes, analyze_reader, Analyzer, Category, Kind, MAX_FINDINGS, MAX_LINE};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console").join(name);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn splat() -> String {
    fixture("s390x-6.1-ksm-memory-chain.log")
}

const TITLE: &str =
    "possible circular locking dependency: ksm_thread_mutex/1 -> (memory_chain).rwsem in ksm_memory_callback";

fn the_splat(text: &str) -> xtask::console::Finding {
    let a = analyze_bytes(text.as_bytes());
    let mut f = a.findings.into_iter().filter(|f| f.kind == Kind::CircularLocking);
    let one = f.next().expect("a circular locking finding");
    assert!(f.next().is_none());
    one
}

#[test]
fn empty_and_line_counting() {
    let a = analyze_bytes(b"");
    assert_eq!((a.lines, a.findings.len(), a.lockdep_turned_off, a.has_problems()), (0, 0, false, false));
    assert_eq!(analyze_bytes(b"a\nb").lines, 2);
    assert_eq!(analyze_bytes(b"a\nb\n").lines, 2);
    assert_eq!(analyze_bytes(b"\n\n\n").lines, 3);
}

#[test]
fn info_is_not_a_problem() {
    let a = analyze_bytes(b"[    1.0] INFO: lockdep is turned off.\n");
    assert!(a.lockdep_turned_off);
    assert_eq!(a.findings.len(), 1);
    assert_eq!(a.findings[0].category, Category::Info);
    assert!(!a.has_problems());
    assert_eq!(a.problems().count(), 0);
}

/// User space writes to the same serial console: its lines land inside the splat.
#[test]
fn user_space_lines_inside_a_report_do_not_break_it() {
    let clean = the_splat(&splat());
    for every in [2, 3, 7, 13] {
        let mixed: String = splat()
            .lines()
            .enumerate()
            .map(|(i, l)| if i % every == 0 { format!("{l}\n@@KSMH progress n={i}\n") } else { format!("{l}\n") })
            .collect();
        let f = the_splat(&mixed);
        assert_eq!(
            (f.title.as_str(), &f.fingerprint, f.truncated),
            (TITLE, &clean.fingerprint, false),
            "every {every}"
        );
        assert_eq!(f.lockdep, clean.lockdep, "every {every}");
        assert_eq!(f.frames, clean.frames, "every {every}");
    }
}

/// With printk caller ids two reports printed at once are untangled line by line.
#[test]
fn caller_ids_untangle_concurrent_reports() {
    let a: Vec<String> =
        splat().lines().filter(|l| l.starts_with("[   40.")).map(|l| l.replacen("] ", "][    T1] ", 1)).collect();
    let b = [
        "[   40.200000][   T77] ------------[ cut here ]------------",
        "[   40.200001][   T77] WARNING: CPU: 0 PID: 77 at mm/ksm.c:3011 ksm_scan_thread+0x12f/0x140",
        "[   40.200002][   T77] CPU: 0 PID: 77 Comm: ksmd Not tainted 6.1.192 #1",
        "[   40.200003][   T77] Call Trace:",
        "[   40.200004][   T77]  [<00000000003e7ec0>] ksm_scan_thread+0x12f/0x140 ",
        "[   40.200005][   T77]  [<000000000018f3b2>] kthread+0x12a/0x130 ",
        "[   40.200006][   T77] ---[ end trace 0000000000000000 ]---",
    ];
    let mut mixed = String::new();
    let mut bi = b.iter();
    for (i, l) in a.iter().enumerate() {
        mixed.push_str(l);
        mixed.push('\n');
        if i >= 10 && i % 4 == 0 {
            if let Some(x) = bi.next() {
                mixed.push_str(x);
                mixed.push('\n');
            }
        }
    }
    let r = analyze_bytes(mixed.as_bytes());
    let titles: Vec<&str> = r.problems().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, vec![TITLE, "WARNING in ksm_scan_thread"], "{r:#?}");
    let w = r.problems().nth(1).unwrap();
    assert_eq!((w.task.as_deref(), w.pid, w.truncated), (Some("ksmd"), Some(77), false));
    assert_eq!(the_splat(&mixed).fingerprint, the_splat(&splat()).fingerprint);
}

/// The same report again, on another CPU, in another task, at other addresses: one finding.
#[test]
fn repeats_are_counted_once() {
    let one = splat();
    let other = one
        .replace("sh/1", "bash/4711")
        .replace("PID: 1 Comm: sh", "PID: 4711 Comm: bash")
        .replace("CPU: 1", "CPU: 0")
        .replace("00000000017", "00000000039")
        .replace("[   40.", "[   77.");
    let text = format!("{one}{other}{one}");
    let a = analyze_bytes(text.as_bytes());
    let lockdep: Vec<_> = a.findings.iter().filter(|f| f.category == Category::Lockdep).collect();
    assert_eq!(lockdep.len(), 1);
    assert_eq!(lockdep[0].count, 3);
    assert_eq!(lockdep[0].first_line, the_splat(&one).first_line, "the first occurrence keeps its lines");
    assert_eq!(lockdep[0].task.as_deref(), Some("sh"));
}

/// x86 prints the same splat with its own entry frames and syscall wrappers.
#[test]
fn identity_ignores_architecture() {
    let s390 = the_splat(&splat());
    let x86: String = splat()
        .lines()
        .filter(|l| !l.contains("system_call+"))
        .map(|l| {
            let l = regex::Regex::new(r"\[<[0-9a-f]+>\] ").unwrap().replace(l, "").to_string();
            let l = l.replace("__do_syscall+0x1d8/0x200", "__x64_sys_write+0x19/0x20");
            format!("{l}\n")
        })
        .collect::<String>()
        .replace("CPU: 1 PID: 1 Comm: sh", "CPU: 3 PID: 900 Comm: sh")
        .replace("Hardware name: QEMU 3906 QEMU (KVM/Linux)", "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)");
    let f = the_splat(&x86);
    assert_eq!((f.title.as_str(), &f.fingerprint), (TITLE, &s390.fingerprint));
    assert!(f.frames.contains(&"sys_write".to_string()), "{:?}", f.frames);
}

#[test]
fn a_log_that_ends_inside_a_report_marks_it_truncated() {
    let full = splat();
    let lines: Vec<&str> = full.lines().collect();
    let header = lines.iter().position(|l| l.contains("WARNING: possible circular")).unwrap();
    let held =
        lines.iter().position(|l| l.contains("(ksm_thread_mutex/1){+.+.}-{3:3}, at: ksm_memory_callback")).unwrap();
    let backtrace = lines.iter().position(|l| l.contains("stack backtrace:")).unwrap();
    for cut in header + 1..backtrace + 3 {
        let text = lines[..cut].join("\n");
        let f = the_splat(&text);
        assert!(f.truncated, "cut at {cut}");
        if cut > held {
            assert_eq!(f.title, TITLE, "cut at {cut}");
        }
    }
    assert!(!the_splat(&lines[..backtrace + 6].join("\n")).truncated);
    // A new boot cuts a report off just like the end of the log.
    let rebooted =
        format!("{}\n[    0.000000] Linux version 6.1.192 #1 SMP\n[    1.0] hello\n", lines[..backtrace].join("\n"));
    assert!(the_splat(&rebooted).truncated);
}

#[test]
fn hostile_input_is_survived() {
    // A 10 MB line of garbage, invalid UTF-8, NULs and escapes inside the splat.
    let mut text = Vec::new();
    let s = splat();
    let lines: Vec<&str> = s.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        text.extend_from_slice(l.as_bytes());
        text.push(b'\n');
        if i == 40 {
            text.extend(std::iter::repeat_n(b'A', 10 << 20));
            text.push(b'\n');
            text.extend_from_slice(b"\xff\xfe\x00\x1b[31m\xc3(\n");
        }
    }
    let a = analyze_bytes(&text);
    assert_eq!(a.lines, lines.len() as u64 + 2);
    assert!(a.findings.iter().any(|f| f.title == TITLE));
    const { assert!(MAX_LINE >= 1024) };
}

#[test]
fn distinct_findings_are_capped() {
    let mut log = String::new();
    for i in 0..MAX_FINDINGS + 50 {
        log.push_str(&format!(
            "WARNING: CPU: 0 PID: 1 at x.c:1 f{i}+0x1/0x2\nCall Trace:\n g+0x1/0x2\n---[ end trace 0 ]---\n"
        ));
    }
    let a = analyze_bytes(log.as_bytes());
    assert_eq!(a.findings.len(), MAX_FINDINGS + 1);
    assert!(a.findings.iter().any(|f| f.kind == Kind::AnalyzerOverflow && f.category == Category::LogLoss));
}

#[test]
fn the_push_api_serves_a_live_console() {
    let mut a = Analyzer::new();
    for l in splat().lines() {
        a.push_line(l.as_bytes());
    }
    let live = a.finish();
    assert_eq!(live, analyze_reader(splat().as_bytes()).unwrap());
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("console-api-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn analyze_command_json_and_human() {
    let clean = temp("clean.log", &fixture("x86-6.1-clean-boot.log"));
    let dirty = temp("dirty.log", &splat());
    let mut out = Vec::new();
    let code = run_analyze_to(true, &[clean.clone(), dirty.clone()], &mut out).unwrap();
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["schema"], 1);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], clean.display().to_string());
    assert_eq!(files[0]["findings"].as_array().unwrap().len(), 0);
    assert_eq!(files[0]["lockdep_turned_off"], false);
    assert_eq!(files[1]["findings"][0]["title"], TITLE);
    assert_eq!(files[1]["findings"][0]["category"], "lockdep");
    assert_eq!(files[1]["lockdep_turned_off"], true);

    let mut human = Vec::new();
    assert_eq!(run_analyze_to(false, std::slice::from_ref(&clean), &mut human).unwrap(), 0);
    let mut human2 = Vec::new();
    assert_eq!(run_analyze_to(false, &[dirty], &mut human2).unwrap(), 1);
    let h = String::from_utf8(human2).unwrap();
    assert!(h.contains("lockdep/circular_locking") && h.contains(TITLE) && h.contains("fingerprint "), "{h}");
    assert!(String::from_utf8(human).unwrap().contains("0 problems"));

    let missing = clean.with_file_name("does-not-exist.log");
    assert!(run_analyze_to(true, &[missing], &mut Vec::new()).is_err());
}

/// `panic_on_warn`: the kernel panics between a WARN's header and its stack, so the trace that
/// follows is the WARN's; the panic stays a finding of its own. Old kernels print a WARN's
/// message after its header, so `DEBUG_LOCKS_WARN_ON` joins the WARNING before it too.
#[test]
fn a_warn_keeps_the_trace_of_the_panic_it_caused() {
    let log = "\
[   32.1] WARNING: CPU: 1 PID: 4085 at kernel/locking/lockdep.c:3190 __lock_acquire+0x23b3/0x4b50()
[   32.1] DEBUG_LOCKS_WARN_ON(id >= MAX_LOCKDEP_KEYS)
[   32.1] Kernel panic - not syncing: panic_on_warn set ...
[   32.1] CPU: 1 PID: 4085 Comm: syz-executor Not tainted 4.4.107 #2
[   32.1] Call Trace:
[   32.1]  [<ffffffff81d03a1d>] dump_stack+0xc1/0x124
[   32.1]  [<ffffffff81416dca>] panic+0x1aa/0x388
[   32.1]  [<ffffffff8112ae71>] warn_slowpath_fmt+0xc1/0x110
[   32.1]  [<ffffffff812361f3>] __lock_acquire+0x23b3/0x4b50
[   32.1]  [<ffffffff8123a1fe>] lock_acquire+0x15e/0x460
[   32.1]  [<ffffffff8376f89e>] _raw_write_lock_irqsave+0x4e/0x70
[   32.1]  [<ffffffff825b46c9>] sg_remove_request+0x69/0x110
[   32.1]  [<ffffffff825b4cd5>] sg_finish_rem_req+0x295/0x340
[   32.1] Kernel Offset: disabled
";
    let a = analyze_bytes(log.as_bytes());
    let titles: Vec<(&str, bool)> = a.findings.iter().map(|f| (f.title.as_str(), f.truncated)).collect();
    assert_eq!(
        titles,
        [
            ("DEBUG_LOCKS_WARN_ON(id >= MAX_LOCKDEP_KEYS) in sg_remove_request", false),
            ("Kernel panic - not syncing: panic_on_warn set ...", false),
        ]
    );
    assert_eq!(a.findings[0].category, Category::Lockdep);
    // Any other panic is a report of its own, with its own trace.
    let other = log.replace("panic_on_warn set ...", "Fatal exception");
    let a = analyze_bytes(other.as_bytes());
    assert_eq!(a.findings[0].title, "DEBUG_LOCKS_WARN_ON(id >= MAX_LOCKDEP_KEYS)");
    assert_eq!(a.findings[1].frames.last().map(String::as_str), Some("sg_finish_rem_req"));
}
