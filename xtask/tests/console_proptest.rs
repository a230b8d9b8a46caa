//! The analyzer never panics and its output is always well formed, on arbitrary bytes and on
//! arbitrary mixtures of real kernel lines (every fixture line is in the pool) cut, prefixed
//! and garbled at random.

use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use xtask::console::{analyze_bytes, analyze_reader, Analysis, Category, Kind};

fn pool() -> &'static [String] {
    static P: OnceLock<Vec<String>> = OnceLock::new();
    P.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console");
        let mut lines = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "log") {
                lines.extend(String::from_utf8_lossy(&std::fs::read(p).unwrap()).lines().map(str::to_string));
            }
        }
        lines
    })
}

fn check(input: &[u8], a: &Analysis) {
    let newlines = input.iter().filter(|&&b| b == b'\n').count() as u64;
    let expected = newlines + u64::from(!input.is_empty() && input.last() != Some(&b'\n'));
    assert_eq!(a.lines, expected);
    let mut fps = HashSet::new();
    for f in &a.findings {
        assert!(f.first_line >= 1 && f.first_line <= f.last_line && f.last_line <= a.lines, "{f:?}");
        assert!(f.count >= 1);
        assert!(fps.insert(f.fingerprint.clone()), "duplicate fingerprint {f:?}");
        assert_eq!(f.fingerprint.len(), 16);
        assert!(!f.title.is_empty() && f.title.chars().count() <= 200);
        assert!(!f.title.contains("+0x"), "offset in title {:?}", f.title);
        assert!(f.frames.len() <= 64 && f.frames.iter().all(|x| !x.contains("+0x") && !x.is_empty()));
        assert_eq!(f.category == Category::Lockdep && f.lockdep.is_some(), f.lockdep.is_some());
    }
    assert!(a.findings.windows(2).all(|w| w[0].first_line <= w[1].first_line));
    assert!(a.problems().all(|f| f.category != Category::Info));
    if a.findings.iter().any(|f| f.kind == Kind::LockdepTurnedOff) {
        assert!(a.lockdep_turned_off);
    }
}

#[derive(Debug, Clone)]
enum Piece {
    Real(usize),
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        8 => any::<usize>().prop_map(Piece::Real),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Piece::Garbage),
    ]
}

#[derive(Debug, Clone)]
struct Damage {
    prefix: u8,
    cut: Option<usize>,
    crlf: bool,
}

fn damage() -> impl Strategy<Value = Damage> {
    (0u8..8, proptest::option::weighted(0.1, 0usize..200), any::<bool>()).prop_map(|(prefix, cut, crlf)| Damage {
        prefix,
        cut,
        crlf,
    })
}

fn render(pieces: &[(Piece, Damage)]) -> Vec<u8> {
    let pool = pool();
    let mut out = Vec::new();
    for (p, d) in pieces {
        let mut line: Vec<u8> = match p {
            Piece::Real(i) => pool[i % pool.len()].clone().into_bytes(),
            Piece::Garbage(g) => g.iter().copied().filter(|&b| b != b'\n').collect(),
        };
        let prefix: &[u8] = match d.prefix {
            1 => b"<4>",
            2 => b"[ T42] ",
            3 => b"Jan  1 00:00:00 host kernel: ",
            4 => b"\x1b[1m",
            5 => b"user space junk",
            _ => b"",
        };
        line.splice(0..0, prefix.iter().copied());
        if let Some(c) = d.cut {
            line.truncate(c);
        }
        if d.crlf {
            line.push(b'\r');
        }
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let a = analyze_bytes(&input);
        check(&input, &a);
    }

    #[test]
    fn arbitrary_text_lines(lines in proptest::collection::vec("[ -~\t\r]{0,120}", 0..60)) {
        let input = lines.join("\n").into_bytes();
        check(&input, &analyze_bytes(&input));
    }

    #[test]
    fn mixtures_of_real_kernel_lines(pieces in proptest::collection::vec((piece(), damage()), 0..400), buf in 1usize..64) {
        let input = render(&pieces);
        let a = analyze_bytes(&input);
        check(&input, &a);
        let streamed = analyze_reader(BufReader::with_capacity(buf, &input[..])).unwrap();
        prop_assert_eq!(a, streamed);
    }

    #[test]
    fn runs_of_consecutive_real_lines(start in any::<usize>(), len in 0usize..300, skip in 0usize..5) {
        let pool = pool();
        let input: Vec<u8> = (0..len)
            .filter(|i| skip == 0 || i % (skip + 3) != 0)
            .flat_map(|i| format!("{}\n", pool[(start % pool.len() + i) % pool.len()]).into_bytes())
            .collect();
        check(&input, &analyze_bytes(&input));
    }
}
