//! What a long call does in Python while the engine works with the GIL released: every
//! [`INTERVAL`] (and at each phase's start and end) it takes the GIL back for a moment to
//! look for a signal (Ctrl-C: `KeyboardInterrupt`) and to hand the engine's progress to the
//! Python callable `progress(phase, done, total)` when one was given. The Python half
//! (`memform._progress`) turns `progress=True` into a tqdm bar through such a callable.
//!
//! An exception (from a signal handler or the callable) stops the work: [`Progress::stopped`]
//! turns true, the engine's decoder ends at its next window, and the call raises that
//! exception ([`PyProgress::into_result`]) in place of its result: nothing is written.

use std::time::{Duration, Instant};

use pyo3::prelude::*;

use memform::progress::Progress;

/// The longest time between two looks from Python within a phase.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// The engine's progress, seen from Python.
pub struct PyProgress {
    callback: Option<Py<PyAny>>,
    phase: &'static str,
    total: u64,
    /// The position last handed to Python, and when.
    reported: Option<(u64, Instant)>,
    error: Option<PyErr>,
}

impl PyProgress {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        PyProgress {
            callback,
            phase: "",
            total: 0,
            reported: None,
            error: None,
        }
    }

    /// Takes the GIL: runs the signal handlers, then the callable with `position`; keeps
    /// the first exception either raises.
    fn look(&mut self, position: u64) {
        if self.error.is_some() {
            return;
        }
        let (phase, total) = (self.phase, self.total);
        let callback = &self.callback;
        let looked = Python::attach(|py| {
            py.check_signals()?;
            match callback {
                Some(callback) => callback.call1(py, (phase, position, total)).map(|_| ()),
                None => Ok(()),
            }
        });
        self.reported = Some((position, Instant::now()));
        if let Err(error) = looked {
            self.error = Some(error);
        }
    }

    /// Ends the last phase; the first exception raised during the call, if any.
    pub fn into_result(mut self) -> PyResult<()> {
        self.finish();
        match self.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Progress for PyProgress {
    fn phase(&mut self, name: &'static str, total: u64) {
        self.finish();
        self.phase = name;
        self.total = total;
        self.look(0);
    }

    fn update(&mut self, position: u64) {
        let due = match self.reported {
            Some((last, at)) => position != last && at.elapsed() >= INTERVAL,
            None => true,
        };
        if due {
            self.look(position.min(self.total));
        }
    }

    fn finish(&mut self) {
        // A phase's end is reported once, as its whole length.
        if let Some((last, _)) = self.reported {
            if last != self.total {
                self.look(self.total);
            }
        }
        self.reported = None;
    }

    fn stopped(&self) -> bool {
        self.error.is_some()
    }
}
