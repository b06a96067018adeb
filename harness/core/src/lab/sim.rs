//! The simulation as a lab: faults go into the simulated cluster, observation runs the event
//! loop, and the lab's clock is the simulation's. A limit the simulation or the record reaches
//! is a lab error naming it ([`Error::Limit`]): the drill stops, heals and reports it unknown.

use std::time::Duration;

use provisioner::model::NodeId;

use super::{Error, Lab, Substrate};
use crate::record::Record;
use crate::scenario::{FaultKind, Target};
use crate::sim::{self, Sim};
use provisioner::model::Probes;

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

    /// The simulation, to run on after a drill (what the cluster does after the heal).
    pub fn into_sim(self) -> Sim {
        self.sim
    }
}

impl Lab for SimLab {
    fn substrate(&self) -> Substrate {
        Substrate::Sim
    }
    fn supports(&self, kind: &FaultKind) -> Result<(), String> {
        self.sim.supports(kind)
    }
    fn set_probes(&mut self, probes: &Probes) -> Result<(), Error> {
        self.sim.set_probes(probes.clone());
        Ok(())
    }
    fn node_names(&self) -> Vec<String> {
        self.sim
            .model()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }
    fn now(&self) -> Duration {
        self.sim.now() - self.origin
    }
    fn resolve(&mut self, target: &Target) -> Result<Option<NodeId>, Error> {
        let m = self.sim.model();
        Ok(match target {
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
        })
    }
    fn inject(&mut self, kind: &FaultKind, node: NodeId) -> Result<(), Error> {
        self.sim.inject(kind, node).map_err(limit)
    }
    fn observe(&mut self, span: Duration, rec: &mut Record) -> Result<(), Error> {
        self.sim.set_probing(true);
        let until = self.sim.now() + span;
        self.run_into(until, rec, Duration::MAX)?;
        rec.end = rec.end.max(until - self.origin);
        Ok(())
    }
    /// No new probes; those still in flight or retransmitting are settled (within their
    /// timeout) and those sent by the drill's end are recorded, as a real lab's are. Then the
    /// simulation runs on, the client still probing (off the record), until every
    /// component's bound since the drill's last heal has passed: its liveness is checked
    /// after every drill, not only in `sim explore`. A property of the simulation that does
    /// not hold (safety or liveness) is this lab's error, naming it.
    fn finish(&mut self, rec: &mut Record) -> Result<(), Error> {
        self.sim.set_probing(false);
        let m = self.sim.model();
        let until = self.sim.now() + m.probes.timeout + m.machine.syn_rto;
        let end = rec.end;
        self.run_into(until, rec, end)?;
        if let Some(due) = self.sim.liveness_due() {
            self.sim.set_probing(true);
            let ran = self
                .sim
                .run_until(due.max(self.sim.now()), &mut Record::default());
            self.sim.set_probing(false);
            ran.map_err(limit)?;
        }
        match self.sim.violations() {
            [] => Ok(()),
            [first, rest @ ..] => Err(Error::Lab(format!(
                "the simulation broke its own checks ({} in all), first: {first}",
                rest.len() + 1
            ))),
        }
    }
}

impl SimLab {
    /// Runs the simulation until `until`, appending to `rec`, on the drill's clock, the
    /// samples sent by `last`.
    fn run_into(&mut self, until: Duration, rec: &mut Record, last: Duration) -> Result<(), Error> {
        let mut shifted = Record::default();
        let ran = self.sim.run_until(until, &mut shifted).map_err(limit);
        for (service, samples) in shifted.samples {
            for mut s in samples {
                s.at -= self.origin;
                if s.at <= last {
                    rec.try_push(service, s)?;
                }
            }
        }
        ran
    }
}

/// A limit the simulation reached, as a lab error.
fn limit(e: sim::Error) -> Error {
    match e {
        sim::Error::Limit { name, max, at } => Error::Limit {
            name,
            max,
            what: format!("the simulation at {:.3} s", at.as_secs_f64()),
        },
    }
}
