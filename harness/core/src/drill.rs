//! The step loop every lab shares, and the ledger of active faults.
//!
//! A role target is resolved to a node when its step runs; a later step that names the same
//! role to undo it acts on that same node (the ledger remembers the binding). Every fault is
//! written to the ledger before the lab acts (and, for real labs, to the ledger's file, so a
//! crashed drill can still be healed), and whatever is still active when the steps end, a step
//! fails, or the user interrupts is undone before the drill returns. A drill whose steps
//! failed judges nothing: every service is unknown. The ledger holds at most [`ACTIVE_MAX`]
//! faults; `scenario` refuses a scenario that could pass it, and one made in code that does
//! is stopped with an error naming it.

use provisioner::model::NodeId;

use crate::lab::{Error, Lab};
use crate::record::{MarkKind, Record};
use crate::report::{PostCheck, ScenarioReport};
use crate::scenario::{FaultKind, FaultSpec, Scenario, Step, Target};
use crate::verdict::{self, Outcome};

pub use crate::lab::sim::SimLab;

/// A fault in force: what was done, to which node, through which target.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
    /// Where the ledger is kept between steps (real labs): written before the lab acts.
    pub file: Option<std::path::PathBuf>,
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

    /// Writes the ledger to its file, if it has one (atomically: a crash leaves the old or
    /// the new ledger, never half of one).
    fn save(&self) -> Result<(), Error> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(&self.active).expect("faults serialize");
        let tmp = path.with_extension("json.new");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                Error::Lab(format!(
                    "{}: cannot write the fault ledger: {e}",
                    path.display()
                ))
            })
    }

    /// Reads a ledger file left by a drill (empty when there is none).
    pub fn load(path: &std::path::Path) -> Result<Vec<Active>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// What undoes a fault ([`FaultKind::inverse`]); None when it heals by itself (reboot) or is
/// itself an undo.
pub fn inverse(kind: &FaultKind) -> Option<FaultKind> {
    kind.inverse()
}

