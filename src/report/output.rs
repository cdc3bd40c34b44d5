//! Writing a report file safely: checked before anything is read ([`check_target`]), then
//! into a temporary file beside the target, renamed over it only when complete, so a failed
//! run never leaves a partial or empty report. Its name
//! is [`crate::leftovers`]'s, which also removes those that killed runs leave behind.
//!
//! A target that exists and is not a regular file (a device such as `/dev/stdout` or
//! `/dev/full`, a FIFO) is written directly: renaming over it would replace the device.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A report being written; dropped without [`PendingOutput::commit`], it removes itself.
pub struct PendingOutput {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    /// Writing straight into a special file: nothing to rename or remove.
    direct: bool,
}

impl PendingOutput {
    /// Creates the temporary file for `target` ([`crate::leftovers::create_beside`]).
    pub fn create(target: &Path) -> io::Result<PendingOutput> {
        if crate::leftovers::writes_directly(target) {
            let file = OpenOptions::new().write(true).truncate(true).open(target)?;
            return Ok(PendingOutput {
                target: target.to_path_buf(),
                temp: target.to_path_buf(),
                file: Some(file),
                direct: true,
            });
        }
        let (file, temp) = crate::leftovers::create_beside(target, "report", |temp| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(temp)
                .map(|file| (file, temp.to_path_buf()))
        })?;
        Ok(PendingOutput {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
            direct: false,
        })
    }

    /// Path of the temporary file to remove on a signal; `None` when writing directly.
    pub fn temp_path(&self) -> Option<&Path> {
        (!self.direct).then_some(self.temp.as_path())
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file is open until commit")
    }

    /// Flushes the file to disk and renames it over the target.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            io::Write::flush(&mut file)?;
            if self.direct {
                return Ok(());
            }
            file.sync_all()?;
        }
        std::fs::rename(&self.temp, &self.target)
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        self.file.take();
        if !self.direct {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `target` with `write` into a [`PendingOutput`] and renames it into place; a
/// failure leaves no file. With `remove_on_signal`, SIGINT, SIGTERM and SIGHUP remove the
/// temporary file too ([`crate::interrupt`]).
pub fn write_file(
    target: &Path,
    remove_on_signal: bool,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    // Declared before `pending`, so dropped after it: a failed write removes its
    // temporary file while the file is still guarded.
    let mut guard = crate::interrupt::Guard::new();
    let create = || PendingOutput::create(target);
    let mut pending = if remove_on_signal {
        crate::interrupt::install();
        crate::interrupt::create_guarded(&mut guard, create, PendingOutput::temp_path)
    } else {
        create()
    }?;
    write(pending.file())?;
    pause_before_commit();
    pending.commit()?;
    drop(guard);
    Ok(())
}

/// Test hook: `MEMFORM_PAUSE_BEFORE_COMMIT_MS` holds a finished report in its temporary file
/// for that long, so the tests can interrupt a run at the one moment a file exists.
pub fn pause_before_commit() {
    if let Some(ms) = std::env::var_os("MEMFORM_PAUSE_BEFORE_COMMIT_MS")
        .and_then(|v| v.to_str().and_then(|s| s.parse::<u64>().ok()))
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// The checks of an output made before anything is read: it does not exist (unless
/// `force`) and is none of `inputs`, the captures it is made from.
pub fn check_target(output: &Path, inputs: &[&Path], force: bool) -> Result<(), Error> {
    if !force && output.exists() {
        return Err(Error::OutputExists(output.to_path_buf()));
    }
    if inputs.iter().any(|input| is_same_file(output, input)) {
        return Err(Error::OutputIsCapture(output.to_path_buf()));
    }
    Ok(())
}

/// Whether `a` and `b` name the same existing file (device and inode).
fn is_same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
