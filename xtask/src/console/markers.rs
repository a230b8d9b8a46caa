//! The guest's own markers: `@@KSMH <event> key=value ...` lines printed by images/init and
//! the workload (protocol version 1). Pure: console text in, typed guest report out.
//! A marker may share its line with kernel output printed by another CPU, so it is searched
//! for anywhere in the line, and a value never contains a space.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const TAG: &str = "@@KSMH ";
pub const PROTOCOL: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub line: u64,
    pub event: String,
    pub fields: BTreeMap<String, String>,
}

impl Marker {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }
    pub fn num(&self, k: &str) -> Option<u64> {
        self.get(k).and_then(|v| v.parse().ok())
    }
}

pub fn parse_line(line: &str, lineno: u64) -> Option<Marker> {
    let start = line.find(TAG)? + TAG.len();
    let mut words = line[start..].split_whitespace();
    let event = words.next()?.to_string();
    if !event.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    let fields = words
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Marker { line: lineno, event, fields })
}

pub fn parse(text: &str) -> Vec<Marker> {
    text.lines().enumerate().filter_map(|(i, l)| parse_line(l, i as u64 + 1)).collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KsmStats {
    pub run: u64,
    pub pages_shared: u64,
    pub pages_sharing: u64,
    pub full_scans: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockResult {
    pub block: u64,
    pub ok: bool,
    pub reason: Option<String>,
}

/// What the guest said about itself, typed. Every field is what a marker said, or absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestReport {
    pub protocol: Option<u32>,
    pub arch: Option<String>,
    pub kernel: Option<String>,
    pub phases: Vec<String>,
    /// `debug_locks` from /proc/lockdep_stats, by moment (boot, before-trigger, end).
    pub debug_locks: BTreeMap<String, u64>,
    /// KSM counters by moment (merged, after-cancel, after-offline, after).
    pub ksm: BTreeMap<String, KsmStats>,
    /// Workload pages per memory block, by moment (before, after): block -> (pages, ksm pages).
    pub block_usage: BTreeMap<String, BTreeMap<u64, (u64, u64)>>,
    pub targets: Vec<u64>,
    pub offlined: Vec<BlockResult>,
    pub cancelled: Vec<BlockResult>,
    pub hotplug_added: Vec<u64>,
    pub hotplug_requests: Vec<String>,
    pub hotplug_removed: Option<bool>,
    pub ksmd_scans: Option<(u64, u64)>,
    pub run_write_ok: Option<bool>,
    pub verify_ok: Option<bool>,
    pub verify_bad_bytes: Option<u64>,
    pub workload_exit: Option<i64>,
    pub errors: Vec<String>,
    pub done: Option<String>,
}

impl GuestReport {
    pub fn last_phase(&self) -> Option<&str> {
        self.phases.last().map(String::as_str)
    }
    pub fn merged(&self) -> Option<&KsmStats> {
        self.ksm.get("merged")
    }
    pub fn blocks_offlined(&self) -> Vec<u64> {
        self.offlined.iter().filter(|b| b.ok).map(|b| b.block).collect()
    }
    /// KSM pages of the workload that sat in blocks which then went offline.
    pub fn ksm_pages_migrated(&self) -> u64 {
        let before = self.block_usage.get("before");
        self.blocks_offlined().iter().filter_map(|b| before.and_then(|u| u.get(b)).map(|(_, k)| *k)).sum()
    }
}

fn ksm_stats(m: &Marker) -> KsmStats {
    KsmStats {
        run: m.num("run").unwrap_or(0),
        pages_shared: m.num("pages_shared").unwrap_or(0),
        pages_sharing: m.num("pages_sharing").unwrap_or(0),
        full_scans: m.num("full_scans").unwrap_or(0),
    }
}

fn block_result(m: &Marker, ok_word: &str) -> Option<BlockResult> {
    Some(BlockResult {
        block: m.num("block")?,
        ok: m.get("result") == Some(ok_word),
        reason: m.get("reason").map(str::to_string),
    })
}

fn list(v: Option<&str>) -> Vec<u64> {
    v.unwrap_or("").split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

pub fn summarize(markers: &[Marker]) -> GuestReport {
    let mut r = GuestReport::default();
    for m in markers {
        let when = m.get("when").unwrap_or("").to_string();
        match m.event.as_str() {
            "hello" => {
                r.protocol = m.num("version").map(|v| v as u32);
                r.arch = m.get("arch").map(str::to_string);
                r.kernel = m.get("kernel").map(str::to_string);
            }
            "phase" => r.phases.extend(m.get("name").map(str::to_string)),
            "lockdep-stats" => {
                if let Some(v) = m.num("debug_locks") {
                    r.debug_locks.insert(when, v);
                }
            }
            "ksm" => {
                r.ksm.insert(when, ksm_stats(m));
            }
            "block-usage" => {
                if let (Some(b), Some(p)) = (m.num("block"), m.num("pages")) {
                    r.block_usage.entry(when).or_default().insert(b, (p, m.num("ksm").unwrap_or(0)));
                }
            }
            "targets" => r.targets = list(m.get("blocks")),
            "offline" => r.offlined.extend(block_result(m, "ok")),
            "cancel" => r.cancelled.extend(block_result(m, "cancelled")),
            "hotplug-added" => r.hotplug_added = list(m.get("blocks")),
            "hotplug-request" => r.hotplug_requests.extend(m.get("action").map(str::to_string)),
            "hotplug-removed" => r.hotplug_removed = Some(m.get("result") == Some("ok")),
            "ksmd-scans" => {
                if let (Some(b), Some(a)) = (m.num("before"), m.num("after")) {
                    r.ksmd_scans = Some((b, a));
                }
            }
            "run-write" => r.run_write_ok = Some(m.get("result") == Some("ok")),
            "verify" => {
                r.verify_ok = Some(m.get("result") == Some("ok"));
                r.verify_bad_bytes = m.num("bad_bytes");
            }
            "workload-exit" => r.workload_exit = m.get("status").and_then(|s| s.parse().ok()),
            "error" => r.errors.push(format!(
                "{}: {}",
                m.get("what").unwrap_or("?"),
                m.get("reason").unwrap_or("?")
            )),
            "done" => r.done = m.get("result").map(str::to_string),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    // Excerpt of a real s390x console (upstream kernel, cancel scenario).
    const S390X: &str = "\
@@KSMH hello version=1 arch=s390x kernel=6.1.192 scenario=cancel mib=32 memory=movable
@@KSMH phase name=boot
@@KSMH lockdep-stats when=boot debug_locks=1
@@KSMH ksm when=merged run=1 pages_shared=60 pages_sharing=8132 pages_unshared=0 full_scans=4
@@KSMH block-usage when=before block=8 pages=6400 ksm=6400
@@KSMH block-usage when=before block=15 pages=1792 ksm=1792
@@KSMH targets blocks=8,15
@@KSMH lockdep-stats when=before-trigger debug_locks=1
@@KSMH phase name=cancel
@@KSMH offline block=8 result=fail reason=Cannot-allocate-memory state=online
@@KSMH cancel block=8 result=cancelled
[   21.000000] memory offlining [mem 0x80000000-0x8fffffff] failed due to notifier failure
@@KSMH offline block=8 result=ok state=offline
@@KSMH offline block=15 result=fail reason=Device-or-resource-busy state=online
@@KSMH ksmd-scans before=12 after=14
@@KSMH run-write result=ok
@@KSMH verify result=ok bytes=33554432 bad_bytes=0 bad_pages=0
@@KSMH workload-exit status=0
@@KSMH done result=complete
";

    #[test]
    fn summarizes_a_real_run() {
        let r = summarize(&parse(S390X));
        assert_eq!(r.protocol, Some(PROTOCOL));
        assert_eq!(r.merged().unwrap().pages_sharing, 8132);
        assert_eq!(r.targets, vec![8, 15]);
        assert_eq!(r.blocks_offlined(), vec![8]);
        assert_eq!(r.ksm_pages_migrated(), 6400);
        assert_eq!(r.cancelled.len(), 1);
        assert!(r.cancelled[0].ok);
        assert_eq!(r.offlined.iter().filter(|b| !b.ok).count(), 2);
        assert_eq!(r.ksmd_scans, Some((12, 14)));
        assert_eq!((r.run_write_ok, r.verify_ok, r.workload_exit), (Some(true), Some(true), Some(0)));
        assert_eq!(r.debug_locks.get("before-trigger"), Some(&1));
        assert_eq!(r.done.as_deref(), Some("complete"));
    }

    #[test]
    fn a_marker_interleaved_with_kernel_output_is_still_read() {
        let m = parse_line("[   40.1] ksm: foo@@KSMH verify result=fail bytes=10 bad_bytes=3", 7).unwrap();
        assert_eq!((m.event.as_str(), m.num("bad_bytes"), m.line), ("verify", Some(3), 7));
        assert!(parse_line("@@KSMH", 1).is_none());
        assert!(parse_line("no marker here", 1).is_none());
        assert!(parse_line("@@KSMH $(bad) x=1", 1).is_none());
    }
}
