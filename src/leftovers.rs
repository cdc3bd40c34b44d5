//! memform's temporary outputs, and those that killed runs leave behind.
//!
//! Every output that is not written in place — a report file
//! ([`crate::report::output::PendingOutput`], also the aggregated capture and a dataset's
//! partitions) and the events folder ([`crate::events::pending_dir::PendingDir`]) — is
//! first written under a hidden name beside its target, `.<name>.memform-<pid>-<n>.tmp`
//! (`<pid>` the writing process, `<n>` the attempt, [`MAX_ATTEMPT`] at most), made here
//! by [`create_beside`] and only here. A run that fails or is interrupted removes its own;
//! a run killed outright (SIGKILL: the OOM killer, a batch scheduler's time limit) cannot,
//! and its temporary file or folder, often large, stays.
//!
//! [`sweep_beside`] removes those: in the folders where the run is about to write, each
//! entry whose name is exactly this pattern ([`TemporaryName::parse`]) and whose process is
//! gone ([`is_gone`]). What is removed and what could not be is returned, not printed: the
//! command line (also the Python wheel's `memform` command) sweeps and says it on stderr.
//! The library's conversions ([`crate::convert`], [`crate::batch`], the Python module's
//! functions) do not sweep: a library inside another program deletes nothing unasked.
//!
//! A process is gone when `kill(pid, 0)` fails with `ESRCH`. A pid that names any process
//! at all, memform or not, counts as running: the temporary of a run whose pid has since
//! been reused stays until that other process ends too (a later run then removes it). This
//! is the conservative choice: the process's name cannot tell, since memform also runs
//! inside Python (the `memform` module) under that interpreter's name. The entries are
//! listed first and each one's process is checked after, so an entry listed belongs to a
//! process that existed then, and one found gone cannot come back. The check sees only
//! this machine's processes (its pid namespace): a folder shared with another machine or
//! container where memform writes at the same time is not a place for this sweep.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The last attempt at a free temporary name: a name taken (by an earlier run of the same
/// pid) is retried with the next attempt, up to this one.
pub const MAX_ATTEMPT: u32 = 100;

/// What comes between the target's name and the pid.
const MARK: &str = ".memform-";
const SUFFIX: &str = ".tmp";

/// The folder where `target`'s temporary output is made: its parent, or `.`.
pub fn directory_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether `target` is written in place, without a temporary: an existing file that is
/// neither a regular file nor a folder (a device such as `/dev/stdout`, a FIFO), which
/// renaming over would replace.
pub fn writes_directly(target: &Path) -> bool {
    std::fs::metadata(target).is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

/// The name of this process's temporary of a target named `name`, at `attempt`.
pub fn temporary_name(name: &str, attempt: u32) -> String {
    format!(".{name}{MARK}{}-{attempt}{SUFFIX}", std::process::id())
}

/// Makes `target`'s temporary beside it with `make` (given the temporary's path), trying
/// attempts 0 to [`MAX_ATTEMPT`] while `make` finds the name taken (`AlreadyExists`).
/// `fallback` names a target without a file name.
pub fn create_beside<T>(
    target: &Path,
    fallback: &str,
    mut make: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<T> {
    let dir = directory_of(target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_string());
    let mut attempt = 0;
    loop {
        match make(&dir.join(temporary_name(&name, attempt))) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < MAX_ATTEMPT => {
                attempt += 1;
            }
            made => return made,
        }
    }
}

/// The parts of a name made by [`temporary_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemporaryName<'a> {
    /// The target's file name.
    pub target: &'a str,
    pub pid: u32,
    pub attempt: u32,
}

impl<'a> TemporaryName<'a> {
    /// The parts of `name` if it is exactly a name memform makes: `.`, a non-empty target
    /// name, `.memform-`, the pid (not 0) and the attempt (at most [`MAX_ATTEMPT`]) in
    /// decimal without sign or leading zeros, separated by `-`, and `.tmp`.
    pub fn parse(name: &'a str) -> Option<TemporaryName<'a>> {
        let rest = name.strip_prefix('.')?.strip_suffix(SUFFIX)?;
        let (target, numbers) = rest.rsplit_once(MARK)?;
        let (pid, attempt) = numbers.split_once('-')?;
        let (pid, attempt) = (decimal(pid)?, decimal(attempt)?);
        (!target.is_empty() && pid != 0 && attempt <= MAX_ATTEMPT).then_some(TemporaryName {
            target,
            pid,
            attempt,
        })
    }
}

/// `s` as `u32::to_string` writes it, and only so.
fn decimal(s: &str) -> Option<u32> {
    let n = s.parse::<u32>().ok()?;
    (n.to_string() == s).then_some(n)
}

/// Whether process `pid` is gone: `kill(pid, 0)` fails with `ESRCH`. Any other answer (it
/// exists, perhaps another user's; the pid is not one `kill` takes) counts as running, and
/// this process is never gone.
pub fn is_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    !alive && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// A temporary file or folder, as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
}

