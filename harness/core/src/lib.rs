//! hadrill's IO-free core: what a drill is and what it means, with no network, no VMs and no
//! async runtime. A [`scenario::Scenario`] is parsed from YAML; [`drill`] runs its steps on any
//! [`lab::Lab`] (here the deterministic [`sim`] through [`lab::sim::SimLab`]; the `harness`
//! crate adds real labs); probes write [`record::Sample`]s into a [`record::Record`],
//! [`verdict::judge`] turns it into verdicts and [`report`] writes them out. [`explore`],
//! [`matrix`] and [`compare`] are built from those.
//!
//! **Boundary:** this crate depends on no tokio, russh, virt, kube or testcontainers (its
//! Cargo.toml, and `tests/tests/tidy.rs` reads its dependency graph); the only IO is files.

pub mod bench;
pub mod compare;
pub mod disk;
pub mod drill;
pub mod explore;
pub mod fault;
pub mod lab;
pub mod matrix;
pub mod record;
pub mod report;
pub mod scenario;
pub mod shard;
pub mod sim;
pub mod verdict;
