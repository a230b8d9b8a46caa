//! A kernel report drawn: for lockdep's circular dependency the cycle as a graph (lock classes
//! as nodes, each edge "holding A, took B" labelled with the function that took B), the held
//! locks, the unsafe scenario, the stack frames and the raw lines. Frames are decoded to
//! file:line when the cell was built with `--debug-info`, else shown as the kernel printed them.
//!
//! How lockdep prints the cycle (`print_circular_bug`): `-> #N` is the lock already held, `-> #0`
//! the one being acquired, and the trace under `-> #k` is where lock k was taken while lock
//! k-1 was held (for #0: right now, while #N is held). So the locks in the order they are taken
//! are #N, #0, #1, .. #N-1, and each link's first frame the skip table keeps names its edge.

use anyhow::{anyhow, Result};
use maud::{html, Markup};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::console::{Finding, LockdepDetail};
use crate::kernel::decode::{Decoded, Site};

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// The function that took `to` while `from` was held, when the report says.
    pub site: Option<String>,
    /// The dependency this report is about (the task is taking it now); the others existed.
    pub new: bool,
}

/// A lock cycle: `locks[0]` is the lock the task held, `locks[1]` the one it was acquiring,
/// and each edge goes from a held lock to the next one taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Cycle {
    pub locks: Vec<String>,
    pub edges: Vec<Edge>,
}

/// The cycle of a circular-dependency report. `sites`: each `-> #k` link's site in printed
/// order (from [`link_sites`]); ignored unless there is one per chain entry.
pub fn cycle(d: &LockdepDetail, sites: &[Option<String>]) -> Option<Cycle> {
    let c = &d.chain;
    let n = c.len();
    let site = |i: usize| if sites.len() == n { sites[i].clone() } else { None };
    let held_first =
        n >= 2 && d.held.as_ref().is_none_or(|h| *h == c[0]) && d.acquiring.as_ref().is_none_or(|a| *a == c[n - 1]);
    if held_first {
        // `-> #N .. -> #0`: c[0] is #N (held), c[n-1] is #0 (acquiring).
        let mut locks = vec![c[0].clone()];
        locks.extend(c[1..].iter().rev().cloned());
        let mut edges = vec![Edge { from: 0, to: 1, site: site(n - 1).or_else(|| d.acquiring_at.clone()), new: true }];
        for m in 1..n {
            edges.push(Edge { from: m, to: (m + 1) % n, site: site(n - 1 - m), new: false });
        }
        return Some(Cycle { locks, edges });
    }
    // Legacy `Chain exists of: ACQ --> .. --> HELD`: the existing order, no sites.
    let (held, acq) = (d.held.as_ref()?, d.acquiring.as_ref()?);
    if n >= 2 && c[0] == *acq && c[n - 1] == *held {
        let mut locks = vec![held.clone()];
        locks.extend(c[..n - 1].iter().cloned());
        let edges = (0..n)
            .map(|m| Edge {
                from: m,
                to: (m + 1) % n,
                site: if m == 0 { d.acquiring_at.clone() } else { None },
                new: m == 0,
            })
            .collect();
        return Some(Cycle { locks, edges });
    }
    // No chain at all: the two locks of the header, as the report's title names them.
    if n == 0 && held != acq {
        return Some(Cycle {
            locks: vec![held.clone(), acq.clone()],
            edges: vec![
                Edge { from: 0, to: 1, site: d.acquiring_at.clone(), new: true },
                Edge { from: 1, to: 0, site: None, new: false },
            ],
        });
    }
    None
}

/// The console line without its printk prefixes (`[   12.86]`, `[  T123]`).
fn strip_prefixes(line: &str) -> &str {
    let mut t = line.trim_start();
    while t.starts_with('[') {
        match t.find(']') {
            Some(i) => t = t[i + 1..].trim_start(),
            None => break,
        }
    }
    t
}