/// A temporary whose process is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    pub pid: u32,
    pub kind: Kind,
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::File => "file",
            Kind::Folder => "folder",
        };
        write!(
            f,
            "{}, a temporary {kind} left by process {}, which is no longer running",
            self.path.display(),
            self.pid
        )
    }
}

/// Why a sweep did not remove a leftover, or could not look for them.
#[derive(Debug, thiserror::Error)]
pub enum LeftoverError {
    #[error("could not remove {leftover}: {source}")]
    Remove {
        leftover: Leftover,
        #[source]
        source: io::Error,
    },
    #[error("could not look for leftover temporary files in {}: {source}", dir.display())]
    List {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One leftover removed, or an error of the sweep.
pub type Swept = Result<Leftover, LeftoverError>;

/// Removes the leftovers in the folders of `targets` (each folder once, in the order of
/// the targets; a target written in place has none). A folder that does not exist has
/// nothing to remove.
pub fn sweep_beside<'a>(targets: impl IntoIterator<Item = &'a Path>) -> Vec<Swept> {
    let mut seen = HashSet::new();
    let mut swept = Vec::new();
    for target in targets {
        if writes_directly(target) {
            continue;
        }
        let dir = directory_of(target);
        let key = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if seen.insert(key) {
            swept.extend(sweep(&dir));
        }
    }
    swept
}

/// Removes the leftovers in `dir` (not its subfolders), in the order of their names:
/// files with [`std::fs::remove_file`], folders with everything in them. Entries of
/// another type (a symbolic link, say) are not memform's and stay. One removed meanwhile
/// by someone else is not reported.
pub fn sweep(dir: &Path) -> Vec<Swept> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(source) => {
            return vec![Err(LeftoverError::List {
                dir: dir.to_path_buf(),
                source,
            })]
        }
    };
    let mut candidates: Vec<(String, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let pid = TemporaryName::parse(&name)?.pid;
            Some((name, pid))
        })
        .collect();
    candidates.sort();
    let mut swept = Vec::new();
    for (name, pid) in candidates {
        // Checked after the listing: see the module's comment.
        if !is_gone(pid) {
            continue;
        }
        let path = dir.join(&name);
        let kind = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => Kind::File,
            Ok(meta) if meta.is_dir() => Kind::Folder,
            _ => continue,
        };
        let removed = match kind {
            Kind::File => std::fs::remove_file(&path),
            Kind::Folder => std::fs::remove_dir_all(&path),
        };
        let leftover = Leftover { path, pid, kind };
        match removed {
            Ok(()) => swept.push(Ok(leftover)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => swept.push(Err(LeftoverError::Remove { leftover, source })),
        }
    }
    swept
}

