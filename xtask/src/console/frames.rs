//! Stack-trace lines of every architecture's format, the faulting-PC and `CPU: .. PID: ..`
//! lines, symbol normalization, and which frames enter interrupt context (which frames are
//! never the culprit is the skip table, `skip`).

use std::sync::OnceLock;

use regex::Regex;

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("built-in regex"))
}

/// A code location a console line shows: a call-trace frame, the faulting PC, or a site such as
/// lockdep's `at: func+0x1/0x2`. The one reader of them: the titles, the HTML's cycle labels and
/// the `--debug-info` decoder all take theirs from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Normalized for titles: clone suffixes dropped, syscall wrappers as `sys_NAME`.
    pub func: String,
    /// As printed (`offline_pages.isra.0`): the name the vmlinux's symbol tables know.
    pub symbol: String,
    /// `+0xOFF`; None only for arm32's `(func) from ..` form, which prints none.
    pub offset: Option<u64>,
    /// `/0xSIZE`: kallsyms' size of the symbol, when printed.
    pub size: Option<u64>,
    /// x86 `? func` or powerpc's `(unreliable)`: a stale return address the unwinder could not
    /// vouch for.
    pub unreliable: bool,
}

impl Frame {
    fn of(c: &regex::Captures, unreliable: bool) -> Option<Frame> {
        let symbol = c.name("fn")?.as_str();
        let hex = |n: &str| c.name(n).and_then(|m| u64::from_str_radix(m.as_str(), 16).ok());
        let func = normalize_symbol(symbol);
        (!func.is_empty()).then(|| Frame {
            func,
            symbol: symbol.to_string(),
            offset: hex("off"),
            size: hex("len"),
            unreliable,
        })
    }
}

/// One stack-trace line in any of: x86 ORC (` func+0x1/0x2`), old x86 and s390
/// (` [<addr>] ? func+0x1/0x2`, `([<addr>] func+..)`), arm64 with or without addresses and
/// with `(P)`/`(C)` marks, powerpc (`[sp] [pc] func+0x1/0x2 (unreliable)`), arm32
/// (`[<pc>] (func) from [<lr>] (caller+0x1/0x2)` and `func from caller+0x1/0x2`), modules
/// (`func+0x1/0x2 [mod]`).
pub(crate) fn parse_frame(text: &str) -> Option<Frame> {
    static MAIN: OnceLock<Regex> = OnceLock::new();
    static ARM32: OnceLock<Regex> = OnceLock::new();
    if !text.contains("+0x") {
        return None;
    }
    let main = re(
        &MAIN,
        r"^\s*(?:<(?:IRQ|EOI|NMI|TASK|SOFTIRQ|#DF)>\s*)?\(?\s*(?:\[<?[0-9a-fA-F]{4,}>?\]\s*)*(?P<q>\?\s+)?(?P<fn>[A-Za-z_$.][\w.$]*)\+0x(?P<off>[0-9a-fA-F]+)(?:/0x(?P<len>[0-9a-fA-F]+))?(?:\s|\)|\]|$)",
    );
    if let Some(c) = main.captures(text) {
        return Frame::of(&c, c.name("q").is_some() || text.contains("(unreliable)"));
    }
    let arm32 = re(
        &ARM32,
        r"^\s*(?:\[<[0-9a-fA-F]+>\]\s*)?\(?(?P<fn>[A-Za-z_$][\w.$]*)(?:\+0x(?P<off>[0-9a-fA-F]+)/0x(?P<len>[0-9a-fA-F]+))?\)?\s+from\s+(?:\[<[0-9a-fA-F]+>\]\s*)?\(?[A-Za-z_$][\w.$]*\+0x",
    );
    Frame::of(&arm32.captures(text)?, false)
}

