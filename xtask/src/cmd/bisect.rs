//! `cargo xtask bisect`: the first commit of a kernel git tree where one cell's verdict changes.
//! git bisect picks the commits (in a worktree of its own in the cache: the user's checkout is
//! never touched), the cell judges each as `run` would (PASS good, FAIL bad, anything else
//! skip, see `bisect.rs`); every step's cell folder, the bisect log and a page go into one
//! results folder. Driven step by step rather than through `git bisect run`, so each step's
//! progress line and folder are the harness's own, and an interrupt stops between steps.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};

use super::KernelOpts;
use crate::arch::Arch;
use crate::bisect::{self, Answer, State, Step};
use crate::matrix::{Expectation, Scenario};

/// Find the commit that changed a cell's verdict: exit 0 found, 2 error, 3 undecided (only
/// commits whose kernels gave no verdict were left)
#[derive(clap::Args)]
pub struct Bisect {
    /// The old commit: its cell is as expected (with --expect clean: no splat)
    #[arg(long)]
    good: String,
    /// The new commit: its cell is not
    #[arg(long)]
    bad: String,
    #[arg(long, value_enum)]
    arch: Arch,
    /// The variant whose series is applied at every commit (upstream: none)
    #[arg(long, default_value = "upstream")]
    variant: String,
    #[arg(long, value_enum, default_value = "offline")]
    scenario: Scenario,
    /// What the good commit's cell shows: clean finds the commit that brought a splat, splat
    /// finds the one that cured it (default: the variant's expectation)
    #[arg(long, value_parser = PossibleValuesParser::new(Expectation::WORDS).try_map(|w| Expectation::from_word(&w)))]
    expect: Option<Expectation>,
    #[command(flatten)]
    opts: KernelOpts,
}

/// What to bisect, whoever asks (the command, the suite).
struct Params {
    tree: PathBuf,
    good: String,
    bad: String,
    arch: Arch,
    variant: String,
    scenario: Scenario,
    expect: Option<Expectation>,
}

impl Params {
    fn cell_name(&self) -> String {
        format!("{}-{}-{}", self.arch, self.variant, self.scenario.name())
    }
}

impl Bisect {
    pub fn run(self) -> Result<i32> {
        let Some(tree) = self.opts.kernel_src.clone() else {
            bail!("give --kernel-src TREE: the kernel git tree to bisect (it is never modified: the commits are checked out in a worktree in the cache)");
        };
        let p = Params {
            tree,
            good: self.good,
            bad: self.bad,
            arch: self.arch,
            variant: self.variant,
            scenario: self.scenario,
            expect: self.expect,
        };
        let o = self.opts.options(1);
        let report = bisect(&p, o, &|| self.opts.results.stamped(&format!("bisect-{}", p.cell_name())))?;
        Ok(match report.answer {
            Answer::FirstBad { .. } => 0,
            Answer::Undecided { .. } => 3,
        })
    }
}

