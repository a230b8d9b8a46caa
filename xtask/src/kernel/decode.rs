//! Stack frames decoded to file:line with the build's own `vmlinux` (`--debug-info`), as the
//! tree's `scripts/faddr2line` does, in one pass: one `readelf` for the symbols (a frame's size
//! is kallsyms', the distance to the next symbol), one `addr2line` for every frame, where
//! faddr2line runs readelf and addr2line again per frame (14-19 s a cell). faddr2line itself
//! stays as the reference the suite compares against. Pure halves (which frames a console
//! excerpt has, the symbol table, what addr2line printed) are kept apart from the calls.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::arch::Arch;

/// What faddr2line said of a cell's frames.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Decoded {
    /// The vmlinux decoded against, relative to the cell's folder.
    pub vmlinux: String,
    /// By frame (`func+0xoff/0xsize`, as [`key`] writes it): the source lines, innermost first
    /// (inlined callees, then the function of the symbol itself).
    pub frames: BTreeMap<String, Vec<Site>>,
    /// Why nothing (or not everything) was decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Site {
    pub function: String,
    /// `mm/ksm.c:2980`, relative to the kernel tree.
    pub place: String,
    /// Inlined into the site after it.
    pub inlined: bool,
}

impl Decoded {
    /// The sites of the frame a console line shows, if it shows one that was decoded.
    pub fn sites_of_line(&self, line: &str) -> Option<&[Site]> {
        let t = frame_token(line)?;
        self.frames.get(&t).map(Vec::as_slice)
    }
}

/// `func+0xOFF/0xLEN` with hex in one spelling, so the console's and faddr2line's agree.
pub fn key(func: &str, off: u64, len: Option<u64>) -> String {
    match len {
        Some(l) => format!("{func}+{off:#x}/{l:#x}"),
        None => format!("{func}+{off:#x}"),
    }
}

/// The frame a console line shows (`[<addr>] func+0x1/0x2`, `  func+0x1/0x2`, s390's
/// `Krnl PSW : .. (func+0x1/0x2)`, arm64's `pc : func+0x1/0x2`, lockdep's `at: func+0x..`), as
/// a [`key`] of the symbol as printed; read by the console's one frame reader.
pub fn frame_token(line: &str) -> Option<String> {
    let f = crate::console::code_frame(line)?;
    Some(key(&f.symbol, f.offset?, f.size))
}

/// Every distinct frame of the lines, in first-seen order.
pub fn frame_tokens<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    lines.into_iter().filter_map(frame_token).filter(|t| seen.insert(t.clone())).collect()
}

/// A function symbol of the ELF symbol tables, with its kallsyms size.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub addr: u64,
    /// The distance to the next symbol of its section (kallsyms counts the padding too).
    pub size: u64,
}

/// `readelf --symbols --wide`: every symbol with its kallsyms size, as faddr2line computes it
/// (sorted by address within a section, the first later symbol at least the ELF size away). A
/// symbol in both .dynsym and .symtab (s390's relocatable vmlinux) is kept once; the last of a
/// section keeps its ELF size.
pub fn symbols(readelf: &str) -> Vec<Symbol> {
    // (section, addr, elf size, name)
    let mut all: Vec<(String, u64, u64, String)> = readelf
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || !f[0].ends_with(':') {
                return None;
            }
            let addr = u64::from_str_radix(f[1], 16).ok()?;
            let size =
                f[2].parse::<u64>().ok().or_else(|| u64::from_str_radix(f[2].trim_start_matches("0x"), 16).ok())?;
            Some((f[6].to_string(), addr, size, f[7].to_string()))
        })
        .filter(|(sec, ..)| sec.chars().all(|c| c.is_ascii_digit()))
        .collect();
    all.sort();
    all.dedup();
    let mut out = Vec::new();
    for (i, (sec, addr, elf, name)) in all.iter().enumerate() {
        let next =
            all[i + 1..].iter().take_while(|(s, ..)| s == sec).map(|(_, a, ..)| a - addr).find(|d| *d >= (*elf).max(1));
        out.push(Symbol { name: name.clone(), addr: *addr, size: next.unwrap_or(*elf) });
    }
    out
}

