//! Stack frames decoded to file:line with the build's own `vmlinux`, the way kernel developers
//! do it by hand: the tree's `scripts/faddr2line` with the cross binutils (`--debug-info`).
//! Pure halves (which frames a console excerpt has, what faddr2line printed) are kept apart from
//! the one call that runs it.

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

fn token_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"(?:^|[\s(\[])(?P<fn>[A-Za-z_$][\w.$]*)\+0x(?P<off>[0-9a-fA-F]+)(?:/0x(?P<len>[0-9a-fA-F]+))?")
            .expect("built-in regex")
    })
}

/// `func+0xOFF/0xLEN` with hex in one spelling, so the console's and faddr2line's agree.
pub fn key(func: &str, off: u64, len: Option<u64>) -> String {
    match len {
        Some(l) => format!("{func}+{off:#x}/{l:#x}"),
        None => format!("{func}+{off:#x}"),
    }
}

/// The frame a console line shows (`[<addr>] func+0x1/0x2`, `  func+0x1/0x2`, s390's
/// `Krnl PSW : .. (func+0x1/0x2)`, arm64's `pc : func+0x1/0x2`), as a [`key`].
pub fn frame_token(line: &str) -> Option<String> {
    let c = token_re().captures(line)?;
    let hex = |n: &str| c.name(n).and_then(|m| u64::from_str_radix(m.as_str(), 16).ok());
    Some(key(c.name("fn")?.as_str(), hex("off")?, hex("len")))
}

/// Every distinct frame of the lines, in first-seen order.
pub fn frame_tokens<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    lines.into_iter().filter_map(frame_token).filter(|t| seen.insert(t.clone())).collect()
}

/// faddr2line's output: a `func+0xoff/0xsize:` line per frame, then its sites (`f at file:line`,
/// `(inlined by) g at file:line`); a blank line between frames; warnings on other lines.
pub fn parse_output(text: &str) -> BTreeMap<String, Vec<Site>> {
    static SITE: OnceLock<Regex> = OnceLock::new();
    let site = SITE.get_or_init(|| {
        Regex::new(r"^(?:\(inlined by\)\s+)?(?P<fn>\S+) at (?P<place>\S+?:(?:\d+|\?))(?:\s+\(discriminator \d+\))?$")
            .expect("built-in regex")
    });
    let mut out: BTreeMap<String, Vec<Site>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(head) = line.strip_suffix(':').filter(|h| !h.contains(' ')) {
            current = frame_token(head);
            continue;
        }
        let (Some(k), Some(c)) = (&current, site.captures(line)) else {
            if line.is_empty() {
                current = None;
            }
            continue;
        };
        if c["place"].starts_with("??") {
            continue;
        }
        out.entry(k.clone()).or_default().push(Site {
            function: c["fn"].to_string(),
            place: tidy_path(&c["place"]),
            inlined: false,
        });
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

/// Decodes `tokens` with `<tree>/scripts/faddr2line` and the cross binutils of `arch`. Never
/// fails: what went wrong is in `error`, and the report then shows the frames as printed.
pub fn decode(tree: &Path, arch: Arch, vmlinux: &Path, tokens: &[String], cell_dir: &Path) -> Decoded {
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