/// Removes the temporary outputs that killed runs left in the folders of `outputs`
/// ([`sweep_beside`]), before anything is written there: one line on stderr for each, and a
/// warning for each that could not be removed (the run goes on). The command line's: `-q`
/// drops the progress bar and the lines of success, not news of a file deleted that the
/// user did not name.
pub fn remove_beside<'a>(outputs: impl IntoIterator<Item = &'a Path>) {
    for swept in sweep_beside(outputs) {
        match swept {
            Ok(leftover) => eprintln!("memform: removed {leftover}"),
            Err(e) => eprintln!("memform: warning: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process can have: above the kernel's largest.
    fn dead_pid() -> u32 {
        let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(1 << 22);
        max + 1
    }

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().expect("scratch folder")
    }

    #[test]
    fn names_made_are_names_parsed() {
        let name = temporary_name("out.csv", 7);
        assert_eq!(
            TemporaryName::parse(&name),
            Some(TemporaryName {
                target: "out.csv",
                pid: std::process::id(),
                attempt: 7
            })
        );
        assert_eq!(
            TemporaryName::parse(".a.memform-x.memform-12-0.tmp"),
            Some(TemporaryName {
                target: "a.memform-x",
                pid: 12,
                attempt: 0
            })
        );
        assert_eq!(
            TemporaryName::parse(".memray-events-run.memform-4194305-100.tmp")
                .map(|n| (n.target, n.pid)),
            Some(("memray-events-run", 4194305))
        );
    }

    #[test]
    fn only_the_exact_pattern_parses() {
        for name in [
            "out.csv.memform-12-0.tmp",     // not hidden
            ".out.csv.memform-12-0.tm",     // suffix
            ".out.csv.memform-12-0.tmp.gz", // suffix
            ".out.csv.memform-12-0.old",    // PendingDir's aside folder
            "..memform-12-0.tmp",           // no target name
            ".out.csv.memform-12.tmp",      // no attempt
            ".out.csv.memform--0.tmp",      // no pid
            ".out.csv.memform-12-.tmp",     // no attempt
            ".out.csv.memform-0-0.tmp",     // pid 0
            ".out.csv.memform-012-0.tmp",   // leading zero
            ".out.csv.memform-+12-0.tmp",   // sign
            ".out.csv.memform-12-00.tmp",   // leading zero
            ".out.csv.memform-12-101.tmp",  // attempt beyond the last
            ".out.csv.memform-12-0-1.tmp",  // three numbers
            ".out.csv.memform-4294967296-0.tmp",
            ".out.csv.memform-12-x.tmp",
            ".out.csv-12-0.tmp",
            ".out.csv.tmp",
        ] {
            assert_eq!(TemporaryName::parse(name), None, "{name}");
        }
    }

    #[test]
    fn a_pid_above_the_largest_is_gone_and_this_process_is_not() {
        assert!(is_gone(dead_pid()));
        assert!(!is_gone(std::process::id()));
        // Init always runs; 0 and pids beyond pid_t are not processes kill may check.
        assert!(!is_gone(1));
        assert!(!is_gone(0));
        assert!(!is_gone(u32::MAX));
    }

    #[test]
    fn a_sweep_removes_only_dead_processes_temporaries() {
        let dir = scratch();
        let dead = dead_pid();
        let own = std::process::id();
        let file = format!(".out.csv.memform-{dead}-0.tmp");
        let folder = format!(".ds.memform-{dead}-2.tmp");
        std::fs::write(dir.path().join(&file), b"partial").unwrap();
        std::fs::create_dir_all(dir.path().join(&folder).join("sub")).unwrap();
        std::fs::write(dir.path().join(&folder).join("a.parquet"), b"x").unwrap();
        let kept = [
            format!(".out.csv.memform-{own}-0.tmp"),
            format!(".out.csv.memform-{}-0.tmp", 1),
            format!("out.csv.memform-{dead}-0.tmp"),
            format!(".ds.memform-{dead}-2.old"),
            "out.csv".to_string(),
        ];
        for name in &kept {
            std::fs::write(dir.path().join(name), b"keep").unwrap();
        }
        // A link of the pattern is not memform's: it stays, and so does what it names.
        std::os::unix::fs::symlink(
            dir.path().join("out.csv"),
            dir.path().join(format!(".link.memform-{dead}-0.tmp")),
        )
        .unwrap();

        let swept: Vec<Leftover> = sweep(dir.path())
            .into_iter()
            .map(|s| s.expect("removed"))
            .collect();
        assert_eq!(
            swept,
            [
                Leftover {
                    path: dir.path().join(&folder),
                    pid: dead,
                    kind: Kind::Folder
                },
                Leftover {
                    path: dir.path().join(&file),
                    pid: dead,
                    kind: Kind::File
                }
            ]
        );
        assert_eq!(
            swept[1].to_string(),
            format!(
                "{}, a temporary file left by process {dead}, which is no longer running",
                dir.path().join(&file).display()
            )
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected: Vec<String> = kept.to_vec();
        expected.push(format!(".link.memform-{dead}-0.tmp"));
        expected.sort();
        assert_eq!(left, expected);
        // Nothing more the second time.
        assert!(sweep(dir.path()).is_empty());
    }

    #[test]
    fn each_folder_is_swept_once_and_a_missing_one_is_empty() {
        let dir = scratch();
        let dead = dead_pid();
        std::fs::write(dir.path().join(format!(".a.memform-{dead}-0.tmp")), b"").unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let missing = dir.path().join("missing").join("c");
        let swept = sweep_beside([a.as_path(), b.as_path(), missing.as_path()]);
        assert_eq!(swept.len(), 1);
        assert!(swept[0].is_ok());
        // Two targets in a "folder" that is a file: one error, not two.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        let (x, y) = (
            plain.join("x"),
            dir.path().join(".").join("plain").join("y"),
        );
        assert_eq!(sweep_beside([x.as_path(), y.as_path()]).len(), 1);
        // A target written in place: its folder is not looked at.
        assert!(writes_directly(Path::new("/dev/null")));
        assert!(!writes_directly(&a));
        assert!(sweep_beside([Path::new("/dev/null")]).is_empty());
    }

    #[test]
    fn a_folder_that_cannot_be_listed_is_one_error() {
        let dir = scratch();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        let swept = sweep(&file);
        assert_eq!(swept.len(), 1);
        let message = swept[0].as_ref().unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "could not look for leftover temporary files in {}: ",
                file.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn temporaries_are_made_beside_the_target_with_the_next_free_attempt() {
        let dir = scratch();
        let target = dir.path().join("out.csv");
        std::fs::write(dir.path().join(temporary_name("out.csv", 0)), b"").unwrap();
        let made = create_beside(&target, "report", |temp| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(temp)
                .map(|_| temp.to_path_buf())
        })
        .unwrap();
        assert_eq!(made, dir.path().join(temporary_name("out.csv", 1)));
        assert_eq!(directory_of(Path::new("out.csv")), Path::new("."));
    }
}
