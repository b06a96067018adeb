//! Labs: where a drill runs. One [`Lab`] trait; the simulation ([`sim::SimLab`]) is here, the
//! real labs (libvirt VMs) are in the `harness` crate's `lab` module, beside this trait. Each lab resolves roles to nodes, injects
//! faults (and their undos), and probes as a client through the VIP into the record.
//!
//! A lab's capabilities are asked for every step before a drill starts (`supports`); a lab
//! error mid-drill is returned, the drill heals what it did and reports the outcome, and every
//! service, unknown. A limit reached at run time is such an error ([`Error::Limit`]).

use std::time::Duration;

use provisioner::model::NodeId;

use crate::record::Record;
use crate::scenario::{FaultKind, Target};
use provisioner::model::Probes;

pub mod sim;

/// Where a lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Substrate {
    /// The deterministic simulation.
    Sim,
    /// libvirt VMs.
    Libvirt,
    /// Containers (dockerd).
    Containers,
    /// A cluster hadrill did not make, read from its inventory.
    Existing,
}

impl Substrate {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Substrate::Sim => "sim",
            Substrate::Libvirt => "libvirt",
            Substrate::Containers => "containers",
            Substrate::Existing => "existing",
        }
    }
}

/// A lab failed to do what a step asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target names no node of this lab.
    #[error("step {step}: no node `{name}` in this lab")]
    UnknownNode {
        /// 0-based step index.
        step: usize,
        /// The name.
        name: String,
    },
    /// A role could not be resolved (nobody holds the VIP, no etcd leader).
    #[error("step {step}: no node is {role} now")]
    Unresolved {
        /// 0-based step index.
        step: usize,
        /// The role.
        role: String,
    },
    /// The lab cannot do this fault.
    #[error("step {step}: this lab cannot {fault}: {why}")]
    Unsupported {
        /// 0-based step index.
        step: usize,
        /// The fault.
        fault: String,
        /// Why not, in words a user can act on.
        why: String,
    },
    /// The lab's machinery failed (libvirt, SSH, a command).
    #[error("{0}")]
    Lab(String),
    /// A limit of hadrill was reached (the simulation's queue, the faults in force, the
    /// samples of a record): the drill stops there.
    #[error("{what}: limit {name} ({max}) reached")]
    Limit {
        /// The limit's name (`ACTIVE_MAX`).
        name: &'static str,
        /// Its value.
        max: u64,
        /// What reached it (`step 70`, `the simulation at 12.000 s`).
        what: String,
    },
    /// The user interrupted the drill (Ctrl-C); its faults were healed.
    #[error("interrupted")]
    Interrupted,
}

impl From<crate::record::Full> for Error {
    /// A record that holds [`crate::record::SAMPLES_MAX`] samples of a service already.
    fn from(full: crate::record::Full) -> Error {
        Error::Limit {
            name: "SAMPLES_MAX",
            max: crate::record::SAMPLES_MAX as u64,
            what: format!("samples of {}", full.service),
        }
    }
}

/// One kind of lab: the simulation, VMs, containers, an existing cluster.
pub trait Lab {
    /// What kind of lab.
    fn substrate(&self) -> Substrate;
    /// Whether the lab can carry out this fault (asked for every step before the drill); Err
    /// says why not.
    fn supports(&self, kind: &FaultKind) -> Result<(), String>;
    /// Probes as the scenario asks (`probe:`), from its first observation on; called once
    /// per drill, before any step.
    fn set_probes(&mut self, probes: &Probes) -> Result<(), Error>;
    /// Node names in order.
    fn node_names(&self) -> Vec<String>;
    /// Time since the drill started, on this lab's clock.
    fn now(&self) -> Duration;
    /// The node a role stands for now (None: nobody is, e.g. no VIP holder).
    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error>;
    /// Applies a fault (or an undo) to a node.
    fn inject(&mut self, kind: &FaultKind, node: NodeId) -> Result<(), Error>;
    /// Probes for `span`, appending samples to the record.
    fn observe(&mut self, span: Duration, rec: &mut Record) -> Result<(), Error>;
    /// The drill is over: stop probing and hand over what is still buffered.
    fn finish(&mut self, rec: &mut Record) -> Result<(), Error> {
        let _ = rec;
        Ok(())
    }
    /// Right after `undo` (an undo kind) on `node`: what it should have removed, looked for
    /// at once (a heal's qdisc and nftables rules, a release's track file, a start's restart
    /// drop-in). A lab with nothing to look at says nothing.
    fn check_undone(&mut self, undo: &FaultKind, node: NodeId) -> Vec<crate::report::PostCheck> {
        let _ = (undo, node);
        Vec::new()
    }
}
