//! The deterministic simulated cluster: a discrete-event model of the seed's three nodes.
//!
//! One virtual clock, one event queue (`queue`), random streams from one seed (`rng`), and
//! one file per protocol, each with the type that holds its state: `vrrp`
//! (`Keepalived`), `lb` (HAProxy: `Lb`), `etcd` (`Etcd`), `ceph` (`Ceph`), `kube` (`Kube`),
//! `net` (the client's `Neighbour` entry; links, partitions and cuts are per node),
//! `machine` (power, pause, boot, links and cuts, daemons, disk: `Machine`; and the faults
//! that drive them), `client`
//! (the probes: `Client`), `check` (the safety properties, from raw state apart from the
//! request paths: `Checker`) and `live` (liveness after every heal: `Liveness`). [`Sim`]
//! owns one of each and routes each component's own timers to it (`Event::Vrrp(vrrp::Event)`,
//! …). keepalived, HAProxy, etcd, Ceph and Kubernetes own their handlers and their random
//! streams (`Keepalived::on`, `Lb::on`, `Etcd::on`, `Ceph::on`, `Kube::on`): each gets a
//! [`Cx`] (the model, the wire, the queue, the client's neighbour entry) and reads no other
//! component; what it needs of one comes with the event (the check script's answer, from
//! HAProxy; a health check's, from the server's daemon and etcd; a lease renewal's, from the
//! API). Each node's `Machine` owns its power, pause, links, daemons and disk (its methods are
//! their only writers) and `Client` its probes' state, their samples and its own streams;
//! what crosses components stays with `Sim`: a fault (`Sim::inject` changes the machine,
//! then tells each component what it did) and a probe's request (the VIP, HAProxy, etcd,
//! traefik, Ceph's write path: `Sim::probe`).
//! Components follow the real protocols' timing, read from the [`ClusterModel`]: VRRP adverts and the master-down timer
//! with priority skew, HAProxy health checks (refused vs silent), etcd leader election and
//! quorum (with pre-vote off, etcd 3.4's default, an isolated member disrupts on heal, and its
//! log, behind, cannot win: its campaigns only restart the others' timers), kube-apiserver on
//! its local etcd, kubelet heartbeats, node NotReady and eviction, traefik routing to pods, Ceph
//! mon quorum, OSD mark-down by peer reports, and PGs by min_size. Probes act as a client
//! through the VIP: a SYN that found no holder is sent again after the kernel's retransmission
//! timeout, and an answer still on its way when its holder drops the VIP is lost.
//!
//! Each component draws from its own random stream (`rng`), and so does each probe's answer
//! time (what the machines add beyond the model's figures): one more draw in one component
//! never moves another's timings. Every
//! queue and count has a named limit; reaching one stops the simulation with an
//! [`Error::Limit`] naming it (`scenario` refuses the scenarios that could).
//!
//! **Invariant:** time only from `self.now`, randomness only from the seed's streams
//! (`self.rngs`, one per component).
//! **Boundary:** no IO, no async, no wall clock.

use std::cmp::Reverse;
use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId, Profile};

use crate::record::Record;

/// Most nodes a simulated cluster may have: the model's own limit.
pub use provisioner::model::NODES_MAX;

mod ceph;
mod check;
mod client;
mod cx;
pub mod disk;
mod etcd;
mod kube;
mod lb;
mod live;
mod machine;
mod net;
mod queue;
mod rng;
mod vrrp;

pub use check::Broken;
use cx::{lend, push, Cx};
pub use live::{Component, ETCD_ROUNDS_MAX};
use queue::Queue;
pub use queue::{
    Error, EVENTS_MAX, QUEUE_LEN_MAX, SIM_TIME_MAX, STEADY_TIMERS_MAX, TIMERS_PER_FAULT_MAX,
};
/// Stream `n` of a seed, as every component's is derived (the bench's models use it too).
pub(crate) use rng::stream;
use rng::{any_of, Rngs};

/// A timer of one component, routed to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Vrrp(vrrp::Event),
    Lb(lb::Event),
    Etcd(etcd::Event),
    Ceph(ceph::Event),
    Machine(machine::Event),
    Kube(kube::Event),
    Client(client::Event),
}

macro_rules! routes {
    ($($component:ident => $variant:ident),*) => {$(
        impl From<$component::Event> for Event {
            fn from(ev: $component::Event) -> Event {
                Event::$variant(ev)
            }
        }
    )*};
}
routes!(vrrp => Vrrp, lb => Lb, etcd => Etcd, ceph => Ceph, machine => Machine, kube => Kube, client => Client);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vrrp {
    Off,
    Backup,
    Master,
    Fault,
}