/// The address of each frame (`func+0xoff/0xsize`, as [`key`] writes it): every symbol of that
/// name whose kallsyms size matches (when given) and holds the offset, as faddr2line skips
/// the others.
pub fn addresses(tokens: &[String], syms: &[Symbol]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for t in tokens {
        let Some(f) = crate::console::code_frame(t) else { continue };
        let (Some(off), len) = (f.offset, f.size) else { continue };
        for s in syms.iter().filter(|s| s.name == f.symbol && len.is_none_or(|l| l == s.size) && off <= s.size) {
            out.push((t.clone(), s.addr + off));
        }
    }
    out
}

/// `addr2line --addresses --pretty-print ...` over many addresses: its lines by address (a
/// `0x...: f at file:line` line opens each, `(inlined by)` lines follow), as faddr2line prints
/// them for one frame (address dropped).
pub fn addr2line_blocks(text: &str) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        let opened = line.split_once(": ").and_then(|(a, rest)| {
            let a = u64::from_str_radix(a.strip_prefix("0x")?, 16).ok()?;
            Some((a, rest))
        });
        match opened {
            Some((a, rest)) => {
                current = Some(a);
                out.entry(a).or_default().push(rest.trim().to_string());
            }
            None => {
                if let Some(a) = current {
                    out.entry(a).or_default().push(line.trim().to_string());
                }
            }
        }
    }
    out
}

/// faddr2line's output: a `func+0xoff/0xsize:` line per frame, then its sites (`f at file:line`,
/// `(inlined by) g at file:line`); a blank line between frames; warnings on other lines. A
/// frame printed twice the same (faddr2line reads both symbol tables of s390's vmlinux) counts
/// once.
pub fn parse_output(text: &str) -> BTreeMap<String, Vec<Site>> {
    static SITE: OnceLock<Regex> = OnceLock::new();
    let site = SITE.get_or_init(|| {
        Regex::new(r"^(?:\(inlined by\)\s+)?(?P<fn>\S+) at (?P<place>\S+?:(?:\d+|\?))(?:\s+\(discriminator \d+\))?$")
            .expect("built-in regex")
    });
    let mut blocks: Vec<(String, Vec<Site>)> = Vec::new();
    let mut open = false;
    for line in text.lines().map(str::trim) {
        if let Some(head) = line.strip_suffix(':').filter(|h| !h.contains(' ')) {
            open = match frame_token(head) {
                Some(k) => {
                    blocks.push((k, Vec::new()));
                    true
                }
                None => false,
            };
            continue;
        }
        let (true, Some(c)) = (open, site.captures(line)) else {
            if line.is_empty() {
                open = false;
            }
            continue;
        };
        if c["place"].starts_with("??") {
            continue;
        }
        if let Some((_, sites)) = blocks.last_mut() {
            sites.push(Site { function: c["fn"].to_string(), place: tidy_path(&c["place"]), inlined: false });
        }
    }
    let mut out: BTreeMap<String, Vec<Site>> = BTreeMap::new();
    for (k, sites) in blocks.into_iter().filter(|(_, s)| !s.is_empty()) {
        let have = out.entry(k).or_default();
        if !have.ends_with(&sites) {
            have.extend(sites);
        }
    }
    // A site list is innermost first: every site but the last (the frame's own function) was
    // inlined into the next. By position, as faddr2line marks each but the first.
    for sites in out.values_mut() {
        let n = sites.len();
        for (i, s) in sites.iter_mut().enumerate() {
            s.inlined = i + 1 < n;
        }
    }
    out
}

