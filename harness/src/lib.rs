//! hadrill's harness: the real labs, probes and the `hadrill` CLI, around the IO-free core.
//!
//! A tour: what a drill is and what it means lives in `hadrill_core` and is re-exported here
//! under the same names: a [`scenario::Scenario`] is parsed from YAML; [`drill`] runs its steps
//! on a lab (the deterministic [`sim`], or real VMs from [`lab::libvirt`]), probes write
//! [`record::Sample`]s into a [`record::Record`], [`verdict::judge`] turns the record into
//! verdicts, and [`report`] writes them out. This crate adds what needs the network, VMs or an
//! async runtime: [`lab::libvirt`], [`probe`], [`validate`], [`image`], [`provision`], [`cli`].
//!
//! **Boundary:** the core cannot import tokio, russh, virt or kube: it does not depend on them
//! (`tests/tests/tidy.rs` reads its dependency graph).

pub use hadrill_core::{
    compare, disk, drill, explore, fault, matrix, record, report, scenario, shard, sim, verdict,
};

pub mod bench;
pub mod cli;
pub mod image;
pub mod lab;
pub mod probe;
pub mod progress;
pub mod provision;
pub mod validate;
pub mod wall;

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
