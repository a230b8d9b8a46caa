//! The kernel's own tests as data (`selftests:` in the matrix): which programs of the cell's
//! kernel tree (tools/testing/selftests/) are built, which invocations are cases, how each
//! case's output is read, and, per variant, which cases must pass. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Scenario;

/// `selftests:` of the matrix file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelftestsDef {
    /// Seconds the tests may add to the arch's timeout in a selftests cell.
    #[serde(default)]
    pub seconds: BTreeMap<crate::arch::Arch, u64>,
    /// Programs built from the tree, by file name.
    #[serde(default)]
    pub programs: BTreeMap<String, Program>,
    #[serde(default)]
    pub cases: Vec<Case>,
}

/// A program of the kernel tree: a C test compiled static with the arch's cross compiler, or a
/// shell script copied as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Folders under tools/testing/selftests/ to look in, first match wins (the mm tests were
    /// `vm/` before Linux 6.3).
    pub dirs: Vec<String>,
    /// Helper sources the tree's Makefile links into every test of that folder, where present.
    #[serde(default)]
    pub helpers: Vec<String>,
    /// Libraries to link (`numa` comes from the arch's libnuma-dev, fetched by setup).
    #[serde(default)]
    pub libs: Vec<String>,
}

impl Program {
    pub fn is_script(name: &str) -> bool {
        name.ends_with(".sh")
    }
}

/// How a case's output becomes results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// One result from the exit status, as kselftest's runner reads it: 0 ok, 4 skip, else not ok.
    #[default]
    Exit,
    /// A TAP stream (ksft_test_result): one result per `ok`/`not ok` line, named after it.
    Tap,
}

/// One invocation: a case name (`ksm_tests-merge`), the program and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Program name (a key of `programs`) and arguments, never through a shell string.
    pub run: Vec<String>,
    #[serde(default)]
    pub output: Output,
    /// An output line matching this makes the case `not ok` whatever its exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_if: Option<String>,
    /// An output line matching this makes the case `skip` with that line as its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if: Option<String>,
    /// Why this case's result is not a property of the kernel here (it races ksmd's scans):
    /// shown with its result, never in `must_pass` or in the comparison across variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flaky: Option<String>,
}

impl Case {
    pub fn program(&self) -> &str {
        self.run.first().map(String::as_str).unwrap_or("")
    }
}

/// `selftests:` of a variant: the cases that must pass, and the variant whose results this
/// one's must equal case by case (the Rust KSM against the C one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSelftests {
    /// Result names (`ksm_tests-merge`, `ksm_functional_tests/Pages were unmerged`), or a
    /// prefix ending in `*`. A case that is not in a kernel's tree matches nothing.
    #[serde(default)]
    pub must_pass: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
}

/// What a cell runs of the kernel's own tests: the programs and cases, and what must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelftestPlan {
    pub programs: BTreeMap<String, Program>,
    pub cases: Vec<Case>,
    pub must_pass: Vec<String>,
    pub same_as: Option<String>,
}

impl SelftestPlan {
    /// The plan of a cell of a variant with `vs` in `scenario`: the selftests scenario only
    /// (before its offline, in the same boot).
    pub fn of(def: &SelftestsDef, vs: Option<&VariantSelftests>, scenario: Scenario) -> Option<SelftestPlan> {
        let vs = vs?;
        if def.cases.is_empty() || scenario != Scenario::Selftests {
            return None;
        }
        Some(SelftestPlan {
            programs: def.programs.clone(),
            cases: def.cases.clone(),
            must_pass: vs.must_pass.clone(),
            same_as: vs.same_as.clone(),
        })
    }

    /// The flaky reason of the case a result name belongs to (`case` or `case/N`).
    pub fn flaky(&self, result: &str) -> Option<&str> {
        let case = result.split('/').next().unwrap_or(result);
        self.cases.iter().find(|c| c.name == case).and_then(|c| c.flaky.as_deref())
    }

    /// Whether a result name is one that must pass (never a flaky case's).
    pub fn must_pass(&self, result: &str) -> bool {
        if self.flaky(result).is_some() {
            return false;
        }
        self.must_pass.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => result.starts_with(prefix),
            None => result == p,
        })
    }
}

/// The checks serde cannot make; errors name the case.
pub fn validate(def: &SelftestsDef) -> Result<(), String> {
    let word_ok = |w: &str| !w.is_empty() && !w.chars().any(char::is_whitespace);
    for (i, c) in def.cases.iter().enumerate() {
        if !word_ok(&c.name) || c.name.contains('/') {
            return Err(format!("selftests case {:?}: a name is one word without '/'", c.name));
        }
        if def.cases[..i].iter().any(|o| o.name == c.name) {
            return Err(format!("selftests case {} is listed twice", c.name));
        }
        if c.run.is_empty() || !c.run.iter().all(|w| word_ok(w)) {
            return Err(format!("selftests case {}: run is a program and its arguments, each one word", c.name));
        }
        if !def.programs.contains_key(c.program()) {
            return Err(format!("selftests case {}: program {:?} is not in selftests.programs", c.name, c.program()));
        }
        for re in c.fail_if.iter().chain(&c.skip_if) {
            regex::Regex::new(re).map_err(|e| format!("selftests case {}: {re:?} is no regex: {e}", c.name))?;
        }
    }
    for (name, p) in &def.programs {
        if p.dirs.is_empty() {
            return Err(format!("selftests program {name}: dirs names no folder"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> SelftestsDef {
        serde_yaml::from_str(
            "programs:\n  ksm_tests: {dirs: [mm, vm], libs: [numa]}\n  mem-on-off-test.sh: {dirs: [memory-hotplug]}\n\
             cases:\n  - {name: ksm_tests-merge, run: [ksm_tests, -M, -p, '10']}\n  \
             - {name: mem-on-off, run: [mem-on-off-test.sh, -r, '0'], fail_if: unexpected}\n",
        )
        .unwrap()
    }

    #[test]
    fn only_the_selftests_scenario_of_variants_with_selftests_runs_them() {
        let d = def();
        let vs = VariantSelftests { must_pass: vec!["ksm_tests-*".into()], same_as: None };
        assert!(SelftestPlan::of(&d, Some(&vs), Scenario::Selftests).is_some());
        assert!(SelftestPlan::of(&d, Some(&vs), Scenario::Offline).is_none());
        assert!(SelftestPlan::of(&d, Some(&vs), Scenario::Cancel).is_none());
        assert!(SelftestPlan::of(&d, None, Scenario::Selftests).is_none());
        let p = SelftestPlan::of(&d, Some(&vs), Scenario::Selftests).unwrap();
        assert!(p.must_pass("ksm_tests-merge"));
        assert!(!p.must_pass("mem-on-off"));
    }

    #[test]
    fn bad_cases_are_refused_with_their_name() {
        let mut d = def();
        assert_eq!(validate(&d), Ok(()));
        d.cases[0].run[0] = "nope".into();
        assert!(validate(&d).unwrap_err().contains("program \"nope\""));
        let mut d = def();
        d.cases[1].name = "ksm_tests-merge".into();
        assert!(validate(&d).unwrap_err().contains("twice"));
        let mut d = def();
        d.cases[0].run.push("two words".into());
        assert!(validate(&d).unwrap_err().contains("one word"));
        let mut d = def();
        d.cases[1].fail_if = Some("(".into());
        assert!(validate(&d).unwrap_err().contains("no regex"));
    }
}
