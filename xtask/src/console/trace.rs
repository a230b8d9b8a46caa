//! The call trace of one report as it streams in. Frames after the first explicit trace header
//! (`Call Trace:`, lockdep's `stack backtrace:`) are the main trace; frames before any header
//! (KCSAN's access stacks, headerless traces) stand in when there is none. A faulting-PC line
//! in the middle of the main trace (old x86 prints a WARN's reporting path, then `RIP:` and the
//! registers, then the code that trapped) ends it; the frames right after the registers are
//! kept apart as its PC tail. Parsed frames only.

use super::frames::{self, Frame};
use super::skip;

/// Frames kept per trace.
const MAX_FRAMES: usize = 64;

#[derive(Default)]
pub(crate) struct Trace {
    main: Vec<String>,
    main_irq_exit: Option<usize>,
    prov: Vec<String>,
    prov_irq_exit: Option<usize>,
    /// A trace header was seen: frames go to `main`.
    started: bool,
    /// Frames still extend `main` (a header, a PC line or a gap ends it).
    collecting: bool,
    /// Consecutive lines that belong to no report since the last frame.
    gap: u8,
    /// Frames after a PC line that cut the main trace, up to the next non-frame line.
    tail: Vec<String>,
    tail_open: bool,
}

impl Trace {
    /// The main trace begins (lockdep's `stack backtrace:`).
    pub(crate) fn start(&mut self) {
        self.started = true;
        self.collecting = true;
    }

    /// A faulting-PC line: it ends the main trace; frames after the registers are its tail.
    pub(crate) fn pc_line(&mut self) {
        if self.collecting && !self.main.is_empty() && self.tail.is_empty() {
            self.tail_open = true;
        }
        self.end();
    }

    /// A trace header: the first begins the main trace, a later one ends it.
    pub(crate) fn header(&mut self) {
        self.tail_open = false;
        if self.started {
            self.end();
        } else {
            self.start();
        }
    }

    /// `</IRQ>` and the like: the frames after it are the interrupted code's.
    pub(crate) fn irq_exit(&mut self) {
        if self.started {
            self.main_irq_exit = Some(self.main.len());
        } else {
            self.prov_irq_exit = Some(self.prov.len());
        }
    }

    pub(crate) fn frame(&mut self, f: Frame) {
        if f.unreliable {
            return;
        }
        if self.started {
            if self.collecting && self.main.len() < MAX_FRAMES {
                self.main.push(f.func);
            } else if self.tail_open && !self.collecting && self.tail.len() < MAX_FRAMES {
                self.tail.push(f.func);
            }
        } else if self.prov.len() < MAX_FRAMES {
            self.prov.push(f.func);
        }
    }

    /// A body line that is no frame ends the main trace, once it has frames (and the PC
    /// tail, once it has its own).
    pub(crate) fn end(&mut self) {
        if !self.main.is_empty() {
            self.collecting = false;
        }
        if !self.tail.is_empty() {
            self.tail_open = false;
        }
    }

    /// A line of the report: the gap closes.
    pub(crate) fn line(&mut self) {
        self.gap = 0;
    }

    /// A line that belongs to no report: two in a row end the main trace.
    pub(crate) fn quiet(&mut self) {
        if self.collecting && !self.main.is_empty() {
            self.gap += 1;
            if self.gap >= 2 {
                self.collecting = false;
            }
        }
    }

    /// A trace began, or frames were seen.
    pub(crate) fn seen(&self) -> bool {
        self.started || self.has_frames()
    }

    pub(crate) fn has_frames(&self) -> bool {
        !self.main.is_empty() || !self.prov.is_empty()
    }

    /// The frames that stand for the report: the main trace if it has any.
    pub(crate) fn frames(&self) -> &[String] {
        if self.main.is_empty() {
            &self.prov
        } else {
            &self.main
        }
    }

    /// The frames right after a PC line that cut the main trace (empty when none did).
    pub(crate) fn pc_tail(&self) -> &[String] {
        &self.tail
    }

    /// The first meaningful frame after the interrupt entry: the code an interrupt stopped.
    pub(crate) fn interrupted(&self) -> Option<String> {
        let (frames, irq_exit) =
            if self.main.is_empty() { (&self.prov, self.prov_irq_exit) } else { (&self.main, self.main_irq_exit) };
        let from = irq_exit.or_else(|| frames.iter().rposition(|f| frames::is_irq_entry(f)).map(|i| i + 1))?;
        frames[from.min(frames.len())..].iter().find(|f| !skip::is_skipped(f)).cloned()
    }
}
