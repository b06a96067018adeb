//! hadrill's harness: labs, faults, probes, the record, verdicts and reports.
//!
//! A tour: a [`scenario::Scenario`] is parsed from YAML; [`drill`] runs its steps on a lab
//! (the deterministic [`sim`], or real VMs), probes write [`record::Sample`]s into a
//! [`record::Record`], [`verdict::judge`] turns the record into verdicts, and [`report`] writes
//! them out.
//!
//! **Boundary:** the IO-free layers (`scenario`, `sim`, `verdict`, `report`, `record`) import no
//! tokio, russh, virt or testcontainers; `tests/tidy.rs` checks.

pub mod cli;
pub mod compare;
pub mod disk;
pub mod drill;
pub mod explore;
pub mod fault;
pub mod image;
pub mod lab;
pub mod matrix;
pub mod probe;
pub mod progress;
pub mod provision;
pub mod record;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod validate;
pub mod verdict;

/// hadrill's state folder: `$HADRILL_HOME`, else `~/.local/share/hadrill` (labs, host-key pins).
pub fn home() -> std::path::PathBuf {
    std::env::var_os("HADRILL_HOME").map_or_else(
        || {
            std::env::var_os("HOME")
                .map_or_else(
                    || std::path::PathBuf::from("/root"),
                    std::path::PathBuf::from,
                )
                .join(".local/share/hadrill")
        },
        std::path::PathBuf::from,
    )
}
