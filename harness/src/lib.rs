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
pub mod disk;
pub mod drill;
pub mod explore;
pub mod matrix;
pub mod record;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod verdict;