/// Bisects; the results folder is made (by `results`) only once the input is known good.
fn bisect(p: &Params, mut o: crate::runner::Options, results: &dyn Fn() -> Result<PathBuf>) -> Result<bisect::Report> {
    let t0 = Instant::now();
    let tree =
        p.tree.canonicalize().with_context(|| format!("--kernel-src {}: no such directory", p.tree.display()))?;
    let (good, bad) = check_revs(&tree, &p.good, &p.bad)?;
    let key = crate::util::short_hash(tree.display().to_string().as_bytes());
    let _lock = crate::lock::acquire(
        &o.cache.locks(),
        &format!("bisect-{key}"),
        &format!("the bisect worktree of {}", tree.display()),
    )?;
    let wt = worktree(&tree, &o.cache.bisect_worktree(&key), &bad)?;
    let dir = results()?;
    println!(
        "bisecting {} {}..{} of {} (worktree {}); results in {}",
        p.cell_name(),
        &good[..12],
        &bad[..12],
        tree.display(),
        wt.display(),
        dir.display()
    );
    o.kernel_src = Some(wt.clone());
    o.bisecting = true;
    let mut state = git_bisect(&wt, &["start", &bad, &good])?;
    let mut steps: Vec<Step> = Vec::new();
    let answer = loop {
        match state {
            State::Found(rev) => break Answer::FirstBad { subject: subject(&wt, &rev), rev },
            State::Undecided(revs) => {
                let revs = revs.into_iter().map(|r| (subject(&wt, &r), r)).map(|(s, r)| (r, s)).collect();
                break Answer::Undecided { revs };
            }
            State::Testing { rev, left, steps: roughly } => {
                if crate::tools::interrupted() {
                    reset(&wt);
                    bail!("interrupted after {} steps; the steps so far are in {}", steps.len(), dir.display());
                }
                let step = step(p, &o, &wt, &dir, steps.len() + 1, &rev);
                println!(
                    "step {}: {} {}: {} -> {} ({:.0} s; {} left, roughly {} more steps)",
                    step.n,
                    &rev[..12],
                    step.subject,
                    step.outcome.name(),
                    step.mark.word(),
                    step.seconds,
                    left.map_or("?".into(), |l| format!("{l} revisions")),
                    roughly.map_or("?".into(), |s| s.to_string()),
                );
                state = git_bisect(&wt, &[step.mark.word(), &rev])?;
                steps.push(step);
            }
        }
    };
    let log = crate::tools::run(git(&wt, &["bisect", "log"]), "git bisect log").unwrap_or_default();
    std::fs::write(dir.join("bisect.log"), &log)?;
    reset(&wt);
    let report = bisect::Report {
        tree: tree.display().to_string(),
        good,
        bad,
        cell: p.cell_name(),
        expect: p.expect.as_ref().map_or("(the variant's)", |e| e.word()).to_string(),
        steps,
        answer,
        seconds: t0.elapsed().as_secs_f64(),
    };
    std::fs::write(dir.join("bisect.json"), serde_json::to_vec_pretty(&report)?)?;
    crate::util::write_atomic(
        &dir.join("index.html"),
        crate::report::html::bisect::page(&report).into_string().as_bytes(),
    )?;
    println!("{}", report.answer_line());
    println!("results: {}", dir.display());
    Ok(report)
}

/// The cell on the worktree as it is checked out now, into `dir/step-NN-<rev>/`. Never an
/// error: a commit whose tree the matrix cannot take (too old, a series that does not apply)
/// says nothing about the bug, so it is an ERROR step, which git is told to skip.
fn step(p: &Params, o: &crate::runner::Options, wt: &Path, dir: &Path, n: usize, rev: &str) -> Step {
    let t = Instant::now();
    let folder = format!("step-{n:02}-{}", &rev[..12]);
    let sdir = dir.join(&folder);
    let subject = subject(wt, rev);
    let judged = (|| -> Result<crate::report::CellResult> {
        std::fs::create_dir_all(&sdir)?;
        let m = o.load_matrix()?;
        let (kernel, kdef) = m.first_kernel();
        let mut v = kdef.variant(super::variant(&m, &o.matrix, &p.variant, "")?);
        if let Some(e) = &p.expect {
            v.expect = e.clone();
        }
        let cell = m.cell(kernel, p.arch, v, p.scenario);
        let r = crate::runner::run_cells(o, &m, vec![cell], &sdir)?;
        r.cells.into_iter().next().context("interrupted before the cell ran")
    })();
    let (outcome, reason, page) = match judged {
        Ok(c) => {
            let page = format!("{folder}/{}", crate::report::html::cell_href(&c.id.to_string()));
            (c.verdict.outcome, c.verdict.reason.clone(), page)
        }
        Err(e) => (crate::outcome::Outcome::Error, format!("{e:#}"), folder.clone()),
    };
    Step {
        n,
        rev: rev.to_string(),
        subject,
        outcome,
        mark: bisect::mark(outcome),
        reason,
        seconds: t.elapsed().as_secs_f64(),
        page,
    }
}

fn git(dir: &Path, args: &[&str]) -> duct::Expression {
    let mut v = vec!["-C".to_string(), dir.display().to_string()];
    v.extend(args.iter().map(|a| a.to_string()));
    // git's answers are read as text: its own words, whatever the user's locale.
    duct::cmd("git", v).env("LANG", "C").env("LC_ALL", "C")
}

/// `git bisect ARGS` in the worktree, and where that leaves the bisection.
fn git_bisect(wt: &Path, args: &[&str]) -> Result<State> {
    let mut a = vec!["bisect"];
    a.extend_from_slice(args);
    let (_, out) = crate::tools::merged_output(git(wt, &a)).context("starting git")?;
    bisect::parse(&out).with_context(|| format!("git bisect {} said:\n{}", args.join(" "), out.trim_end()))
}

/// Ends the bisection in the worktree (it stays, for the next bisect's incremental build).
fn reset(wt: &Path) {
    let _ = crate::tools::merged_output(git(wt, &["bisect", "reset"]));
}