/// The simulated cluster.
pub struct Sim {
    model: ClusterModel,
    now: Duration,
    rngs: Rngs,
    queue: Queue,
    /// The limit this simulation reached, if it did: it stops there for good.
    stopped: Option<Error>,
    /// Each node's machine: power, boot, pause, links and cuts, daemons, disk (`machine`).
    nodes: Vec<machine::Machine>,
    /// The client's neighbour entry for the VIP (`net`).
    neighbour: net::Neighbour,
    /// keepalived on each node: VRRP state, timers, priority (`vrrp`).
    keepalived: vrrp::Keepalived,
    /// Each proxy's HAProxy: its checks and round-robin (`lb`).
    lb: lb::Lb,
    /// etcd's raft state (`etcd`).
    etcd: etcd::Etcd,
    /// Ceph's OSD map and placement groups (`ceph`).
    ceph: ceph::Ceph,
    /// Kubernetes: the controller-manager, the pods, each node's readiness (`kube`).
    kube: kube::Kube,
    /// The client and its probes (`client`).
    client: client::Client,
    /// The safety checker's state and what it found (`check`).
    checker: check::Checker,
    /// A protocol rule switched off on purpose ([`Sim::with_broken`]).
    broken: Option<Broken>,
    /// Timers of paused nodes (`machine`).
    frozen: machine::Frozen,
    /// The liveness check's clock and count (`live`).
    liveness: live::Liveness,
}

impl Sim {
    /// A converged, healthy cluster at time zero: node priorities settled, the VIP on the
    /// highest-priority node, an etcd leader, every backend UP, every OSD up and in.
    #[allow(clippy::too_many_lines)] // one initialiser, field by field
    pub fn new(model: ClusterModel, seed: u64) -> Sim {
        let n = model.nodes.len();
        assert!((1..=NODES_MAX).contains(&n), "1 to NODES_MAX nodes");
        let node = machine::Machine::new(model.ceph.write_latency);
        let rngs = Rngs::new(seed);
        let ceph = ceph::Ceph::new(&model, rng::stream(seed, rng::CEPH));
        let lb = lb::Lb::new(n, rng::stream(seed, rng::LB));
        let etcd_leader = model.node_ids().find(|&i| model.node(i).control_plane);
        let mut sim = Sim {
            nodes: vec![node; n],
            now: Duration::ZERO,
            rngs,
            queue: Queue::new(),
            stopped: None,
            neighbour: net::Neighbour::default(),
            keepalived: vrrp::Keepalived::new(n, rng::stream(seed, rng::VRRP)),
            lb,
            etcd: etcd::Etcd::new(etcd_leader, n, rng::stream(seed, rng::ETCD)),
            ceph,
            kube: kube::Kube::new(&model, etcd_leader, rng::stream(seed, rng::KUBE)),
            client: client::Client::new(seed),
            checker: check::Checker::default(),
            broken: None,
            frozen: machine::Frozen::default(),
            liveness: live::Liveness::default(),
            model,
        };
        sim.start();
        sim
    }

