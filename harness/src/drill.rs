//! The step loop every lab shares, the `Lab` trait, and the ledger of active faults.
//!
//! A role target is resolved to a node when its step runs; a later step that names the same
//! role to undo it acts on that same node (the ledger remembers the binding). Every fault is
//! written to the ledger before the lab acts, and whatever is still active when the steps end
//! (or a step fails) is undone before the drill returns.

use std::time::Duration;

use provisioner::model::NodeId;

use crate::record::{MarkKind, Record};
use crate::report::ScenarioReport;
use crate::scenario::{FaultKind, FaultSpec, Scenario, Step, Target};
use crate::sim::Sim;
use crate::verdict::{self, Outcome};

/// Where a lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Substrate {
    /// The deterministic simulation.
    Sim,
    /// libvirt VMs.
    Libvirt,
}

impl Substrate {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Substrate::Sim => "sim",
            Substrate::Libvirt => "libvirt",
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
    #[error("step {step}: this lab cannot {fault}")]
    Unsupported {
        /// 0-based step index.
        step: usize,
        /// The fault.
        fault: String,
    },
}

/// One kind of lab: the simulation, VMs, containers, an existing cluster.
pub trait Lab {
    /// What kind of lab.
    fn substrate(&self) -> Substrate;
    /// Whether the lab can carry out this fault (asked for every step before the drill).
    fn supports(&self, kind: &FaultKind) -> bool;
    /// Node names in order.
    fn node_names(&self) -> Vec<String>;
    /// The node a role stands for now.
    fn resolve(&mut self, target: &Target) -> Option<NodeId>;
    /// Applies a fault to a node.
    fn inject(&mut self, kind: &FaultKind, node: NodeId);
    /// Probes for `span`, appending samples to the record.
    fn observe(&mut self, span: Duration, rec: &mut Record);
}

/// The simulation as a lab.
pub struct SimLab {
    sim: Sim,
    origin: Duration,
}

impl SimLab {
    /// A lab over a fresh simulation.
    pub fn new(sim: Sim) -> SimLab {
        SimLab {
            origin: sim.now(),
            sim,
        }
    }

    /// The simulation (for invariant checks).
    pub fn sim(&self) -> &Sim {
        &self.sim
    }
}

impl Lab for SimLab {
    fn substrate(&self) -> Substrate {
        Substrate::Sim
    }
    fn supports(&self, kind: &FaultKind) -> bool {
        self.sim.supports(kind)
    }
    fn node_names(&self) -> Vec<String> {
        self.sim
            .model()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }
    fn resolve(&mut self, target: &Target) -> Option<NodeId> {
        let m = self.sim.model();
        match target {
            Target::Node(name) => m.node_by_name(name),
            Target::VipHolder => self.sim.vip_holder(),
            Target::EtcdLeader => self.sim.etcd_leader(),
            Target::ZeroMaster => m.zero_master(),
            Target::Any => Some(self.sim.pick()),
            Target::Other => {
                let (v, l) = (self.sim.vip_holder(), self.sim.etcd_leader());
                let ids: Vec<NodeId> = m.node_ids().collect();
                ids.iter()
                    .copied()
                    .find(|&i| Some(i) != v && Some(i) != l)
                    .or_else(|| ids.into_iter().find(|&i| Some(i) != v))
            }
            Target::All => None,
        }
    }
    fn inject(&mut self, kind: &FaultKind, node: NodeId) {
        self.sim.inject(kind, node);
    }
    fn observe(&mut self, span: Duration, rec: &mut Record) {
        self.sim.set_probing(true);
        let until = self.sim.now() + span;
        let mut shifted = Record::default();
        self.sim.run_until(until, &mut shifted);
        for (service, samples) in shifted.samples {
            for mut s in samples {
                s.at -= self.origin;
                rec.push(service, s);
            }
        }
        rec.end = rec.end.max(until - self.origin);
    }
}

/// A fault in force: what was done, to which node, through which target.
#[derive(Clone, Debug)]
pub struct Active {
    /// The fault.
    pub kind: FaultKind,
    /// The node it was applied to.
    pub node: NodeId,
    /// The target the step named (a role keeps its binding for the undo).
    pub target: Target,
}

/// The faults in force, in the order they were applied.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Active faults.
    pub active: Vec<Active>,
}

/// Most faults a drill may hold active at once.
pub const ACTIVE_MAX: usize = 64;

impl Ledger {
    /// The inverse of every active fault, newest first: what heals the lab.
    pub fn undo_all(&self) -> Vec<(FaultKind, NodeId)> {
        self.active
            .iter()
            .rev()
            .filter_map(|a| inverse(&a.kind).map(|k| (k, a.node)))
            .collect()
    }
}