fn subject(dir: &Path, rev: &str) -> String {
    crate::tools::run(git(dir, &["log", "-1", "--format=%s", rev]), "git log")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Both revisions as full commit ids, or one clear error for each way they can be wrong.
fn check_revs(tree: &Path, good: &str, bad: &str) -> Result<(String, String)> {
    let (ok, _) = crate::tools::merged_output(git(tree, &["rev-parse", "--git-dir"]))?;
    if !ok {
        bail!(
            "{} is not a git tree: bisect needs the kernel's history (git clone it, or give the tree you develop in)",
            tree.display()
        );
    }
    let (_, status) = crate::tools::merged_output(git(tree, &["status", "--porcelain", "--untracked-files=no"]))?;
    if !status.trim().is_empty() {
        bail!(
            "{} has uncommitted changes, which bisect would not test (it checks out commits in a worktree of its own): commit or stash them first\n{}",
            tree.display(),
            crate::util::tail(&status, 5)
        );
    }
    let resolve = |rev: &str, what: &str| -> Result<String> {
        let (ok, out) = crate::tools::merged_output(git(
            tree,
            &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")],
        ))?;
        if !ok || out.trim().is_empty() {
            bail!("--{what} {rev}: no such commit in {}", tree.display());
        }
        Ok(out.trim().to_string())
    };
    let (g, b) = (resolve(good, "good")?, resolve(bad, "bad")?);
    if g == b {
        bail!(
            "--good {good} and --bad {bad} are the same commit ({}): there is nothing between them to bisect",
            &g[..12]
        );
    }
    let (ancestor, _) = crate::tools::merged_output(git(tree, &["merge-base", "--is-ancestor", &g, &b]))?;
    if !ancestor {
        bail!(
            "--good {good} is not an ancestor of --bad {bad}: bisect looks for the first bad commit after a good one (swap them, or give --expect splat to find the commit that cured it)"
        );
    }
    Ok((g, b))
}

/// The bisect worktree of `tree` at `path`, checked out at `rev` and with no bisection in
/// progress (a previous one cut short is reset); made with `git worktree add` the first time.
fn worktree(tree: &Path, path: &Path, rev: &str) -> Result<PathBuf> {
    let usable = path.join(".git").exists() && crate::tools::merged_output(git(path, &["rev-parse", "--git-dir"]))?.0;
    if usable {
        reset(path);
        crate::tools::run(
            git(path, &["checkout", "-q", "--detach", "--force", rev]),
            "checking out the bisect worktree",
        )?;
        return Ok(path.to_path_buf());
    }
    let _ = std::fs::remove_dir_all(path);
    let _ = crate::tools::merged_output(git(tree, &["worktree", "prune"]));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let p = path.display().to_string();
    crate::tools::run(
        git(tree, &["worktree", "add", "-q", "--detach", &p, rev]),
        "making the bisect worktree (git worktree add)",
    )?;
    Ok(path.to_path_buf())
}

/// The suite's bisect for real: a kernel git tree made once per cache from the first kernel of
/// the matrix with a known history (see [`fixture_repo`]); bisected on one arch for the commit
/// that brought the splat (a good commit is clean) and for the one that cured it (a good commit
/// splats). Both must be found, exactly.
pub(super) fn suite_check(
    o: &crate::runner::Options,
    m: &crate::matrix::MatrixFile,
    dir: &Path,
) -> Result<crate::verdict::Check> {
    let name = "bisect finds the commit that brought the splat and the one that cured it";
    let (k, kdef) = m.first_kernel();
    let Some(prefix) = m.variants.get("prefix") else {
        return Ok(crate::verdict::Check::new(name, false, "the matrix has no prefix variant"));
    };
    let src = crate::kernel::resolve_source(&o.cache, &k.source)?;
    let series = crate::kernel::expand_series(&kdef.variant(prefix).patch_paths(&crate::paths::repo_root()))?;
    let (repo, commits) = fixture_repo(&o.cache, &src, &series)?;
    let arch = if m.arches.contains(&Arch::S390x) { Arch::S390x } else { m.arches[0] };
    let run = |good: &str, bad: &str, expect: Expectation, tag: &str| -> Result<bisect::Report> {
        let p = Params {
            tree: repo.clone(),
            good: good.into(),
            bad: bad.into(),
            arch,
            variant: "upstream".into(),
            scenario: Scenario::Offline,
            expect: Some(expect),
        };
        let d = dir.join(tag);
        bisect(&p, o.clone(), &|| {
            std::fs::create_dir_all(&d)?;
            Ok(d.clone())
        })
    };
    // commits: base, docs, the bug, docs, the cure, docs
    let came = run(&commits[0], &commits[3], Expectation::Clean, "brought")?;
    let cured = run(&commits[2], &commits[5], Expectation::Splat { locks: Vec::new() }, "cured")?;
    let found = |r: &bisect::Report| match &r.answer {
        Answer::FirstBad { rev, .. } => Some(rev.clone()),
        Answer::Undecided { .. } => None,
    };
    let ok =
        found(&came).as_deref() == Some(commits[2].as_str()) && found(&cured).as_deref() == Some(commits[4].as_str());
    let line = |r: &bisect::Report| {
        format!(
            "{} in {} steps ({})",
            r.answer_line(),
            r.steps.len(),
            r.steps.iter().map(|s| format!("{} {:.0} s", s.mark.word(), s.seconds)).collect::<Vec<_>>().join(", ")
        )
    };
    let detail = format!("on {arch}: {}; {}", line(&came), line(&cured));
    Ok(crate::verdict::Check::new(name, ok, detail))
}

/// A git tree of the kernel `src` with six commits, made once per cache (in a temporary folder
/// renamed into place): the tree as shipped, a line in README, `series` applied (the fix
/// reverted: the reported splat comes in), another README line, the revert of that commit (the
/// cure), a last README line. Returns the tree and the six commit ids, oldest first.
fn fixture_repo(
    cache: &crate::cache::Cache,
    src: &crate::kernel::KernelSource,
    series: &[PathBuf],
) -> Result<(PathBuf, Vec<String>)> {
    let mut key = src.id.clone().into_bytes();
    for p in series {
        key.extend(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let root = cache.root().join("bisect-fixture").join(crate::util::short_hash(&key));
    let repo = root.join("linux");
    let done = root.join("commits");
    if let Ok(list) = std::fs::read_to_string(&done) {
        return Ok((repo, list.lines().map(str::to_string).collect()));
    }
    let _lock = crate::lock::acquire(&cache.locks(), "bisect-fixture", "the bisect fixture tree")?;
    let tmp = root.join("linux.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    eprintln!("making the bisect fixture tree {} from {}", repo.display(), src.pristine.display());
    crate::kernel::mirror_tree(&src.pristine, &tmp, &[])?;
    let g = |args: &[&str]| -> Result<String> {
        let mut v = vec![
            "-c",
            "user.name=ksm-hotremove-harness",
            "-c",
            "user.email=ksmh@localhost",
            "-c",
            "core.compression=0",
        ];
        v.extend_from_slice(args);
        crate::tools::run(git(&tmp, &v), &format!("git {}", args.join(" ")))
    };
    let readme_line = |n: usize| -> Result<()> {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().append(true).open(tmp.join("README"))?;
        writeln!(f, "bisect fixture note {n}")?;
        Ok(())
    };
    let commit = |msg: &str| -> Result<String> {
        g(&["add", "-A", "--force"])?;
        g(&["commit", "-q", "-m", msg])?;
        Ok(g(&["rev-parse", "HEAD"])?.trim().to_string())
    };
    let mut commits = Vec::new();
    g(&["init", "-q"])?;
    commits.push(commit(&format!("Linux {} as {} ships it", src.version, src.origin))?);
    readme_line(1)?;
    commits.push(commit("README: a first note")?);
    for p in series {
        crate::tools::run(
            duct::cmd!("patch", "-p1", "--forward", "--batch", "-i", p).dir(&tmp),
            &format!("applying {}", p.display()),
        )?;
    }
    commits.push(commit(
        "mm/ksm: hold ksm_thread_mutex from MEM_GOING_OFFLINE to MEM_OFFLINE (the reported lockdep cycle comes in)",
    )?);
    readme_line(2)?;
    commits.push(commit("README: a second note")?);
    g(&["revert", "--no-edit", "HEAD~1"])?;
    commits.push(g(&["rev-parse", "HEAD"])?.trim().to_string());
    readme_line(3)?;
    commits.push(commit("README: a third note")?);
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::rename(&tmp, &repo)?;
    crate::util::write_atomic(&done, commits.join("\n").as_bytes())?;
    Ok((repo, commits))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small git repository: a, b, c on main, d on a branch from a.
    fn repo(dir: &Path) -> Vec<String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let g = |args: &[&str]| {
            let mut v = vec!["-c", "user.name=t", "-c", "user.email=t@localhost"];
            v.extend_from_slice(args);
            crate::tools::run(git(dir, &v), "git").unwrap().trim().to_string()
        };
        g(&["init", "-q", "-b", "main"]);
        let mut shas = Vec::new();
        for c in ["a", "b", "c"] {
            std::fs::write(dir.join("f"), c).unwrap();
            g(&["add", "f"]);
            g(&["commit", "-q", "-m", c]);
            shas.push(g(&["rev-parse", "HEAD"]));
        }
        g(&["checkout", "-q", "-b", "side", &shas[0]]);
        std::fs::write(dir.join("f"), "d").unwrap();
        g(&["commit", "-q", "-am", "d"]);
        shas.push(g(&["rev-parse", "HEAD"]));
        g(&["checkout", "-q", "main"]);
        shas
    }

    #[test]
    fn bad_revisions_are_refused_each_with_its_reason() {
        let dir = std::env::temp_dir().join(format!("ksmh-bisect-revs-{}", std::process::id()));
        let s = repo(&dir);
        let err = |g: &str, b: &str| check_revs(&dir, g, b).unwrap_err().to_string();
        assert_eq!(check_revs(&dir, &s[0], "HEAD").unwrap(), (s[0].clone(), s[2].clone()));
        assert!(err("nope", "HEAD").contains("--good nope: no such commit"), "{}", err("nope", "HEAD"));
        assert!(err("HEAD~2", "main~2").contains("are the same commit"));
        assert!(err(&s[3], &s[2]).contains("is not an ancestor of --bad"));
        std::fs::write(dir.join("f"), "edited").unwrap();
        assert!(err(&s[0], &s[2]).contains("has uncommitted changes"));
        let not_git = std::env::temp_dir().join(format!("ksmh-bisect-nogit-{}", std::process::id()));
        std::fs::create_dir_all(&not_git).unwrap();
        // Not below a git tree (the temp dir): says so.
        if !crate::tools::merged_output(git(&not_git, &["rev-parse", "--git-dir"])).unwrap().0 {
            assert!(check_revs(&not_git, "a", "b").unwrap_err().to_string().contains("is not a git tree"));
        }
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&not_git);
    }

    #[test]
    fn the_worktree_is_made_once_then_reused_and_the_users_checkout_stays() {
        let base = std::env::temp_dir().join(format!("ksmh-bisect-wt-{}", std::process::id()));
        let s = repo(&base.join("user"));
        let wt = base.join("cache/linux");
        worktree(&base.join("user"), &wt, &s[1]).unwrap();
        assert_eq!(std::fs::read_to_string(wt.join("f")).unwrap(), "b");
        // A bisection cut short is reset, the worktree moved to the new bad commit.
        git_bisect(&wt, &["start", &s[2], &s[0]]).unwrap();
        worktree(&base.join("user"), &wt, &s[2]).unwrap();
        assert_eq!(std::fs::read_to_string(wt.join("f")).unwrap(), "c");
        assert_eq!(std::fs::read_to_string(base.join("user/f")).unwrap(), "c", "the user's checkout");
        let _ = std::fs::remove_dir_all(&base);
    }
}

#[cfg(test)]
mod fixture_tests {
    /// The suite's fixture tree on the real cache (it copies a whole kernel tree: run by hand
    /// with `--ignored`; `cargo xtask test` makes and bisects it anyway).
    #[test]
    #[ignore]
    fn the_fixture_tree_has_the_bug_in_its_third_commit_and_the_cure_in_its_fifth() {
        let cache = crate::cache::Cache::locate(None);
        let m = crate::matrix::load(&crate::matrix::default_path(&crate::paths::repo_root())).unwrap();
        let (k, kdef) = m.first_kernel();
        let src = crate::kernel::resolve_source(&cache, &k.source).unwrap();
        let series =
            crate::kernel::expand_series(&kdef.variant(&m.variants["prefix"]).patch_paths(&crate::paths::repo_root()))
                .unwrap();
        let (repo, commits) = super::fixture_repo(&cache, &src, &series).unwrap();
        assert_eq!(commits.len(), 6);
        let has_fix = |rev: &str| {
            let text = crate::tools::run(super::git(&repo, &["show", &format!("{rev}:mm/ksm.c")]), "git show").unwrap();
            text.contains("KSM_RUN_OFFLINE")
        };
        assert_eq!(commits.iter().map(|c| has_fix(c)).collect::<Vec<_>>(), [true, true, false, false, true, true]);
    }

    /// The suite's bisect check alone, on the real cache (kernel builds and boots: by hand,
    /// `--ignored --nocapture`).
    #[test]
    #[ignore]
    fn the_suite_bisect_check_on_the_real_cache() {
        crate::cmd::run_check_on_the_real_cache("bisect-check", super::suite_check);
    }
}
