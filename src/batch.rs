//! Many captures, each into its own reports (one per format of its [`Conversion`]),
//! converted side by side: a list of conversions run on a rayon pool of `jobs` threads,
//! with one result per capture in input order and a callback, on the calling thread, as
//! each one finishes. One capture failing does not stop the others. Also the checks a
//! batch makes before anything runs (no two reports are the same file) and where
//! `--output-dir` puts a report.
//! The command line's batch mode and the Python module both convert through [`Batch`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::convert::{Conversion, Converted};
use crate::error::{BatchError, Error};
use crate::progress::Progress;

/// Conversions to run at once.
#[derive(Debug, Clone)]
pub struct Batch {
    pub conversions: Vec<Conversion>,
    /// Conversions running at once (0: one per core). While more than one runs, a
    /// conversion left at the default number of threads (0) analyses on one thread,
    /// since the jobs already use the cores.
    pub jobs: usize,
    /// Create each report's directory when it is missing (a dataset's partitions); one
    /// that a failed conversion leaves empty is removed again.
    pub create_dirs: bool,
}

/// Each capture's result, in input order.
pub type Results = Vec<Result<Converted, Error>>;

impl Batch {
    pub fn new(conversions: Vec<Conversion>) -> Batch {
        Batch {
            conversions,
            jobs: 0,
            create_dirs: false,
        }
    }

    /// How many conversions run at once: `jobs` (or the number of cores), at most one per
    /// conversion, at least one.
    pub fn jobs_running(&self) -> usize {
        let jobs = match self.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        jobs.min(self.conversions.len()).max(1)
    }

    /// The check made before anything runs: no two reports, of one conversion or of
    /// two, are the same file ([`BatchError::DuplicateOutput`]).
    pub fn check(&self) -> Result<(), BatchError> {
        let mut seen: HashMap<PathBuf, &Conversion> = HashMap::new();
        for conversion in &self.conversions {
            for target in &conversion.targets {
                let key = identity(&target.output);
                if let Some(first) = seen.get(&key) {
                    return Err(BatchError::DuplicateOutput {
                        output: target.output.clone(),
                        first: first.capture.clone(),
                        second: conversion.capture.clone(),
                    });
                }
                seen.insert(key, conversion);
            }
        }
        Ok(())
    }

    /// Checks, then runs every conversion, [`Batch::jobs_running`] at a time, reporting
    /// each to `progress(index)` (called on the job's thread) and, once it has finished,
    /// to `on_finish(index, &result)` on the calling thread, in the order they finish.
    /// Returns every result in input order; fails as a whole only when the check fails or
    /// the threads cannot be started.
    pub fn run(
        &self,
        progress: &(dyn Fn(usize) -> Box<dyn Progress> + Sync),
        mut on_finish: impl FnMut(usize, &Result<Converted, Error>),
    ) -> Result<Results, BatchError> {
        self.check()?;
        let jobs = self.jobs_running();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .thread_name(|i| format!("memform-job-{i}"))
            .build()
            .map_err(|e| BatchError::Jobs {
                jobs,
                message: e.to_string(),
            })?;
        let mut results: Vec<Option<Result<Converted, Error>>> =
            (0..self.conversions.len()).map(|_| None).collect();
        let (sender, receiver) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                pool.scope_fifo(|jobs_scope| {
                    for (index, conversion) in self.conversions.iter().enumerate() {
                        let sender = sender.clone();
                        jobs_scope.spawn_fifo(move |_| {
                            let result = self.convert(conversion, jobs, progress(index));
                            // The receiver outlives the pool: this cannot fail.
                            let _ = sender.send((index, result));
                        });
                    }
                });
                drop(sender);
            });
            for (index, result) in receiver {
                on_finish(index, &result);
                results[index] = Some(result);
            }
        });
        Ok(results.into_iter().flatten().collect())
    }

    fn convert(
        &self,
        conversion: &Conversion,
        jobs: usize,
        mut progress: Box<dyn Progress>,
    ) -> Result<Converted, Error> {
        let mut conversion = conversion.clone();
        if jobs > 1 && conversion.threads == 0 {
            conversion.threads = 1;
        }
        let mut made = Vec::new();
        if self.create_dirs {
            conversion.check()?;
            for target in &conversion.targets {
                match make_parent(&target.output) {
                    Ok(dir) => made.extend(dir),
                    Err(e) => {
                        remove_empty(&made);
                        return Err(e);
                    }
                }
            }
        }
        let result = conversion.run(progress.as_mut());
        if !result.as_ref().is_ok_and(Converted::is_complete) {
            remove_empty(&made);
        }
        result
    }
}

