//! Bisection with a cell as the oracle, the pure half: what a cell's verdict tells `git bisect`
//! (PASS good, FAIL bad, anything else skip: a kernel that did not build or boot says nothing
//! about the bug), and what git answered after each mark. `cmd/bisect.rs` runs git and the cells.

use serde::Serialize;

use crate::outcome::Outcome;

/// What a step tells git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Good,
    Bad,
    Skip,
}

impl Mark {
    pub fn word(self) -> &'static str {
        match self {
            Mark::Good => "good",
            Mark::Bad => "bad",
            Mark::Skip => "skip",
        }
    }
}

/// The cell judged the kernel as expected (good: the old behaviour), or it did not (bad: the
/// new); with `--expect splat`, PASS is "still splats", so the first bad commit is the fix.
pub fn mark(outcome: Outcome) -> Mark {
    match outcome {
        Outcome::Pass => Mark::Good,
        Outcome::Fail => Mark::Bad,
        _ => Mark::Skip,
    }
}

/// Where git bisect is after `start` or a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Checked out `rev` to test; revisions left after it and git's estimate of the steps.
    Testing { rev: String, left: Option<u32>, steps: Option<u32> },
    /// `<sha> is the first bad commit`.
    Found(String),
    /// Only skipped commits are left: the first bad commit is one of these.
    Undecided(Vec<String>),
}

/// Reads git bisect's answer (git 2.39-2.47 wording, `LANG=C`). None: git said none of these.
pub fn parse(output: &str) -> Option<State> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    if let Some(l) = lines.iter().find(|l| l.ends_with(" is the first bad commit")) {
        return Some(State::Found(l.trim_end_matches(" is the first bad commit").to_string()));
    }
    if lines.iter().any(|l| l.starts_with("There are only 'skip'ped commits left to test")) {
        let shas = lines
            .iter()
            .skip_while(|l| !l.starts_with("The first bad commit could be any of"))
            .skip(1)
            .take_while(|l| is_sha(l))
            .map(|l| l.to_string())
            .collect();
        return Some(State::Undecided(shas));
    }
    let left = lines.iter().find_map(|l| l.strip_prefix("Bisecting: "));
    let rev = lines.iter().find_map(|l| {
        let inner = l.strip_prefix('[')?.split(']').next()?;
        is_sha(inner).then(|| inner.to_string())
    })?;
    let num = |s: Option<&str>| s.and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok());
    Some(State::Testing { rev, left: num(left), steps: num(left.and_then(|l| l.split("(roughly ").nth(1))) })
}

/// One step: the commit git checked out, what its cell said, what git was told.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub n: usize,
    pub rev: String,
    pub subject: String,
    pub outcome: Outcome,
    pub reason: String,
    pub mark: Mark,
    pub seconds: f64,
    /// The step's cell page, relative to the bisect's folder.
    pub page: String,
}

/// What the bisection found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Answer {
    /// The first commit whose cell is not as expected, with its subject.
    FirstBad { rev: String, subject: String },
    /// Only skipped commits were left: one of these (rev, subject), git cannot tell which.
    Undecided { revs: Vec<(String, String)> },
}

/// The bisection as bisect.json and its page show it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tree: String,
    pub good: String,
    pub bad: String,
    /// The cell judged at every step (`arch-variant-scenario`) and what a good commit shows.
    pub cell: String,
    pub expect: String,
    pub steps: Vec<Step>,
    pub answer: Answer,
    pub seconds: f64,
}

impl Report {
    /// The answer in one line, as a person asks it: which commit brought the splat (a good
    /// commit is clean) or which one cured it (a good commit splats).
    pub fn answer_line(&self) -> String {
        let what = if self.expect == "splat" {
            "the first commit where the cell no longer splats (the fix)"
        } else {
            "the first commit where the cell is not clean"
        };
        match &self.answer {
            Answer::FirstBad { rev, subject } => format!("{what}: {rev} {subject}"),
            Answer::Undecided { revs } => format!(
                "could not decide between these commits (their kernels did not build, boot or give a verdict): {}",
                revs.iter().map(|(r, s)| format!("{} {s}", &r[..r.len().min(12)])).collect::<Vec<_>>().join("; ")
            ),
        }
    }
}

fn is_sha(s: &str) -> bool {
    s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real output of git 2.47 (Debian 12 has 2.39, same wording) on a six-commit repository.
    const START: &str = "Bisecting: 2 revisions left to test after this (roughly 1 step)\n\
                         [90397d53d738d273cfc6dff71ae1525906b19e35] c3\n";
    const FOUND: &str = "8f5ffd3d0e01e7e7c796611fe2121ecdef757edf is the first bad commit\n\
                         commit 8f5ffd3d0e01e7e7c796611fe2121ecdef757edf\n\
                         Author: t <a@b>\n\
                         Date:   Sat Dec 5 20:07:59 2026 +0000\n\n    c6\n\n \
                         f | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n";
    const ONLY_SKIPPED: &str = "There are only 'skip'ped commits left to test.\n\
                                The first bad commit could be any of:\n\
                                97ae7461145610b0712411ef87f816354f8fc841\n\
                                212b8930ec18d16332cf9069c9a19364cef8240d\n\
                                We cannot bisect more!\n";

    #[test]
    fn git_bisects_answers_are_read() {
        assert_eq!(
            parse(START),
            Some(State::Testing {
                rev: "90397d53d738d273cfc6dff71ae1525906b19e35".into(),
                left: Some(2),
                steps: Some(1)
            })
        );
        assert_eq!(parse(FOUND), Some(State::Found("8f5ffd3d0e01e7e7c796611fe2121ecdef757edf".into())));
        assert_eq!(
            parse(ONLY_SKIPPED),
            Some(State::Undecided(vec![
                "97ae7461145610b0712411ef87f816354f8fc841".into(),
                "212b8930ec18d16332cf9069c9a19364cef8240d".into()
            ]))
        );
        assert_eq!(parse("Some good revs are not ancestors of the bad rev.\n"), None);
    }

    #[test]
    fn only_pass_and_fail_decide() {
        assert_eq!(mark(Outcome::Pass), Mark::Good);
        assert_eq!(mark(Outcome::Fail), Mark::Bad);
        for o in [Outcome::Error, Outcome::Timeout, Outcome::Inconclusive] {
            assert_eq!(mark(o), Mark::Skip, "{o:?}");
        }
    }
}
