//! The kernel's own selftests of a cell's tree (tools/testing/selftests/), built for the guest:
//! C tests compiled static with the arch's cross compiler (as busybox is static), scripts
//! copied. Cached per (source, arch) by the hash of every input file, like the initramfs. A
//! program the tree does not have is no error (it is reported per case as not in this tree);
//! a program that does not compile is one, naming the file the compiler stopped at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::KernelSource;
use crate::arch::Arch;
use crate::cache::Cache;
use crate::matrix::{Program, SelftestPlan};
use crate::tools;

/// Foreign-arch Debian packages the selftests link that a cross libc lacks (`numa` for
/// ksm_tests), each with a file that proves it was extracted; `setup` fetches them.
pub const FOREIGN_DEBS: &[(&str, &str)] = &[("libnuma-dev", "usr/include/numa.h")];

/// What goes into the guest under /selftests/.
pub struct Selftests {
    /// (file name, path in the cache) of every program found in the tree.
    pub files: Vec<(String, PathBuf)>,
    /// Programs the plan names that the tree does not have, with the folders searched.
    pub absent: BTreeMap<String, String>,
    /// The guest's case list (only cases whose program is there).
    pub list: String,
}

/// Where `name` is in the tree: the first of its folders that has it.
pub fn locate(tree: &Path, name: &str, p: &Program) -> Option<PathBuf> {
    let file = if Program::is_script(name) { name.to_string() } else { format!("{name}.c") };
    p.dirs.iter().map(|d| tree.join("tools/testing/selftests").join(d)).find(|d| d.join(&file).is_file())
}

pub fn build(cache: &Cache, src: &KernelSource, arch: Arch, plan: &SelftestPlan) -> Result<Selftests> {
    let tree = &src.pristine;
    let m = arch.machine();
    let wanted: Vec<&str> = {
        let mut w: Vec<&str> = plan.cases.iter().map(|c| c.program()).collect();
        w.sort();
        w.dedup();
        w
    };
    let mut found: Vec<(&str, PathBuf, &Program)> = Vec::new();
    let mut absent = BTreeMap::new();
    for name in wanted {
        let p = plan.programs.get(name).with_context(|| format!("selftests: no program {name} in the matrix"))?;
        match locate(tree, name, p) {
            Some(dir) => found.push((name, dir, p)),
            None => {
                absent.insert(
                    name.to_string(),
                    format!("not in this tree (tools/testing/selftests/{{{}}})", p.dirs.join(",")),
                );
            }
        }
    }
    // The key: every input's bytes (sources, helpers, headers next to them), the compiler, the libs.
    // "khdr": built against the tree's installed uapi headers (older builds were not).
    let mut key_input = format!("{} khdr", m.gcc()).into_bytes();
    for (name, dir, p) in &found {
        key_input.extend(name.as_bytes());
        for f in inputs(dir, name, p) {
            key_input.extend(std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?);
        }
        key_input.extend(p.libs.join(",").as_bytes());
    }
    let out = cache.selftests(&src.id, arch, &crate::util::short_hash(&key_input));
    let files: Vec<(String, PathBuf)> = found.iter().map(|(n, _, _)| (n.to_string(), out.join(n))).collect();
    let list = plan
        .cases
        .iter()
        .filter(|c| !absent.contains_key(c.program()))
        .map(|c| format!("{} {}\n", c.name, c.run.join(" ")))
        .collect();
    let done = out.join(".complete");
    if done.exists() {
        return Ok(Selftests { files, absent, list });
    }
    let _lock = crate::lock::acquire(
        &cache.locks(),
        &format!("selftests-{}-{arch}", src.id),
        &format!("the {arch} selftests of {}", src.id),
    )?;
    if done.exists() {
        return Ok(Selftests { files, absent, list });
    }
    tools::require_cmd(&m.gcc())?;
    let uapi = uapi_headers(cache, src, arch)?;
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    for (name, dir, p) in &found {
        if Program::is_script(name) {
            std::fs::copy(dir.join(name), tmp.join(name))?;
            continue;
        }
        compile(cache, tree, &uapi, arch, dir, name, p, &tmp.join(name))?;
    }
    std::fs::write(tmp.join(".complete"), b"")?;
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&tmp, &out)?;
    Ok(Selftests { files, absent, list })
}

/// The files a program is built from: its source, the helpers present, the headers of its folder.
fn inputs(dir: &Path, name: &str, p: &Program) -> Vec<PathBuf> {
    if Program::is_script(name) {
        return vec![dir.join(name)];
    }
    let mut v = vec![dir.join(format!("{name}.c"))];
    v.extend(p.helpers.iter().map(|h| dir.join(h)).filter(|f| f.is_file()));
    let mut headers: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    v.extend(headers);
    v
}

