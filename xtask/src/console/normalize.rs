//! Strip what the transport wrapped around a kernel message: printk timestamps and caller
//! ids, `<N>` log levels, `/dev/kmsg` records, syslog/journal and ISO timestamps, `dmesg -T`
//! and `dmesg -x` prefixes, CR/LF, ANSI escapes, invalid UTF-8. The message keeps its own
//! leading blanks: lockdep's unsafe-scenario columns are told apart by them.
//!
//! Byte-level parsing rather than regexes: this runs on every line of the log.

use std::borrow::Cow;

/// printk caller id (`CONFIG_PRINTK_CALLER`): the task or, in interrupt context, the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    Task(u32),
    Cpu(u32),
}

pub(crate) struct Normalized<'a> {
    buf: Cow<'a, str>,
    start: usize,
    pub caller: Option<Caller>,
}

impl Normalized<'_> {
    pub(crate) fn text(&self) -> &str {
        self.buf.get(self.start..).unwrap_or("")
    }
}

pub(crate) fn normalize(raw: &[u8]) -> Normalized<'_> {
    let has_ctrl = raw.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
    let buf = if has_ctrl {
        Cow::Owned(clean(&String::from_utf8_lossy(last_segment(raw))))
    } else {
        String::from_utf8_lossy(raw)
    };
    let (start, caller) = strip_prefixes(buf.as_bytes());
    Normalized { buf, start, caller }
}

/// A bare CR inside a line means the terminal overwrote what came before it (a progress bar,
/// or kernel output landing on a partial user-space line after `\r`): keep what was shown last.
fn last_segment(mut raw: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r'] = raw {
        raw = rest;
    }
    while let [b'\r', rest @ ..] = raw {
        raw = rest;
    }
    if let Some(p) = raw.iter().rposition(|&b| b == b'\r') {
        let tail = &raw[p + 1..];
        if tail.iter().any(|b| !b.is_ascii_whitespace()) {
            return tail;
        }
        raw = &raw[..p];
    }
    raw
}

/// Drop ANSI escape sequences (colours from user space sharing the serial line) and other
/// control characters, keeping tabs (RCU stall lines use them).
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\x1b' => match it.peek() {
                Some('[') => {
                    it.next();
                    for c in it.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    it.next();
                    while let Some(c) = it.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            if it.peek() == Some(&'\\') {
                                it.next();
                            }
                            break;
                        }
                    }
                }
                Some(_) => {
                    it.next();
                }
                None => {}
            },
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn strip_prefixes(b: &[u8]) -> (usize, Option<Caller>) {
    let mut i = 0;
    let mut caller = None;
    let mut timed = false;
    // Prefixes nest in any order (`<4>[ts][T1]`, `host kernel: [ts]`, `ISO [ts]`): peel a few.
    for _ in 0..8 {
        let r = &b[i..];
        let n = if let Some(n) = loglevel(r) {
            n
        } else if let Some((n, c)) = kmsg_record(r) {
            caller = c.or(caller);
            timed = true;
            n
        } else if let Some(n) = bracket_time(r) {
            timed = true;
            n
        } else if let Some((n, c)) = bracket_caller(r) {
            caller = Some(c);
            n
        } else if let Some(n) = iso_time(r).or_else(|| syslog_time(r)) {
            timed = true;
            n + host_tag(&r[n..])
        } else if let Some(n) = dmesg_human_time(r) {
            timed = true;
            n
        } else if let Some(n) = dmesg_facility(r) {
            n
        } else if let Some(n) = kernel_tag(r, timed) {
            n
        } else {
            break;
        };
        if n == 0 {
            break;
        }
        i += n;
    }
    if i == 0 {
        if let Some(j) = midline_time(b) {
            let (k, c) = strip_prefixes(&b[j..]);
            return (j + k, c);
        }
    }
    (i, caller)
}

fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

fn spaces(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| c == b' ').count()
}

fn parse_u32(b: &[u8]) -> Option<u32> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `<4>`
fn loglevel(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let d = digits(&b[1..]);
    (1..=3).contains(&d).then_some(())?;
    (b.get(1 + d) == Some(&b'>')).then_some(2 + d)
}

/// `/dev/kmsg`: `6,339,5140900,-;msg` or `6,339,5140900,-,caller=T1;msg`.
fn kmsg_record(b: &[u8]) -> Option<(usize, Option<Caller>)> {
    let mut i = 0;
    for _ in 0..3 {
        let d = digits(&b[i..]);
        if d == 0 || b.get(i + d) != Some(&b',') {
            return None;
        }
        i += d + 1;
    }
    let semi = b[i..].iter().take(64).position(|&c| c == b';')?;
    let fields = &b[i..i + semi];
    if fields.contains(&b' ') {
        return None;
    }
    let caller = fields.split(|&c| c == b',').find_map(|f| f.strip_prefix(b"caller=")).and_then(caller_id);
    Some((i + semi + 1, caller))
}

fn caller_id(b: &[u8]) -> Option<Caller> {
    let (&k, n) = b.split_first()?;
    let v = parse_u32(n)?;
    match k {
        b'T' => Some(Caller::Task(v)),
        b'C' => Some(Caller::Cpu(v)),
        _ => None,
    }
}

/// Consume one blank after a bracket, unless another bracket follows directly.
fn after_bracket(b: &[u8], i: usize) -> usize {
    if b.get(i) == Some(&b' ') {
        i + 1
    } else {
        i
    }
}

