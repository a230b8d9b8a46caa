//! A cell in time. Two clocks, kept apart on purpose: the host's stages (build, image, boot,
//! analyze) in wall seconds, and the guest's own story in kernel seconds since boot (the clock
//! of printk, the trace and the guest's `t=` markers): phases, KSM's counters, every ksmd scan
//! batch, and the offline windows shaded. A lockout that holds is a shaded window with no
//! batch tick in it; one that does not is ticks marching through the shade.
//!
//! The model functions are pure and tested; the `*_svg` functions draw them with plotters'
//! SVG backend (text as SVG `<text>`, laid out by the browser: no font files needed).

mod draw;

pub use draw::{guest_svg, host_svg, zoom_svg};

use crate::lockout::{Evidence, Window, WindowEnd, BEFORE_SECONDS};
use crate::vm::markers::{GuestReport, KsmStats};

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub name: String,
    pub start: f64,
    pub end: f64,
}

/// The host's stages laid end to end from the cell's start (they ran one after another).
pub fn host_spans(stages: &[(String, f64)]) -> Vec<Span> {
    let mut t = 0.0;
    stages
        .iter()
        .filter(|(_, d)| d.is_finite() && *d >= 0.0)
        .map(|(name, d)| {
            let s = Span { name: name.clone(), start: t, end: t + d };
            t += d;
            s
        })
        .collect()
}

/// Each guest phase from its start to the next one's; the last runs to `end`.
pub fn phase_spans(starts: &[(String, f64)], end: f64) -> Vec<Span> {
    starts
        .iter()
        .enumerate()
        .map(|(i, (name, t))| Span {
            name: name.clone(),
            start: *t,
            end: starts.get(i + 1).map(|n| n.1).unwrap_or(end).max(*t),
        })
        .collect()
}

/// Which of two rows each phase's name is written in so that no two names overlap, given the
/// chart's pixels per second and a name's width per character; None where neither row has
/// room (the list under the picture still names every phase).
pub fn label_rows(phases: &[Span], range: (f64, f64), plot_px: f64, char_px: f64) -> Vec<Option<usize>> {
    let scale = plot_px / (range.1 - range.0);
    let mut row_end = [f64::NEG_INFINITY; 2];
    phases
        .iter()
        .map(|p| {
            let x = (p.start - range.0) * scale;
            let w = p.name.chars().count() as f64 * char_px;
            let row = (0..2).find(|&r| x >= row_end[r] + char_px && x + w <= plot_px + char_px * 4.0)?;
            row_end[row] = x + w;
            Some(row)
        })
        .collect()
}

/// An offline window as drawn: its x range clipped to the chart, `open` when the offline never
/// finished (the shade then runs to the chart's end, as far as the trace saw).
#[derive(Debug, Clone, PartialEq)]
pub struct Shade {
    pub window: usize,
    pub x0: f64,
    pub x1: f64,
    pub open: bool,
}

/// The windows' shades within `(lo, hi)`. A window opens when the MEM_GOING_OFFLINE callback
/// returned (`start`), as `lockout::analyze` counts batches from there; windows entirely outside
/// the range are left out.
pub fn shades(windows: &[Window], (lo, hi): (f64, f64)) -> Vec<Shade> {
    windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let open = w.closed_by == WindowEnd::Open || w.end.is_none();
            let end = if open { hi } else { w.end.unwrap_or(hi) };
            let (x0, x1) = (w.start.max(lo), end.min(hi));
            (x0 < x1).then_some(Shade { window: i, x0, x1, open })
        })
        .collect()
}

/// The window a ksmd batch fell into: strictly inside, the rule `lockout::analyze` counts by.
pub fn window_of(t: f64, windows: &[Window]) -> Option<usize> {
    windows.iter().position(|w| t > w.start && w.end.is_none_or(|e| t < e))
}

/// The stretch around the offline windows: `BEFORE_SECONDS` before the first (where
/// `lockout::analyze` measures ksmd's pace), a second after the last, within the trace.
pub fn zoom_range(e: &Evidence, trace_end: f64) -> Option<(f64, f64)> {
    let first = e.windows.first()?;
    let last_end = e.windows.iter().map(|w| w.end.unwrap_or(trace_end)).fold(first.start, f64::max);
    let lo = (first.entered - BEFORE_SECONDS).max(0.0);
    let hi = (last_end + 1.0).min(trace_end.max(last_end));
    (hi > lo).then_some((lo, hi))
}

/// What the guest chart draws, in kernel seconds.
#[derive(Debug, Clone)]
pub struct Guest<'a> {
    pub range: (f64, f64),
    pub phases: Vec<Span>,
    pub samples: &'a [(f64, KsmStats)],
    /// Every ksmd batch and the window it fell into.
    pub batches: Vec<(f64, Option<usize>)>,
    pub windows: &'a [Window],
    pub writes: Vec<(f64, Option<f64>)>,
}

/// The guest's timeline, if the console gave any time at all (older guests printed phases
/// without `t=` and no samples; with lockout evidence off there is no trace either).
pub fn guest<'a>(g: &'a GuestReport, e: Option<&'a Evidence>) -> Option<Guest<'a>> {
    let times = g
        .phase_starts
        .iter()
        .map(|p| p.1)
        .chain(g.ksm_samples.iter().map(|s| s.0))
        .chain(g.trace.iter().map(|t| t.t))
        .chain(e.into_iter().flat_map(|e| e.windows.iter().flat_map(|w| [Some(w.entered), w.end]).flatten()))
        .filter(|t| t.is_finite() && *t >= 0.0);
    let last = times.fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))?;
    // The kernel's clock starts at boot: 0 is where the story starts, whatever came first.
    let hi = last + (last * 0.02).max(0.2);
    let windows: &[Window] = e.map(|e| &e.windows[..]).unwrap_or(&[]);
    Some(Guest {
        range: (0.0, hi),
        phases: phase_spans(&g.phase_starts, hi),
        samples: &g.ksm_samples,
        batches: e.map(|e| e.batches.iter().map(|&t| (t, window_of(t, windows))).collect()).unwrap_or_default(),
        windows,
        writes: e.map(|e| e.run_writes.iter().map(|w| (w.entered, w.returned)).collect()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