/// `make headers_install` of the pristine tree for `arch`, once per (source, arch): the cross
/// libc's <asm/...> headers are older than the tree (6.12's s390 sigcontext.h needs the
/// __vector128 its own <asm/types.h> defines, which tools/include/uapi's <linux/types.h> skips).
fn uapi_headers(cache: &Cache, src: &KernelSource, arch: Arch) -> Result<PathBuf> {
    let out = cache.uapi_headers(&src.id, arch);
    let include = out.join("include");
    if out.join(".complete").exists() {
        return Ok(include);
    }
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let (ok, output) = tools::merged_output(duct::cmd(
        "make",
        [
            "-s".to_string(),
            "-C".into(),
            src.pristine.display().to_string(),
            format!("ARCH={}", arch.machine().kernel_arch),
            format!("O={}", tmp.join("build").display()),
            format!("INSTALL_HDR_PATH={}", tmp.display()),
            "headers_install".into(),
        ],
    ))?;
    if !ok {
        bail!(
            "the uapi headers of {} do not install for {arch} (make headers_install, which the selftests include first):\n{}",
            src.pristine.display(),
            crate::util::tail(&output, 12)
        );
    }
    let _ = std::fs::remove_dir_all(tmp.join("build"));
    std::fs::write(tmp.join(".complete"), b"")?;
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&tmp, &out)?;
    Ok(include)
}

#[allow(clippy::too_many_arguments)]
fn compile(
    cache: &Cache,
    tree: &Path,
    uapi: &Path,
    arch: Arch,
    dir: &Path,
    name: &str,
    p: &Program,
    out: &Path,
) -> Result<()> {
    let m = arch.machine();
    let multiarch = m.cross_prefix.trim_end_matches('-');
    // As the tree's Makefile: the kernel root for <include/vdso/...>, the installed uapi
    // headers (KHDR_INCLUDES), then the tools' uapi copies (TOOLS_INCLUDES).
    let mut args: Vec<String> = vec![
        "-static".into(),
        "-O2".into(),
        "-w".into(),
        "-I".into(),
        tree.display().to_string(),
        "-isystem".into(),
        uapi.display().to_string(),
        "-isystem".into(),
        tree.join("tools/include/uapi").display().to_string(),
    ];
    for (package, _) in FOREIGN_DEBS {
        let root = cache.foreign_deb_root(package, arch);
        args.push(format!("-I{}", root.join("usr/include").display()));
        args.push(format!("-L{}", root.join("usr/lib").join(multiarch).display()));
    }
    args.push("-o".into());
    args.push(out.display().to_string());
    for f in inputs(dir, name, p).into_iter().filter(|f| f.extension().is_some_and(|x| x == "c")) {
        args.push(f.display().to_string());
    }
    args.extend(p.libs.iter().map(|l| format!("-l{l}")));
    let (ok, output) = tools::merged_output(duct::cmd(m.gcc(), &args).dir(dir))?;
    if !ok {
        let file = first_error_file(&output).unwrap_or_else(|| dir.join(format!("{name}.c")).display().to_string());
        bail!(
            "the selftest {name} of {} does not build for {arch}: {file}\n{}\n(the cross compiler is {}; `cargo xtask setup` installs it and the libraries the selftests link)",
            tree.display(),
            output.lines().filter(|l| l.contains("error")).take(8).collect::<Vec<_>>().join("\n"),
            m.gcc()
        );
    }
    Ok(())
}

/// `path:line:col: error: ...` or `ld: ... undefined reference` -> the file gcc or ld stopped at.
pub fn first_error_file(output: &str) -> Option<String> {
    let line = output
        .lines()
        .find(|l| l.contains("error:") || l.contains("undefined reference") || l.contains("cannot find"))?;
    let first = line.split(':').next()?.trim();
    if line.contains("error:") && !first.is_empty() && !first.ends_with("ld") {
        let rest: Vec<&str> = line.splitn(3, ':').collect();
        return Some(if rest.len() == 3 && rest[1].chars().all(|c| c.is_ascii_digit()) {
            format!("{}:{}", rest[0], rest[1])
        } else {
            first.to_string()
        });
    }
    Some(line.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_gcc_stopped_at_is_named() {
        let out = "In file included from vm_util.c:6:\n\
                   ../../../../tools/include/uapi/asm/bitsperlong.h:7:10: fatal error: x.h: No such file or directory\n";
        assert_eq!(first_error_file(out).unwrap(), "../../../../tools/include/uapi/asm/bitsperlong.h:7");
        let out = "ksm_tests.c:12:3: error: expected ';' before 'return'\n";
        assert_eq!(first_error_file(out).unwrap(), "ksm_tests.c:12");
        let out = "/usr/bin/s390x-linux-gnu-ld: cannot find -lnuma: No such file or directory\n";
        assert!(first_error_file(out).unwrap().contains("cannot find -lnuma"));
        assert_eq!(first_error_file("all fine\n"), None);
    }

    #[test]
    fn a_program_is_found_in_the_first_folder_that_has_it() {
        let t = std::env::temp_dir().join(format!("ksmh-selftest-locate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(t.join("tools/testing/selftests/vm")).unwrap();
        std::fs::write(t.join("tools/testing/selftests/vm/ksm_tests.c"), "").unwrap();
        let p = Program { dirs: vec!["mm".into(), "vm".into()], ..Program::default() };
        assert_eq!(locate(&t, "ksm_tests", &p), Some(t.join("tools/testing/selftests/vm")));
        assert_eq!(locate(&t, "ksm_functional_tests", &p), None);
        std::fs::remove_dir_all(&t).unwrap();
    }
}