/// Checks, before anything runs, that the lab can do every step and knows every node name.
pub fn preflight(lab: &dyn Lab, scenario: &Scenario) -> Result<(), Error> {
    let names = lab.node_names();
    for (step, s) in scenario.steps.iter().enumerate() {
        let Step::Fault(f) = s else { continue };
        if let Err(why) = lab.supports(&f.kind) {
            return Err(Error::Unsupported {
                step,
                fault: f.to_string(),
                why,
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

/// The end of an undo mark's label when the drill's clean-up ran it (what was still in force
/// when the steps ended, failed or were interrupted).
pub const CLEANUP: &str = "(cleanup)";

/// Runs one scenario on a lab and judges it. Whatever the steps leave in force (because they
/// ended, failed, or were interrupted) is undone before it returns. A drill that could not
/// finish judges nothing: it and each of its services are unknown, saying why.
pub fn run(
    lab: &mut dyn Lab,
    scenario: &Scenario,
    ledger_file: Option<&std::path::Path>,
) -> ScenarioReport {
    let mut rec = Record::default();
    let mut ledger = Ledger {
        active: Vec::new(),
        file: ledger_file.map(std::path::Path::to_path_buf),
    };
    // A panic in a step (a lab's or hadrill's bug) must not leave faults in force: it is
    // caught here, healed below like any other error, and reported as one.
    let mut checks = Vec::new();
    let mut result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        steps(lab, scenario, &mut rec, &mut ledger, &mut checks)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Error::Lab(format!(
            "hadrill panicked during the steps: {}",
            provisioner::text::one_line(&what)
        )))
    });
    let names = lab.node_names();
    for (kind, node) in ledger.undo_all() {
        let label = format!("{} {} {CLEANUP}", kind.key(), names[node.index()]);
        rec.mark(lab.now(), MarkKind::Undo, label);
        let undone = lab.inject(&kind, node);
        if let Err(e) = undone {
            // Keep the first error; the ledger file still names what could not be undone.
            result = result.and(Err(e));
            continue;
        }
        check_undone(lab, &kind, node, &mut checks);
        ledger
            .active
            .retain(|a| !(a.node == node && kind.undoes(&a.kind)));
        result = result.and(ledger.save());
    }
    result = result.and(lab.finish(&mut rec));
    let mut services = verdict::judge(&rec, &scenario.expect);
    let not_judged = (result.is_ok() && scenario.expect.is_empty())
        .then(|| "the scenario names no expectation (`expect:`), so nothing was judged".to_owned());
    let left = checks.iter().any(|c| !c.ok);
    let outcome = match &result {
        // Something an undo should have removed is still there: not passed, whatever was
        // measured.
        Ok(()) if left => Outcome::Failed,
        Ok(()) if not_judged.is_some() => Outcome::Unknown,
        Ok(()) => services
            .values()
            .map(|s| s.outcome)
            .max()
            .unwrap_or(Outcome::Passed),
        Err(e) => {
            // A record cut short says nothing about the expectations: no service passed.
            for s in services.values_mut() {
                s.outcome = Outcome::Unknown;
                s.why = format!("not judged: the drill could not finish ({e})");
            }
            Outcome::Unknown
        }
    };
    ScenarioReport {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        outcome,
        services,
        record: rec,
        error: result.err().map(|e| e.to_string()),
        not_judged,
        probe: scenario.probe.clone(),
        post_checks: checks,
    }
}

/// The lab's checks right after an undo, each saying which undo it followed.
fn check_undone(lab: &mut dyn Lab, undo: &FaultKind, node: NodeId, checks: &mut Vec<PostCheck>) {
    for mut c in lab.check_undone(undo, node) {
        c.check = format!("{}, after {}", c.check, undo.key());
        checks.push(c);
    }
}

fn steps(
    lab: &mut dyn Lab,
    scenario: &Scenario,
    rec: &mut Record,
    ledger: &mut Ledger,
    checks: &mut Vec<PostCheck>,
) -> Result<(), Error> {
    preflight(lab, scenario)?;
    lab.set_probes(&scenario.probe)?;
    let names = lab.node_names();
    for (step, s) in scenario.steps.iter().enumerate() {
        match s {
            Step::Settle(d) | Step::Observe(d) => lab.observe(*d, rec)?,
            Step::Fault(f) => {
                for node in bind(lab, ledger, f, step)? {
                    let name = &names[node.index()];
                    let label = match &f.target {
                        Target::Node(_) => f.to_string().replace(&f.target.to_string(), name),
                        t => format!("{} ({t})", f.to_string().replace(&t.to_string(), name)),
                    };
                    let kind = if f.kind.is_undo() {
                        MarkKind::Undo
                    } else {
                        MarkKind::Fault
                    };
                    rec.mark(lab.now(), kind, label);
                    if f.kind.is_undo() {
                        // Forgotten only once undone: a failed undo stays in the ledger.
                        lab.inject(&f.kind, node)?;
                        apply(ledger, f, node, step)?;
                        ledger.save()?;
                        check_undone(lab, &f.kind, node, checks);
                    } else {
                        // Written before the lab acts: a crash in between leaves a fault the
                        // ledger names, never one it does not.
                        apply(ledger, f, node, step)?;
                        ledger.save()?;
                        lab.inject(&f.kind, node)?;
                    }
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
    lab.resolve(&f.target)?
        .map(|n| vec![n])
        .ok_or_else(|| Error::Unresolved {
            step,
            role: f.target.to_string(),
        })
}

/// Writes step `step`'s fault on `node` into the ledger (or forgets what its undo undid); a
/// fault past [`ACTIVE_MAX`] is refused. Scenarios are checked for that when they are read
/// (`scenario::check`); a scenario made in code can still reach it.
fn apply(ledger: &mut Ledger, f: &FaultSpec, node: NodeId, step: usize) -> Result<(), Error> {
    if f.kind.is_undo() {
        ledger
            .active
            .retain(|a| !(a.node == node && f.kind.undoes(&a.kind)));
    } else if inverse(&f.kind).is_some() {
        if ledger.active.len() >= ACTIVE_MAX {
            return Err(Error::Limit {
                name: "ACTIVE_MAX",
                max: ACTIVE_MAX as u64,
                what: format!("step {step}: faults in force"),
            });
        }
        ledger.active.push(Active {
            kind: f.kind.clone(),
            node,
            target: f.target.clone(),
        });
    }
    Ok(())
}