/// `a/b/../c` -> `a/c`, and a path that still names the harness's tree folders loses them.
fn tidy_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    // `<cache>/trees/<source>/<arch>/mm/ksm.c` -> `mm/ksm.c`
    match joined.find("/trees/") {
        Some(i) => joined[i + "/trees/".len()..].splitn(3, '/').nth(2).unwrap_or(&joined).to_string(),
        None => joined.trim_start_matches("../").to_string(),
    }
}

/// Decodes `tokens` with the cross binutils of `arch`: one readelf, one addr2line. Never fails:
/// what went wrong is in `error`, and the report then shows the frames as printed.
pub fn decode(arch: Arch, vmlinux: &Path, tokens: &[String], cell_dir: &Path) -> Decoded {
    let rel = vmlinux.strip_prefix(cell_dir).unwrap_or(vmlinux).display().to_string();
    let mut d = Decoded { vmlinux: rel, ..Default::default() };
    if tokens.is_empty() {
        return d;
    }
    let prefix = arch.machine().cross_prefix;
    let readelf = format!("{prefix}readelf");
    let vm = vmlinux.display().to_string();
    let syms = match tool_output(&readelf, &["--symbols".into(), "--wide".into(), vm.clone()]) {
        Ok(out) => symbols(&out),
        Err(e) => {
            d.error = Some(e);
            return d;
        }
    };
    let addrs = addresses(tokens, &syms);
    let addr2line = format!("{prefix}addr2line");
    let mut args: Vec<String> =
        ["--functions", "--pretty-print", "--inlines", "--addresses", "--exe"].map(String::from).into();
    args.push(vm);
    args.extend(addrs.iter().map(|(_, a)| format!("{a:#x}")));
    let text = match tool_output(&addr2line, &args) {
        Ok(out) => out,
        Err(e) => {
            d.error = Some(e);
            return d;
        }
    };
    // As faddr2line would have printed it, then read the same way.
    let blocks = addr2line_blocks(&text);
    let as_faddr2line: String = addrs
        .iter()
        .map(|(t, a)| format!("{t}:\n{}\n\n", blocks.get(a).map(|l| l.join("\n")).unwrap_or_default()))
        .collect();
    d.frames = parse_output(&as_faddr2line);
    if d.frames.len() < tokens.len() {
        let missing: Vec<&str> =
            tokens.iter().filter(|t| !d.frames.contains_key(*t)).map(String::as_str).take(5).collect();
        d.error = Some(format!("not decoded: {}", missing.join(", ")));
    }
    d
}

/// A binutils tool's output, or why there is none (it failed: its last line; it did not start).
fn tool_output(tool: &str, args: &[String]) -> Result<String, String> {
    match crate::tools::merged_output(duct::cmd(tool, args)) {
        Ok((true, out)) => Ok(out),
        Ok((false, out)) => Err(format!("{tool} failed: {}", last_line(&out))),
        Err(e) => Err(format!("cannot start {tool}: {e}")),
    }
}

/// Decodes `tokens` with `<tree>/scripts/faddr2line` (a readelf and an addr2line per frame):
/// the reference [`decode`] is checked against.
pub fn decode_faddr2line(tree: &Path, arch: Arch, vmlinux: &Path, tokens: &[String], cell_dir: &Path) -> Decoded {
    let rel = vmlinux.strip_prefix(cell_dir).unwrap_or(vmlinux).display().to_string();
    let mut d = Decoded { vmlinux: rel, ..Default::default() };
    if tokens.is_empty() {
        return d;
    }
    let script = tree.join("scripts/faddr2line");
    let mut args = vec![vmlinux.display().to_string()];
    args.extend(tokens.iter().cloned());
    let cmd = duct::cmd(&script, &args).env("CROSS_COMPILE", arch.machine().cross_prefix);
    match crate::tools::merged_output(cmd) {
        Ok((ok, out)) => {
            d.frames = parse_output(&out);
            if !ok {
                d.error = Some(format!("{} failed: {}", script.display(), last_line(&out)));
            } else if d.frames.len() < tokens.len() {
                let missing: Vec<&str> =
                    tokens.iter().filter(|t| !d.frames.contains_key(*t)).map(String::as_str).take(5).collect();
                d.error = Some(format!("not decoded: {}", missing.join(", ")));
            }
        }
        Err(e) => d.error = Some(format!("cannot start {}: {e}", script.display())),
    }
    d
}

fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_every_frame_form_in_one_spelling() {
        let lines = [
            "[   12.866781]  [<000000000014f87a>] blocking_notifier_call_chain+0x32/0xa0 ",
            "[    9.101112]  ksm_memory_callback+0x2C/0x90",
            "[    9.101113] pc : lock_acquire+0x1c/0x30",
            "[    9.101114] Krnl PSW : 0704c00180000000 00000000001c2d5e (check_noncircular+0x12e/0x150)",
            "[    9.101115]  offline_pages.isra.0+0x1b0/0xbe8",
            "[    9.101116] -> #1 (ksm_thread_mutex/1){+.+.}-{3:3}:",
            "[    9.101117]  ksm_memory_callback+0x2c/0x90",
        ];
        assert_eq!(
            frame_tokens(lines),
            [
                "blocking_notifier_call_chain+0x32/0xa0",
                "ksm_memory_callback+0x2c/0x90",
                "lock_acquire+0x1c/0x30",
                "check_noncircular+0x12e/0x150",
                "offline_pages.isra.0+0x1b0/0xbe8",
            ]
        );
    }

    #[test]
    fn faddr2line_output_gives_each_frame_its_sites_innermost_first() {
        let out = "ksm_memory_callback+0x2c/0x90:\n\
                   ksm_memory_callback at mm/ksm.c:2980\n\
                   \n\
                   blocking_notifier_call_chain+0x32/0xa0:\n\
                   notifier_call_chain at kernel/notifier.c:87\n\
                   (inlined by) blocking_notifier_call_chain at kernel/notifier.c:382 (discriminator 2)\n\
                   \n\
                   no_such_fn+0x10/0x20:\n\
                   ?? at ??:0\n\
                   WARNING: no match for no_such_fn+0x10/0x20\n";
        let m = parse_output(out);
        assert_eq!(m.len(), 2, "{m:?}");
        let b = &m["blocking_notifier_call_chain+0x32/0xa0"];
        assert_eq!(
            b.iter().map(|s| (s.function.as_str(), s.place.as_str(), s.inlined)).collect::<Vec<_>>(),
            [
                ("notifier_call_chain", "kernel/notifier.c:87", true),
                ("blocking_notifier_call_chain", "kernel/notifier.c:382", false)
            ]
        );
        assert_eq!(m["ksm_memory_callback+0x2c/0x90"][0].place, "mm/ksm.c:2980");
    }

    /// The real thing: scripts/faddr2line of Linux 6.1 with s390x binutils over the reduced-DWARF
    /// vmlinux of the prefix kernel, for every frame of the s390x prefix/cancel console.
    #[test]
    fn every_frame_of_a_real_s390x_splat_is_decoded_by_the_real_faddr2line_output() {
        let root = crate::paths::repo_root().join("xtask/tests/fixtures");
        let console = std::fs::read_to_string(root.join("runs/6.1-s390x-prefix-cancel.console.log")).unwrap();
        let out = std::fs::read_to_string(root.join("faddr2line/6.1-s390x-prefix-cancel.txt")).unwrap();
        let tokens = frame_tokens(console.lines());
        let m = parse_output(&out);
        assert_eq!(m.keys().collect::<Vec<_>>(), {
            let mut t: Vec<_> = tokens.iter().collect();
            t.sort();
            t
        });
        let own = |t: &str| m[t].last().map(|s| (s.function.clone(), s.place.clone(), s.inlined)).unwrap();
        assert_eq!(
            own("ksm_memory_callback+0x1dc/0x1f8"),
            ("ksm_memory_callback".into(), "mm/ksm.c:2924".into(), false)
        );
        let chain = &m["offline_pages+0x1b0/0xbe8"];
        assert_eq!(
            (chain[0].function.as_str(), chain[0].place.as_str(), chain[0].inlined),
            ("notifier_to_errno", "include/linux/notifier.h:205", true)
        );
        assert!(m.values().flatten().all(|s| !s.place.starts_with('/') && s.place.contains(':')), "{m:?}");
    }

    /// arm64 too: every frame but the assembly entry (`el0t_64_sync`, no line table in reduced
    /// DWARF), which faddr2line reports as no match.
    #[test]
    fn a_real_arm64_splat_is_decoded_but_for_its_assembly_entry() {
        let root = crate::paths::repo_root().join("xtask/tests/fixtures");
        let console = std::fs::read_to_string(root.join("runs/6.1-arm64-prefix-offline.console.log")).unwrap();
        let out = std::fs::read_to_string(root.join("faddr2line/6.1-arm64-prefix-offline.txt")).unwrap();
        let m = parse_output(&out);
        let undecoded: Vec<String> = frame_tokens(console.lines()).into_iter().filter(|t| !m.contains_key(t)).collect();
        assert_eq!(undecoded, ["el0t_64_sync+0x148/0x14c"]);
        assert_eq!(m["ksm_memory_callback+0x1a8/0x1c4"].last().unwrap().place, "mm/ksm.c:2924");
        assert_eq!(m["setup_per_zone_wmarks+0x134/0x170"].last().unwrap().function, "setup_per_zone_wmarks");
    }

    /// Some lines of `s390x-linux-gnu-readelf --symbols --wide` of the reduced-DWARF 6.1 prefix
    /// vmlinux (the sizes follow from this excerpt), and addr2line's answer for three frames.
    const READELF: &str = "\
Symbol table '.dynsym' contains 747 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
   240: 000000000043cfa0   174 FUNC    GLOBAL DEFAULT    1 system_call
 11891: 0000000000273858   502 FUNC    LOCAL  DEFAULT    1 ksm_memory_callback
 11892: 0000000000273a50   274 FUNC    LOCAL  DEFAULT    1 break_ksm
  4348: 00000000004340c0  3526 FUNC    LOCAL  DEFAULT    1 __mutex_lock
 28395: 0000000000434e88    52 FUNC    GLOBAL DEFAULT    1 mutex_lock_nested
 25253: 000000000043cfa0   174 FUNC    GLOBAL DEFAULT    1 system_call
   670: 000000000043d050    54 FUNC    GLOBAL DEFAULT    1 ret_from_fork
     1: 0000000000100000     0 SECTION LOCAL  DEFAULT    1 .text
     2: 000000000074cd30     4 OBJECT  GLOBAL DEFAULT   34 __boot_cpu_id
