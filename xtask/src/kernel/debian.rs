//! Kernel sources Debian ships outside the host's own suites: `linux-source-6.12` from
//! bookworm-backports, downloaded with a private apt state (its own lists, cache and sources
//! folder in `<cache>/debs/apt`), so the host's apt configuration is never touched, then
//! unpacked into `<cache>/debs/root` where `source::debian_tarball` finds it.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cache::Cache;
use crate::tools;

/// The packages the matrix's embedded kernels need that the host's suites do not carry, and
/// the suite that does.
pub const BACKPORTS: &[(&str, &str)] = &[("linux-source-6.12", "bookworm-backports")];

/// The archive the host already uses (its first `URIs:` or `deb` line), so a mirror or proxy
/// set up for the host serves the backports too.
pub fn host_mirror(sources: &[String]) -> String {
    for text in sources {
        for l in text.lines().map(str::trim) {
            if let Some(u) = l.strip_prefix("URIs:") {
                if let Some(u) = u.split_whitespace().find(|u| !u.contains("security")) {
                    return u.to_string();
                }
            }
            if let Some(rest) = l.strip_prefix("deb ") {
                if let Some(u) = rest.split_whitespace().find(|w| w.contains("://") && !w.contains("security")) {
                    return u.to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".into()
}

fn host_sources() -> Vec<String> {
    let mut files = vec![Path::new("/etc/apt/sources.list").to_path_buf()];
    if let Ok(d) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut v: Vec<_> = d.flatten().map(|e| e.path()).collect();
        v.sort();
        files.extend(v);
    }
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
}

/// Downloads and unpacks `package` from `suite` unless its tarball is already there.
pub fn fetch(cache: &Cache, package: &str, suite: &str) -> Result<()> {
    if super::source::debian_tarball(cache, package).is_some() {
        return Ok(());
    }
    let debs = cache.debs();
    let (state, archives, parts) = (debs.join("apt/state"), debs.join("apt/cache"), debs.join("apt/sources"));
    for d in [state.join("lists/partial"), archives.join("archives/partial"), parts.clone()] {
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    if !state.join("status").exists() {
        std::fs::write(state.join("status"), "")?;
    }
    let mirror = host_mirror(&host_sources());
    std::fs::write(
        parts.join("backports.sources"),
        format!(
            "Types: deb\nURIs: {mirror}\nSuites: {suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        ),
    )?;
    let opts = [
        format!("-o=Dir::State={}", state.display()),
        format!("-o=Dir::State::status={}", state.join("status").display()),
        format!("-o=Dir::Cache={}", archives.display()),
        "-o=Dir::Etc::SourceList=/dev/null".to_string(),
        format!("-o=Dir::Etc::SourceParts={}", parts.display()),
    ];
    println!(
        "setup: {package} from {suite} ({mirror}) into {} (the host's apt sources stay as they are)",
        debs.display()
    );
    let apt = |args: &[&str]| {
        let mut v: Vec<String> = opts.to_vec();
        v.extend(args.iter().map(|s| s.to_string()));
        duct::cmd("apt-get", v).dir(&debs)
    };
    tools::run(apt(&["-q", "update"]), &format!("apt-get update of {suite}"))?;
    tools::run(apt(&["-q", "download", package]), &format!("apt-get download {package}"))?;
    let deb = std::fs::read_dir(&debs)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "deb")
                && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
        })
        .with_context(|| format!("apt-get download left no {package}_*.deb in {}", debs.display()))?;
    let _lock = crate::lock::acquire(&cache.locks(), "debs", "the downloaded kernel packages")?;
    let (root, tmp) = (debs.join("root"), debs.join("root.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    tools::run(duct::cmd!("dpkg-deb", "-x", &deb, &tmp), &format!("unpacking {}", deb.display()))?;
    if !tmp.join(format!("usr/src/{package}.tar.xz")).exists() {
        bail!("{} holds no usr/src/{package}.tar.xz", deb.display());
    }
    // Several packages share root/: move this one's files in, then drop the temporary folder.
    std::fs::create_dir_all(root.join("usr/src"))?;
    std::fs::rename(tmp.join(format!("usr/src/{package}.tar.xz")), root.join(format!("usr/src/{package}.tar.xz")))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_backports_come_from_the_hosts_own_mirror() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/x\nURIs: http://mirror.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n";
        assert_eq!(super::host_mirror(&[deb822.into()]), "http://mirror.example/debian");
        let one_line = "# comment\ndeb [arch=amd64] http://ftp.example/debian bookworm main\n";
        assert_eq!(super::host_mirror(&["".into(), one_line.into()]), "http://ftp.example/debian");
        assert_eq!(super::host_mirror(&[]), "http://deb.debian.org/debian");
    }
}
