//! Progress reporting: a bar on stderr when it is a terminal, nothing otherwise. One capture
//! has its [`Bar`]; a batch has one [`SharedBar`] over all its captures, which each job
//! advances through its own [`JobBar`].

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str = "{msg:<28} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})";

fn style() -> ProgressStyle {
    ProgressStyle::with_template(TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Receives progress of a long phase, measured in bytes of the capture file, and may ask
/// the work to stop.
pub trait Progress {
    fn phase(&mut self, name: &'static str, total: u64);
    fn update(&mut self, position: u64);
    fn finish(&mut self);
    /// Whether the work should stop now (asked after each [`Progress::update`]): decoding
    /// then ends with [`crate::error::ReadError::Stopped`]. The Python module stops on Ctrl-C.
    fn stopped(&self) -> bool {
        false
    }
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn phase(&mut self, _: &'static str, _: u64) {}
    fn update(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// An indicatif bar on stderr.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar when stderr is a terminal and `quiet` is off.
    pub fn for_stderr(quiet: bool) -> Box<dyn Progress> {
        if quiet || !std::io::stderr().is_terminal() {
            Box::new(Silent)
        } else {
            Box::new(Bar { bar: None })
        }
    }
}

impl Progress for Bar {
    fn phase(&mut self, name: &'static str, total: u64) {
        self.finish();
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(style());
        bar.set_message(name);
        self.bar = Some(bar);
    }

    fn update(&mut self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// One bar over a batch of captures: its length is the sum of their sizes, and each job
/// advances it by its own capture's share through a [`JobBar`]. Cheap to share between
/// threads (the indicatif bar inside is reference-counted and synchronised).
pub struct SharedBar {
    bar: Option<ProgressBar>,
    sizes: Vec<u64>,
}

impl SharedBar {
    /// A bar over captures of `sizes` bytes, on stderr when it is a terminal and `quiet`
    /// is off; otherwise nothing is drawn.
    pub fn for_stderr(quiet: bool, sizes: Vec<u64>) -> SharedBar {
        let shown = !quiet && std::io::stderr().is_terminal();
        SharedBar::new(shown.then(ProgressDrawTarget::stderr), sizes)
    }

    /// A bar drawn to `target` (`None`: no bar at all).
    pub fn new(target: Option<ProgressDrawTarget>, sizes: Vec<u64>) -> SharedBar {
        let bar = target.map(|target| {
            let bar = ProgressBar::with_draw_target(Some(sizes.iter().sum()), target);
            bar.set_style(style());
            bar
        });
        let shared = SharedBar { bar, sizes };
        shared.set_done(0);
        shared
    }

    /// The progress of capture `index`: advances this bar by up to that capture's size,
    /// all of which it has added once dropped.
    pub fn job(&self, index: usize) -> JobBar {
        JobBar {
            bar: self.bar.clone(),
            share: self.sizes.get(index).copied().unwrap_or(0),
            phase_total: 0,
            added: 0,
        }
    }

    /// Says how many captures are done.
    pub fn set_done(&self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{done}/{} captures done", self.sizes.len()));
        }
    }

    /// Runs `f` (which prints lines) with the bar cleared from the terminal, then redraws it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Bytes advanced so far by the jobs.
    pub fn position(&self) -> u64 {
        self.bar.as_ref().map_or(0, ProgressBar::position)
    }

    /// Clears the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One job's view of a [`SharedBar`]: the positions of its phases, in bytes of its capture,
/// scaled to its share of the bar and added as increments. Whatever it has not added by
/// the time it is dropped (the writing of the report, or a conversion that failed) is
/// added then, so the bar is full when every job is done.
pub struct JobBar {
    bar: Option<ProgressBar>,
    /// Bytes of the shared bar that are this job's.
    share: u64,
    phase_total: u64,
    /// Bytes of `share` added to the bar so far.
    added: u64,
}

impl JobBar {
    fn advance_to(&mut self, target: u64) {
        let target = target.min(self.share);
        if target > self.added {
            if let Some(bar) = &self.bar {
                bar.inc(target - self.added);
            }
            self.added = target;
        }
    }
}

impl Progress for JobBar {
    fn phase(&mut self, _: &'static str, total: u64) {
        self.phase_total = total;
    }

    fn update(&mut self, position: u64) {
        let scaled = if self.phase_total == 0 || self.phase_total == self.share {
            position
        } else {
            (u128::from(position) * u128::from(self.share) / u128::from(self.phase_total)) as u64
        };
        self.advance_to(scaled);
    }

    fn finish(&mut self) {}
}

impl Drop for JobBar {
    fn drop(&mut self) {
        self.advance_to(self.share);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_add_up_to_the_shared_bar() {
        let shared = SharedBar::new(Some(ProgressDrawTarget::hidden()), vec![100, 1000, 10]);
        let (mut a, mut b) = (shared.job(0), shared.job(1));
        a.phase("Processing allocation records", 100);
        b.phase("Processing allocation records", 2000); // not the size: scaled
        a.update(40);
        b.update(500);
        assert_eq!(shared.position(), 40 + 250);
        a.update(30); // never backwards
        b.update(5000); // never beyond the share
        assert_eq!(shared.position(), 40 + 1000);
        a.finish();
        drop(a);
        assert_eq!(shared.position(), 1100);
        // A job that failed before its first phase adds its share all the same.
        drop(shared.job(2));
        drop(b);
        assert_eq!(shared.position(), 1110);
        // No bar: nothing to advance, nothing to fail.
        let none = SharedBar::new(None, vec![5]);
        let mut job = none.job(0);
        job.update(3);
        assert_eq!(none.position(), 0);
    }
}
