//! The wall clock, for real labs and their probes only. The simulation has its own clock, and
//! clippy bans `Instant::now` everywhere else so that the reports of one seed stay byte-identical.

/// Now, on the machine's monotonic clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}