";
    const ADDR2LINE: &str = "\
0x0000000000273a34: ksm_memory_callback at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/mm/ksm.c:2924
0x0000000000434148: __atomic_read at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/arch/s390/include/asm/atomic_ops.h:15
 (inlined by) arch_atomic_read at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/arch/s390/include/asm/atomic.h:20
 (inlined by) static_key_count at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/include/linux/jump_label.h:260
 (inlined by) static_key_false at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/include/linux/jump_label.h:270
 (inlined by) trace_contention_begin at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/include/trace/events/lock.h:95
 (inlined by) __mutex_lock_common at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/kernel/locking/mutex.c:605
 (inlined by) __mutex_lock at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/kernel/locking/mutex.c:747
0x000000000043d022: system_call at /root/.cache/ksm-hotremove-harness/build/debian-6.1.192/s390x-5957909e1211/../../../trees/debian-6.1.192/s390x/arch/s390/kernel/entry.S:335
";

    #[test]
    fn symbols_get_the_kallsyms_size_once_each() {
        let s = symbols(READELF);
        let size = |n: &str| s.iter().filter(|x| x.name == n).map(|x| x.size).collect::<Vec<_>>();
        // ELF 502 and 3526; kallsyms (the console) 0x1f8 and 0xdc8: up to the next symbol.
        assert_eq!(size("ksm_memory_callback"), [0x1f8]);
        assert_eq!(size("__mutex_lock"), [0xdc8]);
        // In both tables of s390's vmlinux, kept once; the last of its section keeps its ELF size.
        assert_eq!(size("system_call"), [0xb0]);
        assert_eq!(size("ret_from_fork"), [54]);
    }

    #[test]
    fn frames_are_placed_by_name_size_and_offset_then_read_from_one_addr2line() {
        let s = symbols(READELF);
        let tokens: Vec<String> = [
            "ksm_memory_callback+0x1dc/0x1f8",
            "__mutex_lock+0x88/0xdc8",
            "system_call+0x82/0xb0",
            "ksm_memory_callback+0x1dc/0x1f6", // a size kallsyms would not print: skipped
            "break_ksm+0x200/0x112",           // past the end
            "no_such_fn+0x1/0x2",
        ]
        .map(String::from)
        .into();
        let a = addresses(&tokens, &s);
        assert_eq!(
            a,
            [
                ("ksm_memory_callback+0x1dc/0x1f8".to_string(), 0x273a34),
                ("__mutex_lock+0x88/0xdc8".to_string(), 0x434148),
                ("system_call+0x82/0xb0".to_string(), 0x43d022)
            ]
        );
        let b = addr2line_blocks(ADDR2LINE);
        assert_eq!(b[&0x434148].len(), 7);
        assert!(b[&0x434148][6].starts_with("(inlined by) __mutex_lock at "));
        let text: String = a.iter().map(|(t, x)| format!("{t}:\n{}\n\n", b[x].join("\n"))).collect();
        let m = parse_output(&text);
        assert_eq!(m["__mutex_lock+0x88/0xdc8"][0].place, "arch/s390/include/asm/atomic_ops.h:15");
        assert!(m["__mutex_lock+0x88/0xdc8"][0].inlined);
        assert_eq!(m["system_call+0x82/0xb0"].len(), 1);
        // The same frames faddr2line printed for this kernel (where system_call came twice).
        let root = crate::paths::repo_root().join("xtask/tests/fixtures");
        let reference =
            parse_output(&std::fs::read_to_string(root.join("faddr2line/6.1-s390x-prefix-cancel.txt")).unwrap());
        for k in m.keys() {
            assert_eq!(m[k], reference[k], "{k}");
        }
    }

    #[test]
    fn paths_lose_the_harness_tree_and_dot_dots() {
        assert_eq!(
            tidy_path("/root/.cache/ksm-hotremove-harness/trees/debian-6.1.192/s390x/mm/ksm.c:12"),
            "mm/ksm.c:12"
        );
        assert_eq!(tidy_path("../../../trees/debian-6.1.192/arm64/./kernel/notifier.c:87"), "kernel/notifier.c:87");
        assert_eq!(tidy_path("include/linux/../linux/list.h:3"), "include/linux/list.h:3");
        assert_eq!(tidy_path("mm/ksm.c:2980"), "mm/ksm.c:2980");
    }

    #[test]
    fn a_line_is_matched_to_its_decoded_frame() {
        let mut d = Decoded::default();
        d.frames.insert(
            "ksm_memory_callback+0x2c/0x90".into(),
            vec![Site { function: "ksm_memory_callback".into(), place: "mm/ksm.c:2980".into(), inlined: false }],
        );
        assert_eq!(
            d.sites_of_line("[ 1.0]  [<0000000000a>] ksm_memory_callback+0x2c/0x90").unwrap()[0].place,
            "mm/ksm.c:2980"
        );
        assert!(d.sites_of_line("[ 1.0]  ksm_memory_callback+0x2d/0x90").is_none());
    }
}
