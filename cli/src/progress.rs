//! A progress bar on the terminal, and only there.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use liveship_core::progress::{NoProgress, Progress};
use std::io::IsTerminal;

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A bar on stderr when both stdout and stderr are terminals and `--json`
/// is off; otherwise nothing, so logs and pipes stay clean.
pub fn for_terminal(json: bool, label: &'static str) -> Box<dyn Progress> {
    if json || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
        return Box::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>9} [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message(label);
    Box::new(Bar(bar))
}