/// `[   40.123456]`
fn bracket_time(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'[') {
        return None;
    }
    let mut i = 1 + spaces(&b[1..]);
    let d = digits(&b[i..]);
    if d == 0 || b.get(i + d) != Some(&b'.') {
        return None;
    }
    i += d + 1;
    let f = digits(&b[i..]);
    if f == 0 || b.get(i + f) != Some(&b']') {
        return None;
    }
    Some(after_bracket(b, i + f + 1))
}

/// `[T123]`, `[ T123]`, `[    C1]`
fn bracket_caller(b: &[u8]) -> Option<(usize, Caller)> {
    if b.first() != Some(&b'[') {
        return None;
    }
    let i = 1 + spaces(&b[1..]);
    let d = digits(b.get(i + 1..)?);
    if d == 0 || b.get(i + 1 + d) != Some(&b']') {
        return None;
    }
    let c = caller_id(&b[i..i + 1 + d])?;
    Some((after_bracket(b, i + 2 + d), c))
}

fn fixed(b: &[u8], pat: &[u8]) -> bool {
    // `d` is a digit, `a` a letter, anything else literal.
    b.len() >= pat.len()
        && pat.iter().zip(b).all(|(&p, &c)| match p {
            b'd' => c.is_ascii_digit(),
            b'a' => c.is_ascii_alphabetic(),
            _ => p == c,
        })
}

/// `2024-01-31T12:00:00.123456+00:00 ` (CI runners, RFC 5424 syslog).
fn iso_time(b: &[u8]) -> Option<usize> {
    if !fixed(b, b"dddd-dd-dd") || !matches!(b.get(10), Some(b'T' | b' ')) || !fixed(&b[11..], b"dd:dd:dd") {
        return None;
    }
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1 + digits(&b[i + 1..]);
    }
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+' | b'-') => {
            i += 1 + digits(&b[i + 1..]);
            if b.get(i) == Some(&b':') {
                i += 1 + digits(&b[i + 1..]);
            }
        }
        _ => {}
    }
    let s = spaces(&b[i..]);
    (s > 0).then_some(i + s)
}

/// `Jan  1 00:00:00 `
fn syslog_time(b: &[u8]) -> Option<usize> {
    if !fixed(b, b"aaa ") || !b[0].is_ascii_uppercase() {
        return None;
    }
    let mut i = 4 + spaces(&b[4..]);
    let d = digits(&b[i..]);
    if !(1..=2).contains(&d) {
        return None;
    }
    i += d;
    if !fixed(&b[i..], b" dd:dd:dd ") {
        return None;
    }
    Some(i + 10)
}

/// After a syslog timestamp: `host kernel: `, `host systemd-journald[42]: `.
fn host_tag(b: &[u8]) -> usize {
    let word = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')).count();
    let h = word(b);
    if h == 0 || b.get(h) != Some(&b' ') {
        return 0;
    }
    let mut i = h + 1;
    let t = word(&b[i..]);
    if t == 0 {
        return 0;
    }
    i += t;
    if b.get(i) == Some(&b'[') {
        let d = digits(&b[i + 1..]);
        if d == 0 || b.get(i + 1 + d) != Some(&b']') {
            return 0;
        }
        i += d + 2;
    }
    if b.get(i) == Some(&b':') && b.get(i + 1) == Some(&b' ') {
        i + 2
    } else {
        0
    }
}

/// `kernel: ` alone, or `host kernel: ` after a timestamp (`journalctl -o short-monotonic`).
fn kernel_tag(b: &[u8], timed: bool) -> Option<usize> {
    if b.starts_with(b"kernel: ") {
        return Some(8);
    }
    if !timed {
        return None;
    }
    let h = b.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')).count();
    (h > 0 && b[h..].starts_with(b" kernel: ")).then_some(h + 9)
}

/// `dmesg -T`: `[Mon Jan  1 00:00:00 2024] `
fn dmesg_human_time(b: &[u8]) -> Option<usize> {
    if !fixed(b, b"[aaa aaa ") {
        return None;
    }
    let close = b.iter().take(32).position(|&c| c == b']')?;
    let inner = &b[..close];
    if !inner.contains(&b':') || close < 5 || !inner[close - 4..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(after_bracket(b, close + 1))
}

/// `dmesg -x`: `kern  :warn  : `
fn dmesg_facility(b: &[u8]) -> Option<usize> {
    const FAC: &[&[u8]] = &[b"kern", b"user", b"mail", b"daemon", b"auth", b"syslog", b"lpr", b"news"];
    const LVL: &[&[u8]] = &[b"emerg", b"alert", b"crit", b"err", b"warn", b"notice", b"info", b"debug"];
    let f = FAC.iter().find(|f| b.starts_with(f))?;
    let mut i = f.len() + spaces(&b[f.len()..]);
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let l = LVL.iter().find(|l| b[i..].starts_with(l))?;
    i += l.len();
    i += spaces(&b[i..]);
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    Some(i + usize::from(b.get(i) == Some(&b' ')))
}

/// A kernel line that landed after a partial user-space line: `foo[   40.123456] msg`.
fn midline_time(b: &[u8]) -> Option<usize> {
    let lim = b.len().min(512);
    let mut from = 1;
    while from < lim {
        let p = from + b[from..lim].iter().position(|&c| c == b'[')?;
        if let Some(n) = bracket_time(&b[p..]) {
            // Demand the kernel's six decimals, so `[1.5]` in prose is left alone.
            let inner = &b[p..p + n];
            let dot = inner.iter().position(|&c| c == b'.').unwrap_or(0);
            if digits(&inner[dot + 1..]) == 6 {
                return Some(p);
            }
        }
        from = p + 1;
    }
    None
}

#[cfg(test)]
mod tests;