/// What undoes a fault; None when it heals by itself (reboot) or is itself an undo.
pub fn inverse(kind: &FaultKind) -> Option<FaultKind> {
    use FaultKind as K;
    match kind {
        K::PowerOff | K::Shutdown => Some(K::PowerOn),
        K::Isolate | K::Netem { .. } => Some(K::Heal),
        K::LinkDown => Some(K::LinkUp),
        K::StopService(d) => Some(K::StartService(*d)),
        K::Drain => Some(K::Uncordon),
        K::SlowDisk(_) | K::FailDisk => Some(K::RestoreDisk),
        _ => None,
    }
}

/// Checks, before anything runs, that the lab can do every step and knows every node name.
pub fn preflight(lab: &dyn Lab, scenario: &Scenario) -> Result<(), Error> {
    let names = lab.node_names();
    for (step, s) in scenario.steps.iter().enumerate() {
        let Step::Fault(f) = s else { continue };
        if !lab.supports(&f.kind) {
            return Err(Error::Unsupported {
                step,
                fault: f.to_string(),
            });
        }
        if let Target::Node(name) = &f.target {
            if !names.contains(name) {
                return Err(Error::UnknownNode {
                    step,
                    name: name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Runs one scenario on a lab and judges it.
pub fn run(lab: &mut dyn Lab, scenario: &Scenario) -> ScenarioReport {
    let mut rec = Record::default();
    let mut ledger = Ledger::default();
    let mut now = Duration::ZERO;
    let result = steps(lab, scenario, &mut rec, &mut ledger, &mut now);
    // Heal whatever is still in force, on every exit path.
    let names = lab.node_names();
    for (kind, node) in ledger.undo_all() {
        rec.mark(
            now,
            MarkKind::Undo,
            format!("{} {} (cleanup)", kind.key(), names[node.index()]),
        );
        lab.inject(&kind, node);
    }
    let services = verdict::judge(&rec, &scenario.expect);
    let outcome = match &result {
        Ok(()) => services
            .values()
            .map(|s| s.outcome)
            .max()
            .unwrap_or(Outcome::Passed),
        Err(_) => Outcome::Unknown,
    };
    ScenarioReport {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        outcome,
        services,
        record: rec,
        error: result.err().map(|e| e.to_string()),
    }
}

fn steps(
    lab: &mut dyn Lab,
    scenario: &Scenario,
    rec: &mut Record,
    ledger: &mut Ledger,
    now: &mut Duration,
) -> Result<(), Error> {
    preflight(lab, scenario)?;
    let names = lab.node_names();
    for (step, s) in scenario.steps.iter().enumerate() {
        match s {
            Step::Settle(d) | Step::Observe(d) => {
                lab.observe(*d, rec);
                *now += *d;
            }
            Step::Fault(f) => {
                for node in bind(lab, ledger, f, step)? {
                    let label = match &f.target {
                        Target::Node(_) => f
                            .to_string()
                            .replace(&f.target.to_string(), &names[node.index()]),
                        t => format!(
                            "{} ({t})",
                            f.to_string().replace(&t.to_string(), &names[node.index()])
                        ),
                    };
                    let kind = if f.kind.is_undo() {
                        MarkKind::Undo
                    } else {
                        MarkKind::Fault
                    };
                    rec.mark(*now, kind, label);
                    apply(ledger, f, node);
                    lab.inject(&f.kind, node);
                }
            }
        }
    }
    Ok(())
}

/// Resolves a step's target to nodes: an undo reuses the node its fault was bound to.
fn bind(
    lab: &mut dyn Lab,
    ledger: &Ledger,
    f: &FaultSpec,
    step: usize,
) -> Result<Vec<NodeId>, Error> {
    if f.target == Target::All {
        let n = lab.node_names().len();
        return Ok((0..n)
            .map(|i| NodeId(u8::try_from(i).expect("few nodes")))
            .collect());
    }
    if f.target.is_role() && f.kind.is_undo() {
        if let Some(a) = ledger
            .active
            .iter()
            .rev()
            .find(|a| a.target == f.target && f.kind.undoes(&a.kind))
        {
            return Ok(vec![a.node]);
        }
    }
    lab.resolve(&f.target)
        .map(|n| vec![n])
        .ok_or_else(|| Error::Unresolved {
            step,
            role: f.target.to_string(),
        })
}

fn apply(ledger: &mut Ledger, f: &FaultSpec, node: NodeId) {
    if f.kind.is_undo() {
        ledger
            .active
            .retain(|a| !(a.node == node && f.kind.undoes(&a.kind)));
    } else if inverse(&f.kind).is_some() {
        assert!(
            ledger.active.len() < ACTIVE_MAX,
            "more than ACTIVE_MAX active faults"
        );
        ledger.active.push(Active {
            kind: f.kind.clone(),
            node,
            target: f.target.clone(),
        });
    }
}