/// The function the CPU was executing: x86 `RIP: 0010:f+0x..` (and `EIP is at`), arm64
/// `pc : f+0x..`, arm32 `PC is at`, powerpc `NIP [..] f+0x..`, riscv `epc : f+0x..`,
/// s390 `Krnl PSW : mask addr (f+0x..)`.
pub(crate) fn parse_pc(t: &str) -> Option<Frame> {
    static PC: OnceLock<Regex> = OnceLock::new();
    if !t.contains("+0x") {
        return None;
    }
    let r = re(
        &PC,
        r"^(?:(?:RIP|EIP|NIP|IP|PC|pc|epc)\s*:?\s*(?:\[?<?[0-9a-fA-F]+>?\]?[:\s]\s*)*|(?:RIP|EIP|PC|pc) is at |Krnl PSW\s*:\s*[0-9a-fA-F]+\s+[0-9a-fA-F]+\s+\()(?P<fn>[A-Za-z_$.][\w.$]*)\+0x(?P<off>[0-9a-fA-F]+)(?:/0x(?P<len>[0-9a-fA-F]+))?",
    );
    Frame::of(&r.captures(t)?, false)
}

/// The code location a raw console line shows, for the decoder and the report pages: its
/// call-trace frame or PC as the titles read them, else the first `func+0xOFF[/0xSIZE]` on the
/// line (lockdep's `at: func+0x..`, `WARNING: .. at file:line func+0x..`, arm64's `lr : ..`).
/// Always with an offset: a frame without one locates nothing.
pub fn code_frame(raw: &str) -> Option<Frame> {
    static ANY: OnceLock<Regex> = OnceLock::new();
    let n = super::normalize::normalize(raw.as_bytes());
    let text = n.text();
    if !text.contains("+0x") {
        return None;
    }
    let any = re(&ANY, r"(?:^|[\s(\[])(?P<fn>[A-Za-z_$][\w.$]*)\+0x(?P<off>[0-9a-fA-F]+)(?:/0x(?P<len>[0-9a-fA-F]+))?");
    parse_frame(text)
        .or_else(|| parse_pc(text.trim()))
        .filter(|f| f.offset.is_some())
        .or_else(|| Frame::of(&any.captures(text)?, false))
}

/// The call-trace frame of a raw console line (timestamps and caller ids stripped first), as
/// the titles read it.
pub fn stack_frame(raw: &str) -> Option<Frame> {
    parse_frame(super::normalize::normalize(raw.as_bytes()).text())
}

