//! Throughput of the console analyzer on a large synthetic log: mostly ordinary boot and
//! driver lines, with real reports (every fixture) sprinkled in. Two sizes, to show that the
//! cost is linear. `cargo bench -p xtask --bench analyzer`; target >= 100 MB/s.

use std::hint::black_box;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use xtask::console::{analyze_bytes, analyze_reader};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ORDINARY: &[&str] = &[
    "pci 0000:00:{n}.0: [8086:100e] type 00 class 0x020000",
    "virtio_blk virtio{n}: [vda] 4194304 512-byte logical blocks (2.15 GB/2.00 GiB)",
    "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "systemd[1]: Started Journal Service.",
    "random: crng init done",
    "audit: type=1400 audit({n}.123:45): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"/usr/bin/man\" pid={n} comm=\"apparmor_parser\"",
    "memory memory{n}: Offline failed.",
    "Offlined Pages {n}",
    "Built 1 zonelists, mobility grouping on.  Total pages: {n}",
    "clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x24093623c91, max_idle_ns: 440795291220 ns",
    "e1000 0000:00:03.0 eth0: (PCI:33MHz:32-bit) 52:54:00:12:34:56",
    "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
    "sd 0:0:0:0: [sda] Write cache: enabled, read cache: enabled, doesn't support DPO or FUA",
    "Freeing unused kernel image (initmem) memory: {n}K",
    "ksm: scanning {n} pages, {n} shared",
    "@@KSMH block-usage when=before block={n} pages=6400 ksm=6400",
    "  #{n}: [mem 0x{n}-0x{n}] usable",
    "rcu: \tRCU restricting CPUs from NR_CPUS=8192 to nr_cpu_ids=2.",
    "WARNING: The mand mount option has been deprecated and and is ignored by this kernel. Remove the mand option from the mount to silence this warning.",
    "BTRFS info (device vdb): using free space tree",
];

fn reports() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/console");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).replace("\r\n", "\n"))
        .collect();
    v.sort();
    v
}

fn synth(bytes: usize, reports: &[String]) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(bytes + 4096);
    let mut t = 0u64;
    while out.len() < bytes {
        if rng.below(8000) == 0 {
            out.extend_from_slice(reports[rng.below(reports.len())].as_bytes());
            continue;
        }
        t += 1 + rng.below(2000) as u64;
        let line = ORDINARY[rng.below(ORDINARY.len())].replace("{n}", &rng.below(100_000).to_string());
        out.extend_from_slice(format!("[{:5}.{:06}] {line}\n", t / 1_000_000, t % 1_000_000).as_bytes());
    }
    out
}

fn best_of(runs: usize, f: impl Fn() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..runs {
        let start = Instant::now();
        n = black_box(f());
        best = best.min(start.elapsed());
    }
    (best, n)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that fast.
    let quick = !std::env::args().any(|a| a == "--bench");
    let reports = reports();
    let sizes: &[usize] = if quick { &[1 << 20] } else { &[50 << 20, 200 << 20] };
    for &size in sizes {
        let log = synth(size, &reports);
        let mb = log.len() as f64 / (1 << 20) as f64;
        let lines = log.iter().filter(|&&b| b == b'\n').count();
        let (whole, findings) = best_of(3, || analyze_bytes(&log).findings.iter().map(|f| f.count as usize).sum());
        let (stream, _) =
            best_of(3, || analyze_reader(BufReader::with_capacity(64 << 10, &log[..])).unwrap().findings.len());
        println!(
            "analyzer: {mb:7.1} MB, {lines:>9} lines, {findings:>6} report occurrences: analyze_bytes {:7.1} MB/s ({:.2} s), analyze_reader(64 KiB buffer) {:7.1} MB/s",
            mb / whole.as_secs_f64(),
            whole.as_secs_f64(),
            mb / stream.as_secs_f64(),
        );
    }
}
