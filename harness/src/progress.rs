//! Progress display for long work (image build, up, provision): indicatif bars on stderr,
//! hidden when stderr is not a terminal so logs and CI output stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a prefix and a changing message.
pub fn spinner(prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} [{elapsed}]")
            .expect("a valid template"),
    );
    bar.set_prefix(prefix.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar of `len` steps.
pub fn bar(prefix: &str, len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix}: [{bar:30}] {pos}/{len} {wide_msg} [{elapsed}]")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    bar
}