    fn start(&mut self) {
        let ids: Vec<NodeId> = self.model.node_ids().collect();
        let proxies: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&i| self.model.node(i).proxy)
            .collect();
        let master = proxies
            .iter()
            .copied()
            .max_by_key(|&i| (self.keepalived.priority(i, &self.model), Reverse(i)));
        let (keepalived, mut cx) = self.keepalived();
        keepalived.start(master, &mut cx);
        let (lb, mut cx) = self.lb();
        lb.start(&proxies, &mut cx);
        if self.model.profile == Profile::Kubernetes {
            let (kube, mut cx) = self.kube();
            kube.start(&mut cx);
        }
    }

    /// Sets a timer `delay` from now. A full queue stops the simulation: the timer is dropped
    /// and the next [`Sim::run_until`] or [`Sim::inject`] returns the limit's error.
    fn at(&mut self, delay: Duration, ev: impl Into<Event>) {
        push(
            &mut self.queue,
            &mut self.stopped,
            self.now + delay,
            ev.into(),
        );
    }

    /// keepalived and what its handlers may use of the rest of the world.
    fn keepalived(&mut self) -> (&mut vrrp::Keepalived, Cx<'_>) {
        lend!(self, keepalived)
    }

    /// HAProxy and what its handlers may use of the rest of the world.
    fn lb(&mut self) -> (&mut lb::Lb, Cx<'_>) {
        lend!(self, lb)
    }

    /// etcd and what its handlers may use of the rest of the world.
    fn etcd(&mut self) -> (&mut etcd::Etcd, Cx<'_>) {
        lend!(self, etcd)
    }

    /// Ceph and what its handlers may use of the rest of the world.
    fn ceph(&mut self) -> (&mut ceph::Ceph, Cx<'_>) {
        lend!(self, ceph)
    }

    /// Kubernetes and what its handlers may use of the rest of the world.
    fn kube(&mut self) -> (&mut kube::Kube, Cx<'_>) {
        lend!(self, kube)
    }

    /// Ceph learns what a fault or a boot did (`clean`: a daemon that stopped cleanly).
    fn ceph_changed(&mut self, clean: bool) {
        let (ceph, mut cx) = self.ceph();
        ceph.changed(clean, &mut cx);
    }

    /// etcd learns what a fault or a boot did to its members (`clean_stop`: one that left
    /// cleanly).
    fn etcd_changed(&mut self, clean_stop: Option<NodeId>) {
        let (etcd, mut cx) = self.etcd();
        etcd.changed(clean_stop, &mut cx);
    }

    /// The limit this simulation reached, as an error (Ok while it runs).
    fn going(&self) -> Result<(), Error> {
        self.stopped.clone().map_or(Ok(()), Err)
    }

    /// Current simulated time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The model this simulation runs.
    pub fn model(&self) -> &ClusterModel {
        &self.model
    }

    /// Safety violations seen so far (empty in a correct model).
    pub fn violations(&self) -> &[String] {
        &self.checker.violations
    }

    /// Runs the simulation until `until`, moving probe samples into `rec` (on the
    /// simulation's clock). A limit reached stops it there, for good; a time past
    /// [`SIM_TIME_MAX`] is one, refused before anything runs.
    pub fn run_until(&mut self, until: Duration, rec: &mut Record) -> Result<(), Error> {
        self.going()?;
        if until > SIM_TIME_MAX {
            let e = Error::Limit {
                name: "SIM_TIME_MAX",
                max: SIM_TIME_MAX.as_secs(),
                at: self.now,
            };
            return Err(self.stopped.get_or_insert(e).clone());
        }
        loop {
            let next = self.queue.pop_until(until);
            let Some((t, ev)) = next.map_err(|e| self.stopped.get_or_insert(e).clone())? else {
                break;
            };
            assert!(t >= self.now, "time went backwards");
            self.check_liveness(t, false);
            self.now = t;
            self.handle(ev);
            self.settle_in_flight();
            self.flush(rec);
            self.going()?;
        }
        self.now = until;
        self.check_liveness(until, true);
        Ok(())
    }

    /// The node whose own timer this event is (its clock stops while it is paused).
    fn owner(ev: Event) -> Option<NodeId> {
        match ev {
            Event::Vrrp(
                vrrp::Event::Advert(i, _)
                | vrrp::Event::MasterDown(i, _)
                | vrrp::Event::Script(i)
                | vrrp::Event::Heard { to: i, .. }
                | vrrp::Event::Garp(i, _),
            )
            | Event::Etcd(etcd::Event::Campaign(i, _) | etcd::Event::Disrupt(i, _))
            | Event::Kube(kube::Event::Heartbeat(i))
            | Event::Lb(lb::Event::Check { on: i, .. } | lb::Event::Silent { on: i, .. }) => {
                Some(i)
            }
            _ => None,
        }
    }

    /// Routes a timer to its component (a paused node's own timers wait for its resume).
    fn handle(&mut self, ev: Event) {
        if let Some(i) = Sim::owner(ev) {
            if let Some(since) = self.nodes[i.index()].paused_since {
                self.frozen.freeze(i, self.now - since, ev);
                return;
            }
        }
        match ev {
            Event::Vrrp(e) => {
                // The check script asks HAProxy (`lb`): what it finds comes with the event.
                let check_ok = matches!(e, vrrp::Event::Script(i) if self.vrrp_check(i));
                let (keepalived, mut cx) = self.keepalived();
                keepalived.on(e, check_ok, &mut cx);
            }
            Event::Lb(e) => {
                // A check's answer is the server's (its daemon, etcd behind the API's).
                let answer = match e {
                    lb::Event::Check { on, fe, srv } => self.lb_answer(on, fe, srv),
                    lb::Event::Silent { .. } => lb::Answer::Silent,
                };
                let (lb, mut cx) = self.lb();
                lb.on(e, answer, &mut cx);
            }
            Event::Etcd(e) => {
                let (etcd, mut cx) = self.etcd();
                etcd.on(e, &mut cx);
            }
            Event::Ceph(e) => {
                let (ceph, mut cx) = self.ceph();
                ceph.on(e, &mut cx);
            }
            Event::Machine(e) => self.machine_event(e),
            Event::Kube(e) => {
                // What the API (etcd, HAProxy, the VIP) lets it do comes with the event.
                let api = self.kube_api(e);
                let (kube, mut cx) = self.kube();
                kube.on(e, api, &mut cx);
            }
            Event::Client(e) => self.client_event(e),
        }
    }
}

#[cfg(test)]
mod tests;
