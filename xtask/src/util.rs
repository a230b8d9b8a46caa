//! Small helpers shared by several stages.

use std::path::Path;

use sha2::{Digest, Sha256};

pub fn short_hash(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The last `n` lines of a log file, for error messages that point at the full log.
pub fn tail_lines(path: &Path, n: usize) -> String {
    tail(&String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()), n)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// `20261126-112233`, for results folder names.
pub fn now_stamp() -> String {
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

/// Writes `path` whole or not at all: a temporary file next to it (unique per process and
/// thread), synced, then renamed over it. A kill at any moment leaves the old file or the new
/// one, never a truncated one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A new folder `<base>` (or `<base>-2`, `-3`, ... if taken), created exclusively: two runs
/// started in the same second get two folders, never one shared.
pub fn create_dir_new(base: &Path) -> std::io::Result<std::path::PathBuf> {
    if let Some(parent) = base.parent() {
        std::fs::create_dir_all(parent)?;
    }
    for n in 1.. {
        let p = if n == 1 {
            base.to_path_buf()
        } else {
            base.with_file_name(format!("{}-{n}", base.file_name().unwrap_or_default().to_string_lossy()))
        };
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_and_new_dirs_are_never_shared() {
        let d = std::env::temp_dir().join(format!("ksmh-util-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let a = create_dir_new(&d.join("20261203-101010-run")).unwrap();
        let b = create_dir_new(&d.join("20261203-101010-run")).unwrap();
        assert_ne!(a, b);
        assert!(b.ends_with("20261203-101010-run-2"), "{}", b.display());
        write_atomic(&a.join("r.json"), b"old").unwrap();
        write_atomic(&a.join("r.json"), b"new").unwrap();
        assert_eq!(std::fs::read(a.join("r.json")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&a).unwrap().count(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
