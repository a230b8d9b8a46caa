//! The guest initramfs per arch: static busybox, /dev/console, images/init, and the
//! cross-compiled static workload. Written with the cpio crate (newc) and gzip, so no root,
//! no mknod and no host cpio are needed. Cached by the hash of everything that goes in.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cpio::NewcBuilder;

use crate::arch::Arch;
use crate::cache::Cache;
use crate::tools;

pub struct Image {
    pub initrd: PathBuf,
}

/// A file the cell adds to the image (the kernel's selftests under `selftests/`).
pub struct ExtraFile {
    /// Path inside the image, below a folder of its own (`selftests/ksm_tests`).
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

enum Entry {
    Dir,
    File(Vec<u8>, u32),
    Symlink(String),
    CharDev(u32, u32),
}

/// Builds the newc archive from (path, entry) pairs. Pure apart from the bytes it returns.
fn archive(entries: &[(&str, Entry)]) -> Result<Vec<u8>> {
    let inputs = entries.iter().enumerate().map(|(i, (name, e))| {
        let b = NewcBuilder::new(name).ino(i as u32 + 1).uid(0).gid(0).nlink(1);
        match e {
            Entry::Dir => (b.mode(0o040755).nlink(2), Cursor::new(Vec::new())),
            Entry::File(data, mode) => (b.mode(0o100000 | mode), Cursor::new(data.clone())),
            Entry::Symlink(target) => (b.mode(0o120777), Cursor::new(target.as_bytes().to_vec())),
            Entry::CharDev(maj, min) => (b.mode(0o020600).rdev_major(*maj).rdev_minor(*min), Cursor::new(Vec::new())),
        }
    });
    Ok(cpio::write_cpio(inputs, Vec::new())?)
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

pub fn build(cache: &Cache, repo: &Path, arch: Arch, extra: &[ExtraFile]) -> Result<Image> {
    let m = arch.machine();
    let busybox = cache.busybox(arch);
    if !busybox.exists() {
        bail!("no static busybox for {arch} at {}: run `cargo xtask setup`", busybox.display());
    }
    let init = std::fs::read(repo.join("images/init")).context("reading images/init")?;
    let work_src = repo.join("images/ksmwork.c");
    let work_c = std::fs::read(&work_src).context("reading images/ksmwork.c")?;
    let bb = std::fs::read(&busybox)?;
    let mut key_input = [init.as_slice(), &work_c, &bb, m.gcc().as_bytes()].concat();
    for f in extra {
        key_input.extend(f.path.as_bytes());
        key_input.extend(&f.data);
    }
    let key = crate::util::short_hash(&key_input);
    let dir = cache.initramfs(arch, &key);
    let initrd = dir.join("initramfs.cpio.gz");
    if initrd.exists() {
        return Ok(Image { initrd });
    }
    let _lock = crate::lock::acquire(&cache.locks(), &format!("images-{arch}"), &format!("the {arch} initramfs"))?;
    if initrd.exists() {
        return Ok(Image { initrd }); // another run made it while we waited
    }
    std::fs::create_dir_all(&dir)?;
    tools::require_cmd(&m.gcc())?;
    let work_bin = dir.join("ksmwork");
    let (compiled, output) =
        tools::merged_output(duct::cmd!(m.gcc(), "-static", "-O2", "-Wall", "-o", &work_bin, &work_src))?;
    if !compiled {
        bail!(
            "cross-compiling the workload failed ({}):\n{}\n(is {} installed? `cargo xtask setup`)",
            m.gcc(),
            output,
            m.libc_package
        );
    }
    let mut entries = vec![
        ("bin", Entry::Dir),
        ("dev", Entry::Dir),
        // Without /dev/console in the initramfs, init's output is lost.
        ("dev/console", Entry::CharDev(5, 1)),
        ("proc", Entry::Dir),
        ("sys", Entry::Dir),
        ("tmp", Entry::Dir),
        ("bin/busybox", Entry::File(bb, 0o755)),
        ("bin/sh", Entry::Symlink("busybox".into())),
        ("init", Entry::File(init, 0o755)),
        ("ksmwork", Entry::File(std::fs::read(&work_bin)?, 0o755)),
    ];
    let mut dirs: Vec<&str> = extra.iter().filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d)).collect();
    dirs.sort();
    dirs.dedup();
    entries.extend(dirs.into_iter().map(|d| (d, Entry::Dir)));
    entries.extend(extra.iter().map(|f| (f.path.as_str(), Entry::File(f.data.clone(), f.mode))));
    crate::util::write_atomic(&initrd, &gzip(&archive(&entries)?)?)?;
    Ok(Image { initrd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_holds_console_device_symlink_and_executable_init() {
        let a = archive(&[
            ("dev", Entry::Dir),
            ("dev/console", Entry::CharDev(5, 1)),
            ("bin/sh", Entry::Symlink("busybox".into())),
            ("init", Entry::File(b"#!/bin/sh\n".to_vec(), 0o755)),
        ])
        .unwrap();
        let mut r = Cursor::new(a);
        let mut seen = Vec::new();
        loop {
            let rd = cpio::NewcReader::new(r).unwrap();
            if rd.entry().is_trailer() {
                break;
            }
            let e = rd.entry();
            seen.push((e.name().to_string(), e.mode(), e.rdev_major(), e.rdev_minor()));
            r = rd.finish().unwrap();
        }
        assert!(seen.contains(&("dev/console".into(), 0o020600, 5, 1)));
        assert!(seen.iter().any(|(n, m, _, _)| n == "bin/sh" && m & 0o170000 == 0o120000));
        assert!(seen.iter().any(|(n, m, _, _)| n == "init" && *m == 0o100755));
    }
}