/// The function of a stack line (`func+0x1/0x2`, ` [<addr>] func+0x..`) as the titles name it,
/// None for unreliable `?` frames and anything that is not a frame.
pub fn frame_function(line: &str) -> Option<String> {
    crate::console::stack_frame(line).filter(|f| !f.unreliable).map(|f| f.func)
}

/// Each `-> #k` link's site in printed order: the first frame of its trace that the analyzer's
/// skip table does not skip (lock primitives, lockdep, allocators, notifier plumbing; the
/// same rule as the finding's fingerprint). `lines` are the report's console lines.
pub fn link_sites(lines: &[&str]) -> Vec<Option<String>> {
    let mut sites: Vec<Option<String>> = Vec::new();
    let mut in_chain = false;
    for l in lines {
        let t = strip_prefixes(l);
        if t.starts_with("the existing dependency chain") {
            in_chain = true;
        } else if !in_chain {
            continue;
        } else if t.starts_with("other info that might help") || t.starts_with("stack backtrace:") {
            break;
        } else if t.starts_with("-> #") {
            sites.push(None);
        } else if let Some(last @ None) = sites.last_mut() {
            *last = frame_function(l).filter(|f| !crate::console::is_skipped(f));
        }
    }
    sites
}

// ---- drawing ----

const FONT: &str = "monospace";
const NODE_H: i32 = 34;
const NEW_EDGE: RGBColor = RGBColor(0xb3, 0x26, 0x1e);
const OLD_EDGE: RGBColor = RGBColor(0x45, 0x4f, 0x5a);

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e}")
}

fn node_w(label: &str) -> i32 {
    label.chars().count() as i32 * 8 + 26
}

/// Node centres: two side by side, more on a circle (first at the top, clockwise).
pub fn positions(c: &Cycle) -> (Vec<(f64, f64)>, (u32, u32)) {
    let widest = c.locks.iter().map(|l| node_w(l)).max().unwrap_or(80) as f64;
    let n = c.locks.len();
    if n == 2 {
        let gap = (widest + 150.0).max(340.0);
        let w = gap + widest + 60.0;
        let h = 180.0;
        return (vec![((w - gap) / 2.0, h / 2.0), ((w + gap) / 2.0, h / 2.0)], (w as u32, h as u32));
    }
    // Edge labels run outward from the circle: room for the longest on both sides.
    let label_px = c.edges.iter().map(|e| edge_label(e).chars().count()).max().unwrap_or(0) as f64 * LABEL_CHAR_PX;
    let r = 90.0 + 30.0 * n as f64 + widest / 3.0;
    let (w, h) = (2.0 * (r + (widest / 2.0).max(label_px * 0.8)) + 60.0, 2.0 * r + 140.0);
    let pts = (0..n)
        .map(|i| {
            let a = -std::f64::consts::FRAC_PI_2 + i as f64 * std::f64::consts::TAU / n as f64;
            (w / 2.0 + r * a.cos(), h / 2.0 + r * a.sin())
        })
        .collect();
    (pts, (w as u32, h as u32))
}

/// Width of a monospace character at the labels' size, for layout.
const LABEL_CHAR_PX: f64 = 7.4;

fn edge_label(e: &Edge) -> String {
    match (&e.site, e.new) {
        (Some(s), true) => format!("{s}()  [taking it now]"),
        (Some(s), false) => format!("{s}()"),
        (None, true) => "taking it now".into(),
        (None, false) => "(site not in the report)".into(),
    }
}

fn inside_box(p: (f64, f64), centre: (f64, f64), label: &str, pad: f64) -> bool {
    let hw = node_w(label) as f64 / 2.0 + pad;
    let hh = NODE_H as f64 / 2.0 + pad;
    (p.0 - centre.0).abs() <= hw && (p.1 - centre.1).abs() <= hh
}

