//! Writing a folder of files safely: into a temporary folder beside the target, renamed
//! into place only when every file is complete, so a failed or interrupted run leaves no
//! folder and no partial file behind (the folder's twin of
//! [`crate::report::output::PendingOutput`]; its name is [`crate::leftovers`]'s, which
//! also removes those that killed runs leave behind).
//!
//! An existing target is replaced only when asked (`-f`) and only when it holds nothing
//! but the files this kind of folder is made of: `-f` never deletes a folder of someone
//! else's files.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::interrupt::{create_guarded, Guard};

/// A folder being written; dropped without [`PendingDir::commit`], it removes itself and
/// what is in it.
pub struct PendingDir {
    target: PathBuf,
    temp: PathBuf,
    /// The guards of the folder and of each file in it (signals remove them).
    guards: Vec<Guard>,
    committed: bool,
}

impl PendingDir {
    /// Creates the temporary folder for `target`; with `remove_on_signal`, a signal removes
    /// it and the files created in it by [`PendingDir::create_file`].
    pub fn create(target: &Path, remove_on_signal: bool) -> io::Result<PendingDir> {
        let mut guard = Guard::new();
        if remove_on_signal {
            crate::interrupt::install();
        }
        let temp = crate::leftovers::create_beside(target, "dataset", |temp| {
            let make = || std::fs::create_dir(temp).map(|()| temp.to_path_buf());
            if remove_on_signal {
                create_guarded(&mut guard, make, |p| Some(p.as_path()))
            } else {
                make()
            }
        })?;
        Ok(PendingDir {
            target: target.to_path_buf(),
            temp,
            guards: vec![guard],
            committed: false,
        })
    }

    /// Creates the file `name` in the folder (guarded like the folder).
    pub fn create_file(&mut self, name: &str) -> io::Result<File> {
        let path = self.temp.join(name);
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map(|f| (f, path.clone()))
        };
        let guarded = self.guards.first().is_some_and(Guard::is_set);
        let (file, _) = if guarded {
            let mut guard = Guard::new();
            let made = create_guarded(&mut guard, create, |(_, p)| Some(p.as_path()))?;
            self.guards.push(guard);
            made
        } else {
            create()?
        };
        Ok(file)
    }

    /// The path of the file `name` in the folder being written.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.temp.join(name)
    }

    /// Renames the folder into place. An existing target (allowed only with `force`, and
    /// only if it holds nothing but files named in `own_files`) is moved aside first and
    /// removed once the new folder is in place.
    pub fn commit(mut self, force: bool, own_files: &[&str]) -> io::Result<()> {
        if let Ok(dir) = File::open(&self.temp) {
            dir.sync_all()?;
        }
        let old = if self.target.exists() {
            check_replaceable(&self.target, force, own_files)?;
            let aside = self.temp.with_extension("old");
            std::fs::rename(&self.target, &aside)?;
            Some(aside)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(&self.temp, &self.target) {
            if let Some(aside) = &old {
                let _ = std::fs::rename(aside, &self.target);
            }
            return Err(e);
        }
        self.committed = true;
        if let Some(aside) = old {
            std::fs::remove_dir_all(aside)?;
        }
        Ok(())
    }
}

/// Whether `target`, an existing path, may be replaced: with `force`, a folder of nothing
/// but `own_files`.
pub fn check_replaceable(target: &Path, force: bool, own_files: &[&str]) -> io::Result<()> {
    if !force {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "already exists, will not overwrite without --force",
        ));
    }
    let meta = std::fs::symlink_metadata(target)?;
    if !meta.is_dir() {
        return Err(io::Error::other(
            "exists and is not a folder; will not replace it",
        ));
    }
    for entry in std::fs::read_dir(target)? {
        let entry = entry?;
        let name = entry.file_name();
        let known = name.to_str().is_some_and(|n| own_files.contains(&n));
        if !known || !entry.file_type()?.is_file() {
            return Err(io::Error::other(format!(
                "holds {:?}, which memform did not write; will not replace it",
                name
            )));
        }
    }
    Ok(())
}

impl Drop for PendingDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
        // The guards of the files go before the folder's.
        while self.guards.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("memform-pending-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_folder_appears_only_when_committed() {
        let dir = scratch("commit");
        let target = dir.join("out");
        let mut pending = PendingDir::create(&target, false).unwrap();
        io::Write::write_all(&mut pending.create_file("a.parquet").unwrap(), b"x").unwrap();
        assert!(!target.exists());
        pending.commit(false, &["a.parquet"]).unwrap();
        assert_eq!(std::fs::read(target.join("a.parquet")).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

        // Dropped unfinished: nothing left.
        let mut pending = PendingDir::create(&dir.join("other"), false).unwrap();
        pending.create_file("a.parquet").unwrap();
        drop(pending);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_folder_of_its_own_files_is_replaced_and_only_with_force() {
        let dir = scratch("replace");
        let target = dir.join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("a.parquet"), b"old").unwrap();
        let write = |force| {
            let mut pending = PendingDir::create(&target, false).unwrap();
            io::Write::write_all(&mut pending.create_file("a.parquet").unwrap(), b"new").unwrap();
            pending.commit(force, &["a.parquet"])
        };
        assert_eq!(
            write(false).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        write(true).unwrap();
        assert_eq!(std::fs::read(target.join("a.parquet")).unwrap(), b"new");
        std::fs::write(target.join("notes.txt"), b"mine").unwrap();
        let refused = write(true).unwrap_err().to_string();
        assert!(refused.contains("notes.txt"), "{refused}");
        assert_eq!(std::fs::read(target.join("notes.txt")).unwrap(), b"mine");
        // Nothing but the target is left in the parent.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