/// Removes those of `dirs` that are empty: nothing else of anyone's is removed.
fn remove_empty(dirs: &[PathBuf]) {
    for dir in dirs {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Creates the directory of `output` if it is missing; returns it when it was created.
fn make_parent(output: &Path) -> Result<Option<PathBuf>, Error> {
    let dir = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => dir,
        _ => return Ok(None),
    };
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(Some(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(None),
        Err(source) => Err(Error::Write {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// A key that two spellings of one output file share: the canonical form of its directory
/// (symbolic links, `.` and `..` resolved) when the directory exists, else the path made
/// absolute, with its file name.
fn identity(output: &Path) -> PathBuf {
    let absolute = std::path::absolute(output).unwrap_or_else(|_| output.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => match std::fs::canonicalize(dir) {
            Ok(dir) => dir.join(name),
            Err(_) => absolute.components().collect(),
        },
        _ => absolute.components().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::output_names::default_output_path;

    fn conversions(captures: &[&str], format: Format) -> Vec<Conversion> {
        captures
            .iter()
            .map(|c| Conversion::new(Path::new(c), format))
            .collect()
    }

    #[test]
    fn two_conversions_writing_one_file_are_refused() {
        let batch = Batch::new(conversions(&["a/run.bin", "b/run.bin"], Format::Csv));
        assert!(batch.check().is_ok());
        let mut batch = Batch::new(conversions(&["run.bin", "./run.bin"], Format::Csv));
        assert_eq!(
            batch.check().unwrap_err().to_string(),
            "run.bin and ./run.bin would both write ./memray-csv-run.csv"
        );
        batch.conversions[1].targets[0].output = PathBuf::from("other.csv");
        assert!(batch.check().is_ok());
        batch.conversions[1].targets[0].output = PathBuf::from("x/../memray-csv-run.csv");
        assert!(batch.check().is_ok(), "x does not exist: not the same file");
        batch.conversions[1].targets[0].output = PathBuf::from("src/../memray-csv-run.csv");
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        if std::env::current_dir().is_ok_and(|d| d == here) {
            assert!(batch.check().is_err(), "src/.. is .");
        }
    }

    #[test]
    fn jobs_running() {
        let mut batch = Batch::new(conversions(&["a", "b", "c"], Format::Csv));
        batch.jobs = 2;
        assert_eq!(batch.jobs_running(), 2);
        batch.jobs = 8;
        assert_eq!(batch.jobs_running(), 3);
        batch.conversions.clear();
        assert_eq!(batch.jobs_running(), 1);
    }

    #[test]
    fn failures_do_not_stop_the_others_and_results_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let captures: Vec<PathBuf> = (0..5)
            .map(|i| dir.path().join(format!("c{i}.bin")))
            .collect();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captures/v1.20.0-py3.11-default.bin");
        for (i, c) in captures.iter().enumerate() {
            if i != 3 {
                std::fs::copy(&fixture, c).unwrap();
            }
        }
        let mut batch = Batch::new(
            captures
                .iter()
                .map(|c| Conversion::new(c, Format::Csv))
                .collect(),
        );
        batch.jobs = 2;
        let mut finished = Vec::new();
        let results = batch
            .run(&|_| Box::new(crate::progress::Silent), |i, r| {
                finished.push((i, r.is_ok()))
            })
            .unwrap();
        assert_eq!(results.len(), 5);
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(c) => assert_eq!(
                    c.written().collect::<Vec<_>>(),
                    [default_output_path(&captures[i], Format::Csv)]
                ),
                Err(e) => {
                    assert_eq!(i, 3);
                    assert!(matches!(e, Error::CaptureNotFound(_)));
                }
            }
        }
        finished.sort_unstable();
        assert_eq!(
            finished,
            vec![(0, true), (1, true), (2, true), (3, false), (4, true)]
        );
    }
}