/// The cycle as an SVG graph.
pub fn cycle_svg(c: &Cycle) -> Result<String> {
    let (pos, (w, h)) = positions(c);
    let centre = (w as f64 / 2.0, h as f64 / 2.0);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let two = c.locks.len() == 2;
        for e in &c.edges {
            let (a, b) = (pos[e.from], pos[e.to]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
            // Bulge away from the middle of the picture so edges between neighbours do not
            // cross; with two nodes, to the left of the direction of travel (one above, one below).
            let out_dir = (mid.0 - centre.0, mid.1 - centre.1);
            let out_len = (out_dir.0 * out_dir.0 + out_dir.1 * out_dir.1).sqrt();
            let normal =
                if two || out_len < 1.0 { (dy / len, -dx / len) } else { (out_dir.0 / out_len, out_dir.1 / out_len) };
            let bulge = if two { 80.0 } else { 34.0 };
            let ctrl = (mid.0 + normal.0 * bulge, mid.1 + normal.1 * bulge);
            // Few, long segments: the backend's whole-pixel points make short ones zigzag.
            let curve: Vec<(f64, f64)> = (0..=18)
                .map(|i| {
                    let t = i as f64 / 18.0;
                    let u = 1.0 - t;
                    (u * u * a.0 + 2.0 * u * t * ctrl.0 + t * t * b.0, u * u * a.1 + 2.0 * u * t * ctrl.1 + t * t * b.1)
                })
                .filter(|p| !inside_box(*p, a, &c.locks[e.from], 3.0) && !inside_box(*p, b, &c.locks[e.to], 5.0))
                .collect();
            let colour = if e.new { NEW_EDGE } else { OLD_EDGE };
            if curve.len() >= 2 {
                let pts: Vec<(i32, i32)> = curve.iter().map(|p| (p.0.round() as i32, p.1.round() as i32)).collect();
                root.draw(&PathElement::new(pts, ShapeStyle::from(&colour).stroke_width(2))).map_err(err)?;
                let (tip, prev) = (curve[curve.len() - 1], curve[curve.len() - 2]);
                let (ux, uy) = (tip.0 - prev.0, tip.1 - prev.1);
                let ul = (ux * ux + uy * uy).sqrt().max(1e-6);
                let (ux, uy) = (ux / ul, uy / ul);
                let head = [
                    (tip.0 + ux * 4.0, tip.1 + uy * 4.0),
                    (tip.0 - ux * 10.0 - uy * 6.0, tip.1 - uy * 10.0 + ux * 6.0),
                    (tip.0 - ux * 10.0 + uy * 6.0, tip.1 - uy * 10.0 - ux * 6.0),
                ];
                let head: Vec<(i32, i32)> = head.iter().map(|p| (p.0.round() as i32, p.1.round() as i32)).collect();
                root.draw(&Polygon::new(head, colour.filled())).map_err(err)?;
            }
            // The label just beyond the curve's apex (the apex is halfway to the control point).
            let apex = ((mid.0 + ctrl.0) / 2.0 + normal.0 * 8.0, (mid.1 + ctrl.1) / 2.0 + normal.1 * 8.0);
            // Anchored on the side facing the curve, so the text grows away from it.
            let h = if normal.0 > 0.3 {
                HPos::Left
            } else if normal.0 < -0.3 {
                HPos::Right
            } else {
                HPos::Center
            };
            let v = if normal.1 > 0.3 {
                VPos::Top
            } else if normal.1 < -0.3 {
                VPos::Bottom
            } else {
                VPos::Center
            };
            let style = TextStyle::from((FONT, 15).into_font()).color(&colour).pos(Pos::new(h, v));
            root.draw(&Text::new(edge_label(e), (apex.0.round() as i32, apex.1.round() as i32), style)).map_err(err)?;
        }
        for (i, (l, p)) in c.locks.iter().zip(&pos).enumerate() {
            let hw = node_w(l) / 2;
            let (x, y) = (p.0.round() as i32, p.1.round() as i32);
            let fill = if i == 0 { RGBColor(0xfd, 0xe7, 0xe4) } else { RGBColor(0xf3, 0xf6, 0xfa) };
            root.draw(&Rectangle::new([(x - hw, y - NODE_H / 2), (x + hw, y + NODE_H / 2)], fill.filled()))
                .map_err(err)?;
            root.draw(&Rectangle::new(
                [(x - hw, y - NODE_H / 2), (x + hw, y + NODE_H / 2)],
                ShapeStyle::from(&OLD_EDGE).stroke_width(if i < 2 { 2 } else { 1 }),
            ))
            .map_err(err)?;
            let style = TextStyle::from((FONT, 16).into_font()).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(l.clone(), (x, y), style)).map_err(err)?;
            let role = match i {
                0 => Some("held"),
                1 => Some("acquiring"),
                _ => None,
            };
            if let Some(role) = role {
                let style = TextStyle::from(("sans-serif", 14).into_font())
                    .color(&RGBColor(0x66, 0x66, 0x66))
                    .pos(Pos::new(HPos::Center, VPos::Top));
                root.draw(&Text::new(role, (x, y + NODE_H / 2 + 4), style)).map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// The lines that start the traces of a report: lockdep's "trying to acquire" / "already
/// holding" sites, each `-> #N` link of the chain, and the stack of the task.
const TRACE_HEADS: &[fn(&str) -> bool] = &[
    |t| t.ends_with(" lock:"),
    |t| t.starts_with("-> #"),
    |t| t.ends_with("backtrace:"),
    |t| t.starts_with("Call Trace:"),
];

/// The report's stack frames: every frame line with its source lines when they were decoded,
/// else the frames the analyzer read, as printed.
fn frames_markup(f: &Finding, lines: &[&str], decoded: Option<&Decoded>, index: usize) -> Markup {
    // The frame lines, each under the trace it belongs to (lockdep prints one per link of the
    // chain, then the current stack).
    let mut rows: Vec<(String, &[Site])> = Vec::new();
    let mut heads: Vec<(usize, String)> = Vec::new();
    for l in lines {
        let text = strip_prefixes(l).trim_end();
        match (decoded, crate::kernel::decode::frame_token(l)) {
            (Some(d), Some(t)) => rows.push((t, d.sites_of_line(l).unwrap_or_default())),
            _ if TRACE_HEADS.iter().any(|h| h(text)) => {
                heads.push((rows.len(), text.trim_end_matches(':').to_string()))
            }
            _ => {}
        }
    }
    let decoded_any = rows.iter().any(|(_, s)| !s.is_empty());
    let head_at = |i: usize| heads.iter().filter(move |(at, _)| *at == i).map(|(_, h)| h.as_str());
    html! {
        @if decoded_any {
            h3 id=(format!("frames-{index}")) { "Stack frames decoded to file:line (" (rows.len()) " frame lines; "
                 code { "scripts/faddr2line" } " with the cell's " code { (decoded.map(|d| d.vmlinux.as_str()).unwrap_or("vmlinux")) } ")" }
            p.muted { "Each frame line of the report, then where it was: the function and its source line, innermost first; a function the compiler inlined into the one below says so." }
            table.decoded.mono {
                @for (i, (token, sites)) in rows.iter().enumerate() {
                    @for h in head_at(i) { tr.head { td colspan="2" { (h) } } }
                    tr {
                        td { (token) }
                        td {
                            @if sites.is_empty() { span.muted { "not decoded" } }
                            @for s in sites.iter() {
                                div {
                                    (s.function) " " strong { (s.place) }
                                    @if s.inlined { span.muted { " inlined into" } }
                                }
                            }
                        }
                    }
                }
            }
        } @else if !f.frames.is_empty() {
            h3 id=(format!("frames-{index}")) { "Stack frames (" (f.frames.len()) ", as printed; not decoded to file:line: build with "
                 code { "--debug-info" } " to decode them)" }
            ol.frames.mono { @for fr in &f.frames { li { (fr) } } }
        }
        @if let Some(e) = decoded.and_then(|d| d.error.as_deref()) {
            p.note { "Decoding: " (e) }
        }
    }
}

/// The report's lines as the kernel printed them (1-based, inclusive), capped.
pub fn excerpt<'a>(console: &'a str, f: &Finding) -> Vec<&'a str> {
    const MAX: usize = 400;
    let first = f.first_line.max(1) as usize;
    let last = (f.last_line as usize).max(first);
    console.lines().skip(first - 1).take((last - first + 1).min(MAX)).collect()
}

/// One finding, drawn where it can be; its frames decoded to file:line when the cell was built
/// with `--debug-info`.
pub fn markup(f: &Finding, console: &str, expected: bool, index: usize, decoded: Option<&Decoded>) -> Markup {
    let lines = excerpt(console, f);
    let cyc = match (&f.lockdep, f.kind.as_str()) {
        (Some(d), "circular_locking") => cycle(d, &link_sites(&lines)),
        _ => None,
    };
    let in_cycle = |l: &str| cyc.as_ref().is_some_and(|c| c.locks.iter().any(|x| x == l));
    html! {
        section.splat.expected[expected] id=(format!("splat-{index}")) {
            h3 { (f.title) }
            p.muted {
                (f.category.as_str()) " / " (f.kind) " · fingerprint " code { (f.fingerprint) }
                @if let Some(t) = &f.task { " · task " code { (t) } @if let Some(p) = f.pid { "/" (p) } }
                " · console lines " (f.first_line) "–" (f.last_line)
                @if f.count > 1 { " · seen " (f.count) " times" }
                @if f.truncated { " · " strong { "truncated" } " (the log ended inside it)" }
                @if expected { " · " strong { "expected" } " by the matrix for this variant" }
            }
            @if let Some(c) = &cyc {
                (super::figure(
                    &format!("cycle-{index}"),
                    html! { "The dependency cycle: an arrow A → B means B was taken while A was held, labelled with the function that took B (past lock, allocator and notifier plumbing). Red: the dependency the task was adding when lockdep spoke." },
                    cycle_svg(c),
                ))
            }
            @if let Some(d) = &f.lockdep {
                @if !d.unsafe_scenario.is_empty() {
                    h3 { "Possible unsafe locking scenario" }
                    div.scenario.mono {
                        div { strong { "CPU0" } @for s in d.unsafe_scenario.iter().filter(|s| s.starts_with("CPU0")) { div { (s.trim_start_matches("CPU0: ")) } } }
                        div { strong { "CPU1" } @for s in d.unsafe_scenario.iter().filter(|s| s.starts_with("CPU1")) { div { (s.trim_start_matches("CPU1: ")) } } }
                    }
                }
                @if !d.held_locks.is_empty() {
                    h3 { "Locks held (" (d.held_locks.len()) ")" }
                    ol.mono start="0" {
                        @for l in &d.held_locks { li { @if in_cycle(l) { strong { (l) } " ← in the cycle" } @else { (l) } } }
                    }
                }
            }
            (frames_markup(f, &lines, decoded, index))
            @if !lines.is_empty() {
                details {
                    summary { "the report as the kernel printed it (console.log lines " (f.first_line) "–" (f.last_line) ")" }
                    pre { (lines.join("\n")) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(chain: &[&str], held: &str, acq: &str) -> LockdepDetail {
        LockdepDetail {
            acquiring: Some(acq.into()),
            held: Some(held.into()),
            chain: chain.iter().map(|s| s.to_string()).collect(),
            acquiring_at: Some("acq_site".into()),
            ..Default::default()
        }
    }

    fn real(name: &str) -> (String, Finding) {
        let text =
            std::fs::read_to_string(crate::paths::repo_root().join("xtask/tests/fixtures/runs").join(name)).unwrap();
        let a = crate::console::analyze_bytes(text.as_bytes());
        let f = a
            .findings
            .into_iter()
            .find(|f| f.kind == crate::console::Kind::CircularLocking)
            .expect("a circular report");
        (text, f)
    }

    #[test]
    fn frames_show_their_source_lines_once_decoded_and_say_how_to_decode_them_otherwise() {
        let (text, f) = real("6.1-s390x-prefix-cancel.console.log");
        let lines = excerpt(&text, &f);
        let raw = frames_markup(&f, &lines, None, 0).into_string();
        assert!(raw.contains("as printed") && raw.contains("--debug-info"), "{raw}");
        let token = lines
            .iter()
            .find_map(|l| crate::kernel::decode::frame_token(l).filter(|t| t.starts_with("ksm_memory_callback+")));
        let token = token.expect("the callback is a frame of the report");
        let mut d = Decoded { vmlinux: "vmlinux".into(), ..Default::default() };
        let site =
            |function: &str, place: &str, inlined| Site { function: function.into(), place: place.into(), inlined };
        d.frames.insert(
            token.clone(),
            vec![
                site("mutex_lock_nested", "include/linux/mutex.h:187", true),
                site("ksm_memory_callback", "mm/ksm.c:2980", false),
            ],
        );
        let html = frames_markup(&f, &lines, Some(&d), 0).into_string();
        assert!(html.contains("decoded to file:line") && !html.contains("as printed"), "{html}");
        assert!(html.contains(&token) && html.contains("mm/ksm.c:2980") && html.contains(" inlined into"), "{html}");
        // Every other frame line of the report is listed too, marked as not decoded.
        assert!(html.contains("not decoded"), "{html}");
        d.error = Some("not decoded: x+0x1/0x2".into());
        assert!(frames_markup(&f, &lines, Some(&d), 0).into_string().contains("Decoding: not decoded: x+0x1/0x2"));
    }

    #[test]
    fn the_real_s390x_cycle_is_mutex_then_notifier_rwsem_with_both_sites() {
        let (text, f) = real("6.1-s390x-prefix-cancel.console.log");
        let lines = excerpt(&text, &f);
        // The rwsem is taken in blocking_notifier_call_chain (plumbing): offline_pages fired it.
        assert_eq!(link_sites(&lines), vec![Some("ksm_memory_callback".into()), Some("offline_pages".into())]);
        let c = cycle(f.lockdep.as_ref().unwrap(), &link_sites(&lines)).unwrap();
        assert_eq!(c.locks, vec!["ksm_thread_mutex/1", "(memory_chain).rwsem"]);
        assert_eq!(
            c.edges,
            vec![
                Edge { from: 0, to: 1, site: Some("offline_pages".into()), new: true },
                Edge { from: 1, to: 0, site: Some("ksm_memory_callback".into()), new: false },
            ]
        );
        let svg = cycle_svg(&c).unwrap();
        assert!(svg.contains("ksm_thread_mutex/1") && svg.contains("offline_pages()"), "{svg}");
    }

    #[test]
    fn both_arches_label_the_cycle_alike() {
        // arm64 calls the chain through a memory_notify frame that s390x inlines.
        let sites = |name: &str| {
            let (text, f) = real(&format!("{name}.console.log"));
            (text.contains("memory_notify+0x"), link_sites(&excerpt(&text, &f)))
        };
        for kernel in ["6.1", "6.12"] {
            for scenario in ["cancel", "offline"] {
                let (s390x_wrapper, s390x) = sites(&format!("{kernel}-s390x-prefix-{scenario}"));
                let (arm64_wrapper, arm64) = sites(&format!("{kernel}-arm64-prefix-{scenario}"));
                assert!(arm64_wrapper && !s390x_wrapper, "{kernel} {scenario}: the wrapper is arm64's only");
                assert_eq!(s390x, arm64, "{kernel} {scenario}");
            }
        }
    }

    #[test]
    fn the_real_arm64_offline_cycle_goes_through_pcp_batch_high_lock() {
        let (text, f) = real("6.1-arm64-prefix-offline.console.log");
        let c = cycle(f.lockdep.as_ref().unwrap(), &link_sites(&excerpt(&text, &f))).unwrap();
        assert_eq!(c.locks, vec!["ksm_thread_mutex/1", "pcp_batch_high_lock"]);
        assert_eq!(c.edges[0].site.as_deref(), Some("setup_per_zone_wmarks"));
        assert!(c.edges.iter().all(|e| e.site.is_some()), "{c:?}");
    }

    #[test]
    fn a_link_trace_saved_at_an_unlock_names_the_caller_not_the_unlock() {
        // s390x's #1 trace starts lock_release / up_read / blocking_notifier_call_chain.
        let (text, f) = real("6.1-s390x-prefix-offline.console.log");
        assert_eq!(
            link_sites(&excerpt(&text, &f)),
            vec![Some("offline_pages".into()), Some("setup_per_zone_wmarks".into())]
        );
    }

    #[test]
    fn a_longer_chain_is_taken_in_lock_order_with_each_links_site() {
        // Printed -> #2 H, -> #1 B, -> #0 A: A->B (site of #1), B->H (#2), H->A (#0, new).
        let d = detail(&["H", "B", "A"], "H", "A");
        let sites = vec![Some("took_h".into()), Some("took_b".into()), Some("took_a".into())];
        let c = cycle(&d, &sites).unwrap();
        assert_eq!(c.locks, vec!["H", "A", "B"]);
        let e: Vec<(&str, &str, Option<&str>, bool)> = c
            .edges
            .iter()
            .map(|e| (c.locks[e.from].as_str(), c.locks[e.to].as_str(), e.site.as_deref(), e.new))
            .collect();
        assert_eq!(
            e,
            vec![
                ("H", "A", Some("took_a"), true),
                ("A", "B", Some("took_b"), false),
                ("B", "H", Some("took_h"), false)
            ]
        );
        assert!(cycle_svg(&c).unwrap().contains("took_b()"));
    }

    #[test]
    fn sites_that_do_not_match_the_chain_are_not_guessed() {
        let d = detail(&["H", "A"], "H", "A");
        let c = cycle(&d, &[Some("only_one".into())]).unwrap();
        assert_eq!(c.edges[0].site.as_deref(), Some("acq_site"), "the header's own acquire site");
        assert_eq!(c.edges[1].site, None);
    }

    #[test]
    fn legacy_and_chainless_reports_still_give_a_cycle() {
        let c = cycle(&detail(&["A", "M", "H"], "H", "A"), &[]).unwrap();
        assert_eq!(c.locks, vec!["H", "A", "M"]);
        assert!(c.edges[0].new && c.edges[0].site.as_deref() == Some("acq_site"));
        let c = cycle(&detail(&[], "H", "A"), &[]).unwrap();
        assert_eq!(c.locks, vec!["H", "A"]);
        assert!(cycle(&detail(&["X", "Y"], "H", "A"), &[]).is_none(), "a chain that fits neither order");
    }

    #[test]
    fn frames_are_read_in_every_printed_form() {
        assert_eq!(frame_function("[   12.861088]        __mutex_lock+0x88/0xdc8").as_deref(), Some("__mutex_lock"));
        assert_eq!(
            frame_function("[   12.866781]  [<000000000014f87a>] blocking_notifier_call_chain+0x32/0xa0 ").as_deref(),
            Some("blocking_notifier_call_chain")
        );
        assert_eq!(frame_function(" offline_pages.isra.0+0x1b0/0xbe8 [mod]").as_deref(), Some("offline_pages"));
        assert_eq!(frame_function("  ? schedule+0x1/0x2"), None);
        assert_eq!(frame_function("-> #1 (ksm_thread_mutex/1){+.+.}-{3:3}:"), None);
    }
}
