//! Lock descriptions as lockdep prints them: `[#N: ][ADDR ](CLASS){usage}-{n:n}, at: F+0x..`.

use crate::console::frames;

/// The text inside a balanced `( .. )` at the start of `s`, and what follows it.
pub(super) fn balanced(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// A lock description: `[#N: ][ADDR ](CLASS)[{usage}][-{n:n}][, at: [<addr>] F+0x..]`.
pub(super) fn parse_lock(t: &str) -> Option<(String, Option<String>)> {
    let mut s = t.trim_start();
    if let Some(rest) = s.strip_prefix('#') {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        s = rest.strip_prefix(':')?.trim_start();
    }
    if let Some((word, rest)) = s.split_once(' ') {
        if word.len() >= 6 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            s = rest.trim_start();
        }
    }
    let (class, rest) = balanced(s)?;
    if !(rest.is_empty()
        || rest.starts_with('{')
        || rest.starts_with(", at:")
        || rest.starts_with("-{")
        || rest.starts_with(':'))
    {
        return None;
    }
    let class = normalize_class(class);
    if class.is_empty() {
        return None;
    }
    let at = rest.find(", at: ").and_then(|p| {
        let a = rest[p + 6..].trim_start();
        let a = match a.strip_prefix("[<") {
            Some(x) => x.split_once(']').map(|(_, r)| r.trim_start()).unwrap_or(""),
            None => a,
        };
        let f = frames::normalize_symbol(a.split_whitespace().next().unwrap_or(""));
        (!f.is_empty()).then_some(f)
    });
    Some((class, at))
}

/// Drop `#N` name-version suffixes (`sb_writers#4`, `&type->i_mutex_dir_key#3/1`): they
/// number classes of the same name in registration order, which differs between boots.
pub(super) fn normalize_class(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut it = c.trim().char_indices().peekable();
    let s = c.trim();
    while let Some((i, ch)) = it.next() {
        if ch == '#' {
            let digits = s[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let after = s[i + 1 + digits..].chars().next();
            if digits > 0 && matches!(after, None | Some('/') | Some(')') | Some(' ')) {
                for _ in 0..digits {
                    it.next();
                }
                continue;
            }
        }
        if ch.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            continue;
        }
        out.push(ch);
    }
    out.trim().to_string()
}
