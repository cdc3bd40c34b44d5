//! Writing a report file safely: into a temporary file beside the target, renamed over it
//! only when complete, so a failed run never leaves a partial or empty report.
//!
//! A target that exists and is not a regular file (a device such as `/dev/stdout` or
//! `/dev/full`, a FIFO) is written directly: renaming over it would replace the device.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A report being written; dropped without [`PendingOutput::commit`], it removes itself.
pub struct PendingOutput {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    /// Writing straight into a special file: nothing to rename or remove.
    direct: bool,
}

impl PendingOutput {
    /// Creates the temporary file for `target`.
    pub fn create(target: &Path) -> io::Result<PendingOutput> {
        if let Ok(meta) = std::fs::metadata(target) {
            if !meta.is_file() && !meta.is_dir() {
                let file = OpenOptions::new().write(true).truncate(true).open(target)?;
                return Ok(PendingOutput {
                    target: target.to_path_buf(),
                    temp: target.to_path_buf(),
                    file: Some(file),
                    direct: true,
                });
            }
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".to_string());
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(
                ".{name}.memform-{}-{attempt}.tmp",
                std::process::id()
            ));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(PendingOutput {
                        target: target.to_path_buf(),
                        temp,
                        file: Some(file),
                        direct: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
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