pub(crate) struct CpuLine {
    pub cpu: Option<u32>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

/// `CPU: 1 PID: 1 Comm: sh ...` (and `CPU: 1 UID: 0 PID: ..`), old `Pid: 27, comm: sh`,
/// i386 `Process sh (pid: 27, ...`.
pub(crate) fn parse_cpu_line(t: &str) -> Option<CpuLine> {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = re(
        &R,
        r"^(?:CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>\S+)|Pid: (?P<pid2>\d+), comm: (?P<comm2>\S+)|Process (?P<comm3>\S+) \(pid: (?P<pid3>\d+))",
    );
    if !(t.starts_with("CPU: ") || t.starts_with("Pid: ") || t.starts_with("Process ")) {
        return None;
    }
    let c = r.captures(t)?;
    let num = |n: &str| c.name(n).and_then(|m| m.as_str().parse().ok());
    let s = |n: &str| c.name(n).map(|m| m.as_str().to_string());
    Some(CpuLine {
        cpu: num("cpu"),
        pid: num("pid").or_else(|| num("pid2")).or_else(|| num("pid3")),
        comm: s("comm").or_else(|| s("comm2")).or_else(|| s("comm3")),
    })
}

pub(crate) fn is_stack_header(t: &str) -> bool {
    t.starts_with("Call Trace:")
        || t.starts_with("Call trace:")
        || t.starts_with("Backtrace:")
        || t == "stack backtrace:"
        || t == "backtrace:"
        || t.starts_with("backtrace (crc")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Frames after this belong to the interrupted context.
    IrqExit,
    Other,
}

/// Lines that sit inside a call trace without being frames.
pub(crate) fn stack_marker(t: &str) -> Option<Marker> {
    match t {
        "</IRQ>" | "<EOI>" | "</NMI>" | "</SOFTIRQ>" => Some(Marker::IrqExit),
        "<IRQ>" | "<NMI>" | "<TASK>" | "</TASK>" | "<SOFTIRQ>" | "<#DF>" | "..." => Some(Marker::Other),
        _ if t.starts_with("Exception stack(") => Some(Marker::Other),
        _ if address_only(t) => Some(Marker::Other),
        _ if inlined(t) => Some(Marker::Other),
        _ => None,
    }
}

/// A symbolized report's inlined call (`kzalloc include/linux/slab.h:711 [inline]`, syzbot):
/// part of the trace, but not a frame, so the same report keys alike symbolized or not.
fn inlined(t: &str) -> bool {
    let Some(rest) = t.strip_suffix("[inline]") else { return false };
    let mut words = rest.split_whitespace();
    let (Some(func), Some(file), None) = (words.next(), words.next(), words.next()) else { return false };
    func.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && file.rsplit_once(':').is_some_and(|(_, line)| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
}

/// A frame the unwinder could not symbolize: `? 0xffffffffc0201000`,
/// `[<000003fffd1cc3e8>] 0x3fffd1cc3e8`, `[<ffffffff81000000>]`.
fn address_only(t: &str) -> bool {
    let mut s = t.trim_start_matches(['(', '?', ' ']);
    let mut bracketed = false;
    while let Some(rest) = s.strip_prefix("[<") {
        let Some(p) = rest.find(">]") else { return false };
        s = rest[p + 2..].trim_start();
        bracketed = true;
    }
    let s = s.trim_start_matches(['?', ' ']).trim_end_matches([')', ' ']);
    match s.strip_prefix("0x") {
        Some(h) => !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()),
        None => bracketed && s.is_empty(),
    }
}

/// `func+0x1/0x2 [mod]` -> `func`; `f.isra.0`/`f.constprop.0`/`f.cold` -> `f` (compilers
/// clone differently per arch); syscall wrappers -> `sys_NAME`; C++ names demangled without
/// their parameters (`_Z8fakeNameiii` -> `fakeName`), as syzkaller titles them.
pub(crate) fn normalize_symbol(raw: &str) -> String {
    let s = raw.trim().trim_start_matches(['(', '[']);
    let s = s.split(['+', ' ', ')', '(']).next().unwrap_or("");
    let s = s.split('.').next().unwrap_or("");
    if s.is_empty() {
        return String::new();
    }
    if let Some(d) = demangle(s) {
        return d;
    }
    syscall_name(s).map(|n| format!("sys_{n}")).unwrap_or_else(|| s.to_string())
}

/// An Itanium C++ name's function, without parameters: `_Z3fooi` -> `foo`, `_ZN2ns3fooEv` ->
/// `ns::foo`. Anything else (templates, operators, Rust's `_R` names) is left alone.
fn demangle(s: &str) -> Option<String> {
    let rest = s.strip_prefix("_Z")?;
    let (nested, mut rest) = match rest.strip_prefix('N') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let mut parts = Vec::new();
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let len: usize = rest[..digits].parse().ok().filter(|l| *l > 0)?;
        let id =
            rest.get(digits..digits + len).filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))?;
        parts.push(id);
        rest = &rest[digits + len..];
        if !nested {
            break;
        }
        if rest.starts_with('E') {
            break;
        }
    }
    Some(parts.join("::"))
}

/// `__x64_sys_write`, `__arm64_sys_write`, `__s390x_sys_write`, `__se_sys_write`,
/// `__do_sys_write`, `sys_write`, `SyS_write`, compat variants -> `write`.
fn syscall_name(s: &str) -> Option<&str> {
    let mut rest = s;
    if let Some(r) = rest.strip_prefix("__") {
        let (_, after) = r.split_once('_')?;
        rest = after;
    }
    rest = rest.strip_prefix("compat_").unwrap_or(rest);
    let name = rest.strip_prefix("sys_").or_else(|| rest.strip_prefix("SyS_"))?;
    // `__foo_sys_x` must be an arch/wrapper prefix, not e.g. `__do_sys_open_by_handle` helpers
    // of another shape; a plain `do_sys_open` (no leading `__`) is a real function and kept.
    (!name.is_empty()
        && (s.starts_with("__") || s.starts_with("sys_") || s.starts_with("SyS_") || s.starts_with("compat_")))
    .then_some(name)
}

