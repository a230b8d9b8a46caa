//! Every `fixtures/console/NAME.log` is analyzed and compared with `NAME.expect.json`:
//!
//! ```json
//! { "lockdep_turned_off": true,
//!   "findings": [ { "category": "lockdep", "kind": "circular_locking", "title": "...",
//!                   "lockdep": { "chain": ["a", "b"] }, "fingerprint_group": "ksm-memory-chain" } ] }
//! ```
//!
//! Findings match one to one and in order; each expected object only names the fields it
//! checks (any subset of a `Finding`, nested objects too). Findings that share a
//! `fingerprint_group`, across all fixtures, must have one fingerprint; different groups must
//! differ. To add a fixture, drop `NAME.log` in the directory and run with `CONSOLE_BLESS=1`
//! to write a starting `NAME.expect.json` (then trim it to what matters and review it).

use std::collections::BTreeMap;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use xtask::console::{analyze_bytes, analyze_reader, Analysis};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    assert!(v.len() >= 15, "fixtures missing from {}", dir.display());
    v
}

/// `expected` names a subset of `actual`'s fields; arrays must match element by element.
fn subset(expected: &Value, actual: &Value, path: &str, errs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => subset(ev, av, &format!("{path}.{k}"), errs),
                    None => errs.push(format!("{path}.{k}: no such field")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errs.push(format!("{path}: expected {} elements, got {}: {}", e.len(), a.len(), actual));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{path}[{i}]"), errs);
            }
        }
        (e, a) if e == a => {}
        (e, a) => errs.push(format!("{path}: expected {e}, got {a}")),
    }
}

fn blessed(a: &Analysis) -> Value {
    let findings: Vec<Value> = a
        .findings
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("category".into(), json!(f.category));
            o.insert("kind".into(), json!(f.kind));
            o.insert("title".into(), json!(f.title));
            o.insert("first_line".into(), json!(f.first_line));
            o.insert("last_line".into(), json!(f.last_line));
            o.insert("count".into(), json!(f.count));
            o.insert("truncated".into(), json!(f.truncated));
            if let Some(t) = &f.task {
                o.insert("task".into(), json!(t));
            }
            if let Some(l) = &f.lockdep {
                o.insert("lockdep".into(), json!({"acquiring": l.acquiring, "held": l.held, "chain": l.chain}));
            }
            Value::Object(o)
        })
        .collect();
    json!({ "lockdep_turned_off": a.lockdep_turned_off, "findings": findings })
}

#[test]
fn fixtures_match_their_expectations() {
    let bless = std::env::var_os("CONSOLE_BLESS").is_some();
    let mut errs = Vec::new();
    let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for log in fixtures() {
        let name = log.file_name().unwrap().to_string_lossy().to_string();
        let a = analyze_bytes(&fs::read(&log).unwrap());
        let expect_path = log.with_extension("expect.json");
        let Ok(text) = fs::read_to_string(&expect_path) else {
            let doc = serde_json::to_string_pretty(&blessed(&a)).unwrap();
            if bless {
                fs::write(&expect_path, doc + "\n").unwrap();
            } else {
                errs.push(format!("{name}: no {} (CONSOLE_BLESS=1 writes it); actual:\n{doc}", expect_path.display()));
            }
            continue;
        };
        let mut expected: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
        if let Some(list) = expected.get_mut("findings").and_then(Value::as_array_mut) {
            for (i, f) in list.iter_mut().enumerate() {
                if let Some(g) = f.as_object_mut().and_then(|o| o.remove("fingerprint_group")) {
                    let fp = a.findings.get(i).map(|f| f.fingerprint.clone()).unwrap_or_default();
                    groups.entry(g.as_str().unwrap_or("").to_string()).or_default().push((format!("{name}#{i}"), fp));
                }
            }
        }
        let actual = serde_json::to_value(&a).unwrap();
        let before = errs.len();
        subset(&expected, &actual, &name, &mut errs);
        if errs.len() > before {
            errs.push(format!("{name}: actual findings:\n{}", serde_json::to_string_pretty(&blessed(&a)).unwrap()));
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (group, members) in &groups {
        let fps: Vec<&String> = members.iter().map(|(_, fp)| fp).collect();
        if fps.iter().any(|fp| *fp != fps[0]) {
            errs.push(format!("fingerprint group {group} differs: {members:?}"));
        }
        if let Some(other) = seen.insert(fps[0].clone(), group.clone()) {
            errs.push(format!("fingerprint groups {other} and {group} collide"));
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

/// Reading as a stream with a tiny buffer gives exactly what reading the whole input gives.
#[test]
fn streaming_equals_whole_input() {
    for log in fixtures() {
        let bytes = fs::read(&log).unwrap();
        let whole = analyze_bytes(&bytes);
        for cap in [1, 7, 4096] {
            let streamed = analyze_reader(BufReader::with_capacity(cap, &bytes[..])).unwrap();
            assert_eq!(whole, streamed, "{} with buffer {cap}", log.display());
        }
    }
}

/// The same log behind another transport (CRLF, loglevel, syslog) gives the same findings.
#[test]
fn transport_prefixes_do_not_change_findings() {
    type Transform = fn(&str) -> String;
    let transforms: [(&str, Transform); 3] = [
        ("crlf", |l| format!("{l}\r")),
        ("loglevel", |l| format!("<4>{l}")),
        ("syslog", |l| format!("Jan  1 00:00:00 host kernel: {l}")),
    ];
    let key = |a: &Analysis| {
        a.findings
            .iter()
            .map(|f| (f.kind, f.title.clone(), f.fingerprint.clone(), f.count, f.first_line, f.last_line))
            .collect::<Vec<_>>()
    };
    for log in fixtures() {
        let text = String::from_utf8_lossy(&fs::read(&log).unwrap()).replace("\r\n", "\n");
        let base = analyze_bytes(text.as_bytes());
        for (name, t) in transforms {
            let wrapped: String = text.lines().map(|l| t(l) + "\n").collect();
            let a = analyze_bytes(wrapped.as_bytes());
            assert_eq!(key(&base), key(&a), "{} behind {name}", log.display());
        }
    }
}
