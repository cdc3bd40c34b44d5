//! Progress reporting: a bar on stderr when it is a terminal, nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives progress of a long phase, measured in bytes of the capture file.
pub trait Progress {
    fn phase(&mut self, name: &'static str, total: u64);
    fn update(&mut self, position: u64);
    fn finish(&mut self);
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
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:<28} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
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