/// Frames that enter interrupt context; frames after the last one are the interrupted code.
pub(crate) fn is_irq_entry(func: &str) -> bool {
    matches!(
        func,
        "el1h_64_irq"
            | "el1_irq"
            | "el0t_64_irq"
            | "el0_irq"
            | "ext_int_handler"
            | "io_int_handler"
            | "asm_sysvec_apic_timer_interrupt"
            | "apic_timer_interrupt"
            | "asm_common_interrupt"
            | "common_interrupt"
            | "irq_entries_start"
            | "__irq_svc"
            | "__irq_usr"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_every_arch() {
        let cases = [
            ("       __lock_acquire+0x5f2/0xb90", "__lock_acquire", false),
            ("  [<0000000000d0f4a2>] dump_stack_lvl+0x8a/0xb8 ", "dump_stack_lvl", false),
            (" ([<0000000000aa1234>] system_call+0x70/0x98)", "system_call", false),
            (" [<ffffffff8169e9e2>] ? printk+0x4d/0x4f", "printk", true),
            (" ? __pfx_x+0x10/0x10", "__pfx_x", true),
            (" show_stack+0x18/0x24 (C)", "show_stack", false),
            ("[<ffff000008089a98>] dump_backtrace+0x0/0x1a0", "dump_backtrace", false),
            (" mlx5_foo.isra.0+0x10/0x20 [mlx5_core]", "mlx5_foo", false),
            (" <IRQ>  [<ffffffff8103a02e>] warn_slowpath_common+0x7e/0xc0", "warn_slowpath_common", false),
            ("[c000000001234567] [c000000000012345] show_stack+0x12/0x34 (unreliable)", "show_stack", true),
            ("[<c010c0d4>] (unwind_backtrace) from [<c0108b0c>] (show_stack+0x10/0x14)", "unwind_backtrace", false),
            (" unwind_backtrace from show_stack+0x10/0x14", "unwind_backtrace", false),
            (" __arm64_sys_write+0x1c/0x28", "sys_write", false),
            (" __s390x_sys_write+0x1c/0x28", "sys_write", false),
            (" __x64_sys_write+0x1c/0x28", "sys_write", false),
            (" SyS_write+0x1c/0x28", "sys_write", false),
            (" __se_sys_write+0x1c/0x28", "sys_write", false),
        ];
        for (line, func, unreliable) in cases {
            let f = parse_frame(line).unwrap_or_else(|| panic!("no frame in {line:?}"));
            assert_eq!((f.func.as_str(), f.unreliable), (func, unreliable), "{line}");
        }
        for line in [
            "hardirqs last  enabled at (12344): [<ffffffff81234567>] default_idle+0x1/0x2",
            "RIP: 0010:foo+0x5/0x10",
            "pc : foo+0x1c/0x30",
            " #0: 00000000026fe460 (sb_writers#4){.+.+}-{0:0}, at: ksys_write+0x6e/0x100",
            "00000000017a2b48 ((memory_chain).rwsem){++++}-{3:3}, at: blocking_notifier_call_chain+0x3e/0x90",
            "  lock(ksm_thread_mutex/1);",
            "Krnl PSW : 0704c00180000000 000000000090c9a2 (foo+0x22/0x40)",
        ] {
            assert!(parse_frame(line).is_none(), "{line}");
        }
        assert_eq!(normalize_symbol("do_sys_open"), "do_sys_open");
        assert_eq!(normalize_symbol("_Z8fakeNameiii+0x49a/0x1a10"), "fakeName");
        assert_eq!(normalize_symbol("_ZN2ns3fooEv"), "ns::foo");
        assert_eq!(normalize_symbol("_Z"), "_Z");
        assert_eq!(normalize_symbol("_Z99x"), "_Z99x");
        assert_eq!(normalize_symbol("_Z0x"), "_Z0x");
        assert_eq!(normalize_symbol("ksys_write"), "ksys_write");
    }

    #[test]
    fn one_reader_gives_symbol_offset_and_size_to_every_user() {
        // (raw console line, symbol as printed, offset, size): real lines of the cells' consoles
        // (s390x, arm64) and of other arches' formats.
        let cases = [
            (
                "[   12.866781]  [<000000000014f87a>] blocking_notifier_call_chain+0x32/0xa0 ",
                "blocking_notifier_call_chain",
                0x32,
                Some(0xa0),
            ),
            ("[    9.431243]  offline_pages.isra.0+0x1b0/0xbe8", "offline_pages.isra.0", 0x1b0, Some(0xbe8)),
            (
                "[   10.2] Krnl PSW : 0704c00180000000 000000000090c9a2 (ksm_memory_callback+0x22/0x40)",
                "ksm_memory_callback",
                0x22,
                Some(0x40),
            ),
            ("[    4.1] pc : __mutex_lock+0x1c/0x30", "__mutex_lock", 0x1c, Some(0x30)),
            ("[    4.1] lr : __mutex_lock+0x18/0x30", "__mutex_lock", 0x18, Some(0x30)),
            (
                "[   12.1]  #1: 00000000017a2b48 (ksm_thread_mutex/1){+.+.}-{3:3}, at: ksm_memory_callback+0x5c/0x1a0",
                "ksm_memory_callback",
                0x5c,
                Some(0x1a0),
            ),
            ("[    3.3] WARNING: CPU: 0 PID: 1 at mm/ksm.c:12 run_store+0x10/0x20", "run_store", 0x10, Some(0x20)),
            (
                "[<c010c0d4>] (unwind_backtrace) from [<c0108b0c>] (show_stack+0x10/0x14)",
                "show_stack",
                0x10,
                Some(0x14),
            ),
            ("RIP: 0010:foo+0x5", "foo", 5, None),
            ("  [<0000000000d0f4a2>] ? dump_stack_lvl+0x8a/0xb8", "dump_stack_lvl", 0x8a, Some(0xb8)),
        ];
        for (line, symbol, offset, size) in cases {
            let f = code_frame(line).unwrap_or_else(|| panic!("no code location in {line:?}"));
            assert_eq!((f.symbol.as_str(), f.offset, f.size), (symbol, Some(offset), size), "{line}");
        }
        for line in ["[    1.0] Call Trace:", "  lock(ksm_thread_mutex/1);", "RIP: 0033:0x7f0000001234", "a+0xzz"] {
            assert_eq!(code_frame(line), None, "{line}");
        }
        // The strict reader (titles, cycle labels) takes call-trace lines only, timestamps stripped.
        let f = stack_frame("[    9.431243]  offline_pages.isra.0+0x1b0/0xbe8").unwrap();
        assert_eq!((f.func.as_str(), f.unreliable), ("offline_pages", false));
        assert!(stack_frame("[  12.1]  ? schedule+0x1/0x2").unwrap().unreliable);
        assert_eq!(
            stack_frame("[   12.1]  #1: 0000 (ksm_thread_mutex/1){+.+.}-{3:3}, at: ksm_memory_callback+0x5c/0x1a0"),
            None
        );
        // arm32's `(func) from` prints no offset for func: the titles still name it.
        let f = parse_frame("[<c010c0d4>] (unwind_backtrace) from [<c0108b0c>] (show_stack+0x10/0x14)").unwrap();
        assert_eq!((f.func.as_str(), f.offset), ("unwind_backtrace", None));
    }

    #[test]
    fn pc_lines() {
        for (l, f) in [
            ("RIP: 0010:foo+0x5/0x10", "foo"),
            ("RIP: 0010:[<ffffffff81234567>]  [<ffffffff81234567>] foo+0x12/0x34", "foo"),
            ("pc : foo+0x1c/0x30", "foo"),
            ("PC is at foo+0x1c/0x30", "foo"),
            ("EIP is at foo+0x1c/0x30", "foo"),
            ("NIP [c000000000123456] foo+0x12/0x34", "foo"),
            ("epc : foo+0x10/0x20", "foo"),
            ("Krnl PSW : 0704c00180000000 000000000090c9a2 (foo.isra.0+0x22/0x40)", "foo"),
        ] {
            assert_eq!(parse_pc(l).map(|p| p.func).as_deref(), Some(f), "{l}");
        }
        assert_eq!(parse_pc("RIP: 0033:0x7f0000001234"), None);
    }

    #[test]
    fn symbolized_inline_calls_are_markers_not_frames() {
        for l in ["kzalloc include/linux/slab.h:711 [inline]", "__dump_stack lib/dump_stack.c:88 [inline]"] {
            assert_eq!(stack_marker(l), Some(Marker::Other), "{l}");
            assert!(parse_frame(l).is_none(), "{l}");
        }
        for l in ["call [inline]", "a b c:1 [inline]", "f file.c:x [inline]", "kzalloc include/linux/slab.h:711"] {
            assert_eq!(stack_marker(l), None, "{l}");
        }
    }
}
