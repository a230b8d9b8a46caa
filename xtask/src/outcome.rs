//! The outcome of a cell, and of several: the vocabulary the verdict ends in, the matrix
//! expects of a mutant, and the reports and exit statuses speak.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    Error,
    Inconclusive,
    Timeout,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Error => "ERROR",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::Timeout => "TIMEOUT",
        }
    }
    /// How much a cell's outcome weighs in the outcome of several (KCIDB's order): a kernel
    /// that failed is never hidden behind a run that timed out, broke or proved nothing.
    pub fn severity(self) -> u8 {
        match self {
            Outcome::Fail => 4,
            Outcome::Timeout => 3,
            Outcome::Error => 2,
            Outcome::Inconclusive => 1,
            Outcome::Pass => 0,
        }
    }
    /// The outcome of several cells: the most severe (ERROR when there are none: nothing was
    /// shown to work).
    pub fn worst(all: impl IntoIterator<Item = Outcome>) -> Outcome {
        all.into_iter().max_by_key(|o| o.severity()).unwrap_or(Outcome::Error)
    }
    /// `run`'s exit status: 0 as expected, 1 the kernel behaved otherwise, 2 harness, 3 inconclusive.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail | Outcome::Timeout => 1,
            Outcome::Error => 2,
            Outcome::Inconclusive => 3,
        }
    }
}
