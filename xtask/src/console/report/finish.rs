//! A closed report becomes a [`Finding`]: its kind settled, the function its title names (the
//! first of the header table's sources that gives one), the title, the key frames and the
//! fingerprint.

use super::Report;
use crate::console::frames;
use crate::console::headers::{Done, Src};
use crate::console::identity::{self, normalize_text};
use crate::console::skip;
use crate::console::{Finding, Kind};

impl Report {
    /// Close the report. `cut` means the log (or the boot) ended while it was open.
    pub(crate) fn finish(self, cut: bool) -> Finding {
        let (kind, template) = self.settled_kind();
        let meaningful: Vec<&String> = self.trace.frames().iter().filter(|f| !skip::is_skipped(f)).collect();
        let func = self.function();
        let title = self.title(template, func.as_deref());
        let keys = self.keys(&meaningful, func.as_deref());
        let fingerprint = identity::fingerprint(kind.as_str(), &title, &keys);
        let ld = self.lockdep.as_deref();
        let (task, pid) = match (&self.facts.victim, kind) {
            (Some((v, p)), Kind::OomKill) => (Some(v.clone()), p.or(self.pid)),
            _ => (
                self.task.clone().or_else(|| ld.and_then(|p| p.task.clone())),
                self.pid.or_else(|| ld.and_then(|p| p.pid)),
            ),
        };
        let complete = match self.done {
            Done::Always => true,
            Done::Frames => self.saw_end || self.trace.has_frames(),
            Done::EndMarker => self.saw_end,
        };
        Finding {
            category: self.category,
            kind,
            title,
            fingerprint,
            first_line: self.first_line,
            last_line: self.last_line.max(self.first_line),
            task,
            pid,
            cpu: self.cpu,
            truncated: cut && !complete,
            count: 1,
            frames: self.trace.frames().to_vec(),
            lockdep: ld.map(|p| p.detail()),
        }
    }

    /// The kind and title template; a paging request at a low address is a NULL dereference.
    fn settled_kind(&self) -> (Kind, &'static str) {
        if self.kind == Kind::PagingRequest && self.facts.failing_addr.is_some_and(|a| a < 4096) {
            (Kind::NullPointer, "BUG: kernel NULL pointer dereference")
        } else {
            (self.kind, self.def.title)
        }
    }

    /// The `in F` of the title: the first source of the header's list that names a function
    /// neither the skip table nor the kind's own `skip` skips.
    fn function(&self) -> Option<String> {
        let ld = self.lockdep.as_deref();
        let def = self.def;
        let kept = |f: &String| !f.is_empty() && !skip::is_skipped(f) && !def.skips(f);
        // The first kept frame, else the syscall that nothing above kept.
        let first_kept = |frames: &[String]| {
            frames
                .iter()
                .find(|f| kept(f))
                .or_else(|| frames.iter().find(|f| skip::is_last_resort(f) && !def.skips(f)))
                .cloned()
        };
        self.def.func.iter().find_map(|src| match src {
            Src::HeaderNotSkipped => self.cap("fn").map(frames::normalize_symbol).filter(kept),
            Src::Pc => self.pc.clone().filter(kept),
            Src::Stack => first_kept(self.trace.frames()),
            Src::PcTail => first_kept(self.trace.pc_tail()),
            Src::Interrupted => self.trace.interrupted().filter(kept),
            // A site inside a lock primitive (`mutex_unlock`) says nothing: fall through.
            Src::HeldAt => ld.and_then(|p| p.d.held_at.clone()).filter(kept),
            Src::AcqAt => ld.and_then(|p| p.d.acquiring_at.clone()).filter(kept),
            Src::FirstHeldAt => ld.and_then(|p| p.first_held_at.clone()).filter(kept),
            Src::Chain => ld.and_then(|p| first_kept(&p.chain_frames)),
            Src::SafeAt => ld.and_then(|p| first_kept(&p.safe_trace)),
            Src::LastFunction => self.facts.last_function.clone(),
        })
    }

    /// The value of a title placeholder: a header capture or a computed fact.
    fn placeholder(&self, name: &str) -> Option<String> {
        let ld = self.lockdep.as_deref();
        match name {
            "held" => ld.and_then(|p| p.d.held.clone()),
            "acq" => ld.and_then(|p| p.d.acquiring.clone()),
            "first_held" => ld.and_then(|p| p.d.held_locks.first().cloned()),
            "usage" => ld.and_then(|p| p.usage.clone()),
            "dep" => ld.and_then(|p| {
                let (a, h) = (p.d.acquiring.clone()?, p.d.held.clone()?);
                Some(if p.changed_first.unwrap_or(true) { format!("{a} -> {h}") } else { format!("{h} -> {a}") })
            }),
            "rcu_file" => ld.and_then(|p| p.rcu_loc.as_deref().map(identity::source_file)),
            "die" => self.facts.die_title.clone(),
            "access" => self.facts.access.map(str::to_string),
            "victim" => self.facts.victim.as_ref().map(|v| v.0.clone()),
            "file" => self.cap("loc").map(identity::source_file),
            "fns" => {
                self.cap("fns").map(|s| s.split(" / ").map(frames::normalize_symbol).collect::<Vec<_>>().join(" / "))
            }
            "msg" => self.cap(name).map(normalize_text),
            // Source code, not a runtime value: keep its numbers.
            "cond" => self.cap(name).map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")),
            other => self.cap(other).map(str::to_string),
        }
    }

    fn title(&self, template: &str, func: Option<&str>) -> String {
        let lookup = |name: &str| self.placeholder(name);
        let mut title = identity::render(template, &lookup);
        match func {
            Some(f) => {
                title.push_str(" in ");
                title.push_str(f);
            }
            None if !self.def.or_else.is_empty() => {
                let tail = identity::render(self.def.or_else, &lookup);
                if !tail.ends_with('?') {
                    title.push(' ');
                    title.push_str(&tail);
                }
            }
            None => {}
        }
        title
    }

    /// What besides the title makes the fingerprint: a lockdep chain's classes and the sites
    /// that linked them, else the first meaningful frames.
    fn keys(&self, meaningful: &[&String], func: Option<&str>) -> Vec<String> {
        match self.lockdep.as_deref().filter(|p| !p.link_sites.is_empty()) {
            Some(p) => p.d.chain.iter().chain(p.link_sites.iter().flatten()).cloned().collect(),
            // Without the title's own function: x86 shows the faulting function only in
            // `RIP:`, arm64 and s390 also as the first frame.
            None => meaningful
                .iter()
                .filter(|f| Some(f.as_str()) != func)
                .take(self.def.keys)
                .map(|f| f.to_string())
                .collect(),
        }
    }

    fn cap(&self, name: &str) -> Option<&str> {
        self.caps.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}
