//! Titles and fingerprints: what stays the same when the same bug happens again, on another
//! CPU, in another task, at another address, on another architecture.

use std::sync::OnceLock;

use regex::Regex;
use sha2::{Digest, Sha256};

const TITLE_MAX: usize = 200;

/// Fill `{name}` placeholders; a `[..]` group is dropped when any placeholder in it is
/// unknown, a bare unknown placeholder becomes `?`.
pub(crate) fn render(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut group: Option<(String, bool)> = None;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '[' => group = Some((String::new(), true)),
            ']' => {
                if let Some((g, ok)) = group.take() {
                    if ok {
                        out.push_str(&g);
                    }
                }
            }
            '{' => {
                let end = rest.find('}').unwrap_or(rest.len());
                let name = &rest[..end];
                rest = rest.get(end + 1..).unwrap_or("");
                let v = lookup(name).filter(|v| !v.is_empty());
                match (&mut group, v) {
                    (Some((g, _)), Some(v)) => g.push_str(&v),
                    (Some((_, ok)), None) => *ok = false,
                    (None, Some(v)) => out.push_str(&v),
                    (None, None) => out.push('?'),
                }
            }
            c => match &mut group {
                Some((g, _)) => g.push(c),
                None => out.push(c),
            },
        }
    }
    clamp(&out)
}

fn clamp(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(TITLE_MAX) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Free text from a header (`BUG: ..`, `Kernel panic - not syncing: ..`) made stable:
/// offsets dropped, addresses -> `ADDR`, numbers -> `N` (small `0x` values such as exit codes
/// are kept), whitespace collapsed.
pub(crate) fn normalize_text(s: &str) -> String {
    static OFF: OnceLock<Regex> = OnceLock::new();
    static HEX: OnceLock<Regex> = OnceLock::new();
    let off = OFF.get_or_init(|| Regex::new(r"\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?").expect("regex"));
    let hex = HEX.get_or_init(|| Regex::new(r"\b(?:0x[0-9a-fA-F]+|[0-9a-f]*[0-9][0-9a-f]*)\b").expect("regex"));
    let s = off.replace_all(s, "");
    let s = hex.replace_all(&s, |c: &regex::Captures| {
        let m = &c[0];
        match m.strip_prefix("0x") {
            Some(h) if u64::from_str_radix(h, 16).is_ok_and(|v| v < 0x10000) => m.to_string(),
            Some(_) => "ADDR".to_string(),
            None if m.len() >= 8 => "ADDR".to_string(),
            None => m.to_string(),
        }
    });
    numbers_to_n(&s).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Standalone decimal numbers -> `N`; digits inside identifiers (`ext4`, `x86_64`) and the
/// `0` of a kept `0x..` stay.
fn numbers_to_n(s: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() && (i == 0 || !word(chars[i - 1])) {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j == chars.len() || !word(chars[j]) {
                out.push('N');
                i = j;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `./mm/ksm.c:123` or `/build/linux-6.1/mm/ksm.c:123:4` -> `mm/ksm.c`.
pub(crate) fn source_file(loc: &str) -> String {
    let path = loc.split(':').next().unwrap_or(loc).trim_start_matches("./");
    #[rustfmt::skip] // a table
    const TOP: &[&str] = &[
        "arch/", "block/", "certs/", "crypto/", "drivers/", "fs/", "include/", "init/", "io_uring/", "ipc/", "kernel/",
        "lib/", "mm/", "net/", "rust/", "samples/", "security/", "sound/", "virt/",
    ];
    if path.starts_with('/') {
        for top in TOP {
            if let Some(p) = path.find(&format!("/{top}")) {
                return path[p + 1..].to_string();
            }
        }
    }
    path.to_string()
}

pub(crate) fn fingerprint(kind: &str, title: &str, keys: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(b"\n");
    h.update(title.as_bytes());
    for k in keys {
        h.update(b"\n");
        h.update(k.as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let look = |n: &str| match n {
            "held" => Some("A".to_string()),
            "acq" => Some("B".to_string()),
            _ => None,
        };
        assert_eq!(
            render("possible circular locking dependency[: {held} -> {acq}]", &look),
            "possible circular locking dependency: A -> B"
        );
        assert_eq!(render("x[: {nope} -> {acq}]", &look), "x");
        assert_eq!(render("x {nope}", &look), "x ?");
        assert_eq!(render("unterminated [ {held", &look), "unterminated");
    }

    #[test]
    fn text_normalization() {
        assert_eq!(
            normalize_text("Attempted to kill init! exitcode=0x0000000b"),
            "Attempted to kill init! exitcode=0x0000000b"
        );
        assert_eq!(normalize_text("Watchdog detected hard LOCKUP on cpu 1"), "Watchdog detected hard LOCKUP on cpu N");
        assert_eq!(
            normalize_text("VFS: Unable to mount root fs on unknown-block(0,0)"),
            "VFS: Unable to mount root fs on unknown-block(N,N)"
        );
        assert_eq!(
            normalize_text("stack-protector: Kernel stack is corrupted in: foo+0x12/0x34"),
            "stack-protector: Kernel stack is corrupted in: foo"
        );
        assert_eq!(
            normalize_text("Dentry 00000000a1b2c3d4{i=1}  still in use (1) [unmount of ext4 sda]"),
            "Dentry ADDR{i=N} still in use (N) [unmount of ext4 sda]"
        );
        assert_eq!(normalize_text("x86_64 at 0xffffffff81000000"), "x86_64 at ADDR");
    }

    #[test]
    fn files() {
        assert_eq!(source_file("mm/ksm.c:123"), "mm/ksm.c");
        assert_eq!(source_file("./include/linux/rcupdate.h:737"), "include/linux/rcupdate.h");
        assert_eq!(source_file("/build/linux-6.1/lib/foo.c:12:3"), "lib/foo.c");
        assert_eq!(fingerprint("k", "t", &[]).len(), 16);
        assert_ne!(fingerprint("k", "t", &[]), fingerprint("k", "t", &["f".into()]));
    }
}
