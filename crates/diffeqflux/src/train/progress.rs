//! The progress bar: drawn only when asked for and standard error is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress bar that may be absent; every method is a no-op without one.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    last_message: Option<Instant>,
}

const MESSAGE_INTERVAL: Duration = Duration::from_millis(100);

impl Progress {
    /// A bar over `len` iterations at position `pos` if `enabled` and standard error is a
    /// terminal.
    pub(crate) fn new(enabled: bool, pos: usize, len: usize) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_position(pos as u64);
            bar
        });
        Progress {
            bar,
            last_message: None,
        }
    }

    /// Moves to iteration `k`; refreshes the loss message at most every 100 ms.
    pub(crate) fn update(&mut self, k: usize, loss: f64, best: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(k as u64);
            if self
                .last_message
                .is_none_or(|t| t.elapsed() >= MESSAGE_INTERVAL)
            {
                bar.set_message(format!("loss {loss:.4e}  best {best:.4e}"));
                self.last_message = Some(Instant::now());
            }
        }
    }

    /// Prints a warning line above the bar.
    pub(crate) fn warn(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.println(format!("warning: {message}"));
        }
    }

    /// Final message and stop.
    pub(crate) fn finish(&self, k: usize, final_loss: f64, best: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(k as u64);
            bar.finish_with_message(format!("final loss {final_loss:.4e}  best {best:.4e}"));
        }
    }
}
