//! Progress of a long call handed to a Python callable, `progress(phase, done, total)`: the
//! engine's [`Progress`] reports, passed on with the GIL taken back for the call and at
//! most every [`INTERVAL`] (besides each phase's start and end), so that a bar costs the
//! conversion nothing it can measure. The Python half (`memform._progress`) turns
//! `progress=True` into a tqdm bar through such a callable.
//!
//! An exception raised by the callable (a `KeyboardInterrupt` from Ctrl-C arrives there,
//! the one place Python code runs during a conversion) stops the calls; the conversion
//! runs to its end and the exception is raised then ([`CallbackProgress::into_result`]).

use std::time::{Duration, Instant};

use pyo3::prelude::*;

use memform::progress::{Progress, Silent};

/// The shortest time between two calls within a phase.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// Passes the engine's progress on to a Python callable.
pub struct CallbackProgress {
    callback: Py<PyAny>,
    phase: &'static str,
    total: u64,
    /// The position last passed to the callable, and when.
    reported: Option<(u64, Instant)>,
    error: Option<PyErr>,
}

impl CallbackProgress {
    pub fn new(callback: Py<PyAny>) -> Self {
        CallbackProgress {
            callback,
            phase: "",
            total: 0,
            reported: None,
            error: None,
        }
    }

    /// Calls the callable with `position`, unless an earlier call raised.
    fn call(&mut self, position: u64) {
        if self.error.is_some() {
            return;
        }
        let (phase, total) = (self.phase, self.total);
        let called = Python::attach(|py| {
            self.callback
                .call1(py, (phase, position, total))
                .map(|_| ())
        });
        self.reported = Some((position, Instant::now()));
        if let Err(error) = called {
            self.error = Some(error);
        }
    }

    /// The first exception the callable raised, as the error of the call it watched.
    pub fn into_result(self) -> PyResult<()> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Progress for CallbackProgress {
    fn phase(&mut self, name: &'static str, total: u64) {
        self.finish();
        self.phase = name;
        self.total = total;
        self.call(0);
    }

    fn update(&mut self, position: u64) {
        let due = match self.reported {
            Some((last, at)) => position != last && at.elapsed() >= INTERVAL,
            None => true,
        };
        if due {
            self.call(position.min(self.total));
        }
    }

    fn finish(&mut self) {
        // A phase's end is reported once, as its whole length.
        if let Some((last, _)) = self.reported {
            if last != self.total {
                self.call(self.total);
            }
        }
        self.reported = None;
    }
}

/// The progress of one call: the callable's when one was given, none otherwise.
pub enum CallProgress {
    Callback(CallbackProgress),
    Silent(Silent),
}

impl CallProgress {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        match callback {
            Some(callback) => CallProgress::Callback(CallbackProgress::new(callback)),
            None => CallProgress::Silent(Silent),
        }
    }

    pub fn as_dyn(&mut self) -> &mut dyn Progress {
        match self {
            CallProgress::Callback(callback) => callback,
            CallProgress::Silent(silent) => silent,
        }
    }

    /// Ends the last phase, and gives the first exception the callable raised.
    pub fn into_result(self) -> PyResult<()> {
        match self {
            CallProgress::Callback(mut callback) => {
                callback.finish();
                callback.into_result()
            }
            CallProgress::Silent(_) => Ok(()),
        }
    }
}
