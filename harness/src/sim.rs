//! The deterministic simulated cluster: a discrete-event model of the seed's three nodes.
//!
//! One virtual clock, one event queue, one seeded generator. Components follow the real
//! protocols' timing, read from the [`ClusterModel`]: VRRP adverts and the master-down timer
//! with priority skew, HAProxy health checks (refused vs silent), etcd leader election and
//! quorum (with pre-vote off, etcd 3.4's default, an isolated member disrupts on heal, and its
//! log, behind, cannot win: its campaigns only restart the others' timers), kube-apiserver on
//! its local etcd, kubelet heartbeats, node NotReady and eviction, traefik routing to pods, Ceph
//! mon quorum, OSD mark-down by peer reports, and PGs by min_size. Probes act as a client
//! through the VIP: a SYN that found no holder is sent again after the kernel's retransmission
//! timeout, and an answer still on its way when its holder drops the VIP is lost.
//!
//! **Invariant:** time only from `self.now`, randomness only from `self.rng` (one seed).
//! **Boundary:** no IO, no async, no wall clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use provisioner::model::{ClusterModel, LbCheck, NodeId, Profile, VrrpCheck};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::record::{Record, Sample, Service};
use crate::scenario::{Daemon, FaultKind};

/// Most events the queue may hold at once.
pub const QUEUE_LEN_MAX: usize = 10_000;
/// Most events one simulation may process (about a simulated day of the seed cluster).
pub const EVENTS_MAX: u64 = 50_000_000;

/// A probe's request whose answer is on its way from the VIP holder `via`. `sample` is what
/// it will record (sent at `sample.at`, answered `sample.latency` later).
struct InFlight {
    service: Service,
    sample: Sample,
    via: NodeId,
    /// bare API probe: its /health answer, after which the client sends the write on a new
    /// connection, which takes this much more than the model counts.
    then_write: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Advert(NodeId, u64),
    MasterDown(NodeId, u64),
    VrrpScript(NodeId),
    LbCheck {
        on: NodeId,
        fe: u8,
        srv: NodeId,
    },
    LbSilent {
        on: NodeId,
        fe: u8,
        srv: NodeId,
    },
    EtcdCampaign(NodeId, u64),
    EtcdStepDown(NodeId),
    /// A member with a higher term reaches the leader (node) again; the term it led in.
    EtcdDisrupt(NodeId, u64),
    OsdMarkDown(NodeId, u64),
    OsdMarkUp(NodeId),
    OsdOut(NodeId, u64),
    Boot(NodeId, u64),
    PowerOn(NodeId),
    Heartbeat(NodeId),
    NodeMonitor,
    Probe,
    /// An answer the client acts on (the bare API probe's /health) arrives.
    Answer,
    /// The client's kernel sends again the SYNs of the API and ingress probes sent at `sent`
    /// that found no path to the VIP: its `tries`-th retransmission.
    ProbeAgain {
        sent: Duration,
        tries: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vrrp {
    Off,
    Backup,
    Master,
    Fault,
}

#[derive(Clone, Copy, Debug, Default)]
struct ServerCheck {
    up: bool,
    fails: u32,
    oks: u32,
}

#[derive(Clone, Debug)]
struct NodeState {
    powered: bool,
    /// Services run from this time on (boot finished).
    up_at: Duration,
    /// Incremented at every power change so stale timers are ignored.
    life: u64,
    link: bool,
    isolated: bool,
    loss: f64,
    delay: Duration,
    stopped: Vec<Daemon>,
    vrrp: Vrrp,
    vrrp_gen: u64,
    /// The VIP is still configured here though keepalived is gone (SIGKILL leaves it).
    stale_vip: bool,
    /// Paused (a suspended VM): nothing runs, no packet flows; its state is kept and its
    /// timers stand still until it resumes.
    paused_since: Option<Duration>,
    check_ok: bool,
    prio_bonus: u8,
    /// Health of each backend, per frontend (0 api, 1 ingress), as this node's HAProxy sees it.
    lb: [Vec<ServerCheck>; 2],
    rr: [usize; 2],
    traefik_rr: usize,
    etcd_term: u64,
    etcd_gen: u64,
    /// This member's log is behind: it was cut off while a leader with quorum committed.
    /// Up-to-date members refuse it their vote (Raft's election restriction).
    etcd_behind: bool,
    /// A follower whose leader stepped down without telling it: until this time it still
    /// heeds that leader's lease and ignores vote requests; its next campaign, at a term the
    /// others have passed, is refused and only teaches it the new term.
    etcd_stale_until: Option<Duration>,
    cordoned: bool,
    disk_failed: bool,
    disk_latency: Duration,
    osd_gen: u64,
    last_heartbeat: Duration,
    ready: bool,
}

/// Where the app pods behind the ingress run: one entry per pod, its node.
#[derive(Clone, Debug)]
struct Pods(Vec<NodeId>);

/// The simulated cluster.
pub struct Sim {
    model: ClusterModel,
    now: Duration,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(Duration, u64, Event)>>,
    seq: u64,
    n_events: u64,
    nodes: Vec<NodeState>,
    arp: Option<NodeId>,
    arp_stale_at: Duration,
    arp_resolve_at: Option<Duration>,
    etcd_leader: Option<NodeId>,
    etcd_term: u64,
    /// A disruption of the leader by a returning member is on its way.
    etcd_disrupting: bool,
    osd_up: Vec<bool>,
    osd_in: Vec<bool>,
    peering_until: Duration,
    pgs: Vec<Vec<NodeId>>,
    pods: Pods,
    probing: bool,
    n_probe: u64,
    pending: Vec<(Service, Sample)>,
    /// Send times of probes whose SYNs are being retransmitted: samples from then on wait in
    /// `pending`, so the record stays in time order.
    retrying: Vec<Duration>,
    /// Answers still on their way from a VIP holder: lost if it stops serving the VIP before
    /// they arrive. Samples from their send time on wait in `pending` too.
    in_flight: Vec<InFlight>,
    masters_since: Option<Duration>,
    /// kube-controller-manager's leader and when it last renewed its lease.
    cm_leader: Option<NodeId>,
    cm_renewed: Duration,
    violations: Vec<String>,
    /// Timers of paused nodes: the event and how long after the pause it was due.
    frozen: Vec<(NodeId, Duration, Event)>,
}

fn any_of<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

impl Sim {
    /// A converged, healthy cluster at time zero: node priorities settled, the VIP on the
    /// highest-priority node, an etcd leader, every backend UP, every OSD up and in.
    #[allow(clippy::too_many_lines)] // one initialiser, field by field
    pub fn new(model: ClusterModel, seed: u64) -> Sim {
        let n = model.nodes.len();
        assert!((1..=16).contains(&n), "1 to 16 nodes");
        let node = NodeState {
            powered: true,
            up_at: Duration::ZERO,
            life: 0,
            link: true,
            isolated: false,
            loss: 0.0,
            delay: Duration::ZERO,
            stopped: Vec::new(),
            vrrp: Vrrp::Backup,
            vrrp_gen: 0,
            stale_vip: false,
            paused_since: None,
            check_ok: true,
            prio_bonus: 0,
            lb: [
                vec![
                    ServerCheck {
                        up: true,
                        fails: 0,
                        oks: 0
                    };
                    n
                ],
                vec![
                    ServerCheck {
                        up: true,
                        fails: 0,
                        oks: 0
                    };
                    n
                ],
            ],
            rr: [0, 0],
            traefik_rr: 0,
            etcd_term: 1,
            etcd_gen: 0,
            etcd_behind: false,
            etcd_stale_until: None,
            cordoned: false,
            disk_failed: false,
            disk_latency: model.ceph.write_latency,
            osd_gen: 0,
            last_heartbeat: Duration::ZERO,
            ready: true,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pgs = placement(&model, &mut rng);
        let pods = Pods(
            model
                .node_ids()
                .filter(|&i| model.node(i).worker)
                .cycle()
                .take(model.kube.app_replicas as usize)
                .collect(),
        );
        let etcd_leader = model.node_ids().find(|&i| model.node(i).control_plane);
        let mut sim = Sim {
            nodes: vec![node; n],
            now: Duration::ZERO,
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            n_events: 0,
            arp: None,
            arp_stale_at: Duration::ZERO,
            arp_resolve_at: None,
            etcd_leader,
            etcd_term: 1,
            etcd_disrupting: false,
            osd_up: model.nodes.iter().map(|n| n.storage()).collect(),
            osd_in: model.nodes.iter().map(|n| n.storage()).collect(),
            peering_until: Duration::ZERO,
            pgs,
            pods,
            probing: false,
            n_probe: 0,
            pending: Vec::new(),
            retrying: Vec::new(),
            in_flight: Vec::new(),
            masters_since: None,
            cm_leader: etcd_leader,
            cm_renewed: Duration::ZERO,
            violations: Vec::new(),
            frozen: Vec::new(),
            model,
        };
        sim.start();
        sim
    }

    fn start(&mut self) {
        let ids: Vec<NodeId> = self.model.node_ids().collect();
        let master = ids
            .iter()
            .copied()
            .filter(|&i| self.model.node(i).proxy)
            .max_by_key(|&i| (self.priority(i), Reverse(i)));
        for &i in &ids {
            if !self.model.node(i).proxy {
                self.nodes[i.index()].vrrp = Vrrp::Off;
                continue;
            }
            if Some(i) == master {
                // keepalived started at some moment before the drill: a random advert phase.
                self.become_master(i);
                let g = self.nodes[i.index()].vrrp_gen + 1;
                self.nodes[i.index()].vrrp_gen = g;
                let phase = self.jitter(self.model.keepalived.advert_int);
                self.at(phase, Event::Advert(i, g));
            } else {
                self.arm_master_down(i);
            }
            let off = self.jitter(self.model.keepalived.check_interval);
            self.at(off, Event::VrrpScript(i));
            for srv in ids.clone() {
                for fe in 0..2 {
                    let off = self.jitter(self.model.haproxy.check_inter);
                    self.at(off, Event::LbCheck { on: i, fe, srv });
                }
            }
        }
        if self.model.profile == Profile::Kubernetes {
            for &i in &ids {
                let off = self.jitter(self.model.kube.kubelet_lease_renew);
                self.at(off, Event::Heartbeat(i));
            }
            self.at(self.model.kube.node_monitor_period, Event::NodeMonitor);
        }
    }

    /// A random offset in `[0, d)`, to spread periodic timers.
    fn jitter(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.rng.random::<f64>())
    }

    fn at(&mut self, delay: Duration, ev: Event) {
        assert!(
            self.queue.len() < QUEUE_LEN_MAX,
            "event queue over QUEUE_LEN_MAX"
        );
        self.seq += 1;
        self.queue.push(Reverse((self.now + delay, self.seq, ev)));
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
        &self.violations
    }

    /// Starts or stops the probes (every `probes.interval`, through the VIP). The first goes
    /// out within an interval, at a whole millisecond drawn from the seed: as on a lab, the
    /// faults do not fall on the probes' ticks.
    pub fn set_probing(&mut self, on: bool) {
        if on && !self.probing {
            let every = self.model.probes.interval.as_millis().max(1) as u64;
            let phase = Duration::from_millis(self.rng.random_range(0..every));
            self.at(phase, Event::Probe);
        }
        self.probing = on;
    }

    /// Runs the simulation until `until`, moving probe samples into `rec` (on the
    /// simulation's clock).
    pub fn run_until(&mut self, until: Duration, rec: &mut Record) {
        while let Some(&Reverse((t, _, _))) = self.queue.peek() {
            if t > until {
                break;
            }
            let Reverse((t, _, ev)) = self.queue.pop().expect("peeked");
            assert!(t >= self.now, "time went backwards");
            self.now = t;
            self.n_events += 1;
            assert!(self.n_events <= EVENTS_MAX, "more than EVENTS_MAX events");
            self.handle(ev);
            self.settle_in_flight();
            self.flush(rec);
        }
        self.now = until;
    }

    /// Answers that arrived by now go to `pending`; so do those whose VIP holder stopped
    /// serving the VIP (went BACKUP, died, was cut off) before they arrived: its reply can no
    /// longer come from the VIP, and the client waits for it until its timeout; and those
    /// whose holder's HAProxy stopped (reset). A /health answer that arrived sends its
    /// probe's write; if that write finds no VIP holder it fails (its SYN is not sent again:
    /// the retransmission would come 1 s later, past most of the probe's deadline).
    fn settle_in_flight(&mut self) {
        let mut k = 0;
        while k < self.in_flight.len() {
            let f = &self.in_flight[k];
            let arrived = f.sample.at + f.sample.latency <= self.now;
            let reset = !self.running(f.via, Daemon::Haproxy);
            if !arrived && self.serves_vip(f.via) && !reset {
                k += 1;
                continue;
            }
            let InFlight {
                service,
                mut sample,
                then_write,
                ..
            } = self.in_flight.swap_remove(k);
            if !arrived && reset {
                // The proxy's sockets close with it: the client sees a reset at once.
                sample.ok = false;
                sample.latency = self.now - sample.at;
                sample.cause = "in flight when the VIP holder's haproxy stopped".into();
            } else if !arrived {
                sample.ok = false;
                sample.latency = self.model.probes.timeout;
                sample.cause = "in flight on a VIP holder that lost the VIP".into();
            } else if let Some(extra) = then_write {
                // A new connection: to whoever holds the VIP now, a new round-robin pick.
                let took = sample.latency;
                match self.vip_path().and_then(|y| Ok((y, self.api_request(y)?))) {
                    Ok((y, l)) => {
                        self.in_flight_or_sample(service, sample.at, y, Ok(took + l + extra), None);
                        continue;
                    }
                    Err(c) => {
                        sample.ok = false;
                        sample.latency = self.model.probes.timeout;
                        sample.cause = c.into();
                    }
                }
            }
            self.pending.push((service, sample));
        }
    }

    /// Moves into `rec` the samples sent before the oldest probe still retransmitting or in
    /// flight, in send order. Such a probe is not recorded if the drill ends first.
    fn flush(&mut self, rec: &mut Record) {
        let hold = (self.retrying.iter().copied())
            .chain(self.in_flight.iter().map(|f| f.sample.at))
            .min()
            .unwrap_or(Duration::MAX);
        // Stable: samples sent at the same moment keep their order.
        self.pending.sort_by_key(|(_, s)| s.at);
        let ready = self.pending.partition_point(|(_, s)| s.at < hold);
        for (service, sample) in self.pending.drain(..ready) {
            rec.push(service, sample);
        }
    }

    // ---- topology -------------------------------------------------------------------------

    fn alive(&self, i: NodeId) -> bool {
        let n = &self.nodes[i.index()];
        n.powered && n.paused_since.is_none() && self.now >= n.up_at
    }

    fn on_net(&self, i: NodeId) -> bool {
        let n = &self.nodes[i.index()];
        self.alive(i) && n.link && !n.isolated
    }

    /// Whether packets flow between two nodes (a node always reaches itself).
    fn connected(&self, a: NodeId, b: NodeId) -> bool {
        a == b && self.alive(a) || self.on_net(a) && self.on_net(b)
    }

    fn running(&self, i: NodeId, d: Daemon) -> bool {
        self.alive(i) && !self.nodes[i.index()].stopped.contains(&d)
    }

    fn lost(&mut self, i: NodeId) -> bool {
        let loss = self.nodes[i.index()].loss;
        loss > 0.0 && self.rng.random::<f64>() < loss
    }

    fn priority(&self, i: NodeId) -> u8 {
        let n = &self.nodes[i.index()];
        self.model
            .vrrp_priority(i, n.check_ok)
            .saturating_add(n.prio_bonus)
            .min(254)
    }

    // ---- events ---------------------------------------------------------------------------

    /// The node whose own timer this event is (its clock stops while it is paused).
    fn owner(ev: Event) -> Option<NodeId> {
        match ev {
            Event::Advert(i, _)
            | Event::MasterDown(i, _)
            | Event::VrrpScript(i)
            | Event::EtcdCampaign(i, _)
            | Event::EtcdDisrupt(i, _)
            | Event::Heartbeat(i) => Some(i),
            Event::LbCheck { on, .. } | Event::LbSilent { on, .. } => Some(on),
            _ => None,
        }
    }

    fn handle(&mut self, ev: Event) {
        if let Some(i) = Sim::owner(ev) {
            if let Some(since) = self.nodes[i.index()].paused_since {
                self.frozen.push((i, self.now - since, ev));
                return;
            }
        }
        match ev {
            Event::Advert(i, g) if self.nodes[i.index()].vrrp_gen == g => self.advert(i),
            Event::MasterDown(i, g)
                if self.nodes[i.index()].vrrp_gen == g
                    && self.nodes[i.index()].vrrp == Vrrp::Backup =>
            {
                self.become_master(i);
            }
            Event::VrrpScript(i) => self.vrrp_script(i),
            Event::LbCheck { on, fe, srv } => self.lb_check(on, fe, srv),
            Event::LbSilent { on, fe, srv } => {
                self.lb_result(on, fe, srv, false);
                self.at(
                    self.model.haproxy.check_inter,
                    Event::LbCheck { on, fe, srv },
                );
            }
            Event::EtcdCampaign(i, g) if self.nodes[i.index()].etcd_gen == g => {
                self.etcd_campaign(i)
            }
            Event::EtcdDisrupt(l, term) => self.etcd_disrupt(l, term),
            Event::EtcdStepDown(i) if self.etcd_leader == Some(i) && !self.etcd_has_quorum(i) => {
                self.etcd_leader = None;
                self.etcd_elect_soon();
            }
            Event::OsdMarkDown(i, g) if self.nodes[i.index()].osd_gen == g => self.osd_mark_down(i),
            Event::OsdMarkUp(i) => self.osd_mark_up(i),
            Event::OsdOut(i, g)
                if self.nodes[i.index()].osd_gen == g
                    && !self.osd_up[i.index()]
                    && self.mon_quorum() =>
            {
                self.osd_in[i.index()] = false;
            }
            Event::Boot(i, life) if self.nodes[i.index()].life == life => self.booted(i),
            Event::PowerOn(i) => self.power_on(i),
            Event::Heartbeat(i) => self.heartbeat(i),
            Event::NodeMonitor => self.node_monitor(),
            Event::Probe => self.probe(),
            Event::Answer => {} // settle_in_flight() acts on it
            Event::ProbeAgain { sent, tries } => self.probe_again(sent, tries),
            _ => {} // a stale timer
        }
    }

    fn vrrp_peers(&self, i: NodeId) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&j| j != i && self.model.node(j).proxy)
            .collect()
    }

    fn advert(&mut self, i: NodeId) {
        if self.nodes[i.index()].vrrp != Vrrp::Master {
            return;
        }
        let p = self.priority(i);
        for j in self.vrrp_peers(i) {
            if self.connected(i, j) && !self.lost(i) {
                self.receive_advert(j, i, p);
            }
        }
        let g = self.nodes[i.index()].vrrp_gen;
        self.at(self.model.keepalived.advert_int, Event::Advert(i, g));
    }

    fn receive_advert(&mut self, r: NodeId, s: NodeId, ps: u8) {
        let pr = self.priority(r);
        let higher = ps > pr || ps == pr && self.model.node(s).address > self.model.node(r).address;
        match self.nodes[r.index()].vrrp {
            Vrrp::Backup if ps == 0 => {
                let skew = self.model.vrrp_master_down(pr) - 3 * self.model.keepalived.advert_int;
                self.arm_timer(r, skew);
            }
            Vrrp::Backup if higher || self.model.keepalived.nopreempt => self.arm_master_down(r),
            Vrrp::Master if higher => {
                self.nodes[r.index()].vrrp = Vrrp::Backup;
                self.arm_master_down(r);
            }
            // A master hearing a lower priority forces a new election: adverts and a GARP burst.
            Vrrp::Master => self.garp(r),
            _ => {}
        }
    }

    fn arm_master_down(&mut self, i: NodeId) {
        let d = self.model.vrrp_master_down(self.priority(i));
        self.arm_timer(i, d);
    }

    fn arm_timer(&mut self, i: NodeId, d: Duration) {
        let n = &mut self.nodes[i.index()];
        n.vrrp_gen += 1;
        let g = n.vrrp_gen;
        self.at(d, Event::MasterDown(i, g));
    }

    fn become_master(&mut self, i: NodeId) {
        let n = &mut self.nodes[i.index()];
        n.vrrp = Vrrp::Master;
        n.vrrp_gen += 1;
        let g = n.vrrp_gen;
        self.garp(i);
        self.at(Duration::ZERO, Event::Advert(i, g));
    }

    /// Gratuitous ARP: the client's neighbour entry follows the sender, if it hears it.
    fn garp(&mut self, i: NodeId) {
        if self.on_net(i) {
            self.arp = Some(i);
            self.arp_resolve_at = None;
        }
    }

    fn vrrp_script(&mut self, i: NodeId) {
        let ok = match self.model.keepalived.check {
            VrrpCheck::HaproxyAlive => self.running(i, Daemon::Haproxy),
            VrrpCheck::LocalLbHealthz => {
                self.running(i, Daemon::Haproxy) && self.api_via(i).is_ok()
            }
        };
        self.nodes[i.index()].check_ok = ok;
        self.at(self.model.keepalived.check_interval, Event::VrrpScript(i));
    }

    /// What a listener on `srv` answers for frontend `fe`, seen from `on`.
    fn backend(&self, on: NodeId, fe: u8, srv: NodeId) -> Backend {
        if !self.connected(on, srv) {
            return Backend::Silent;
        }
        let (daemon, listens) = match (fe, self.model.profile) {
            (0, Profile::Bare) => (Daemon::Etcd, self.model.node(srv).control_plane),
            (0, Profile::Kubernetes) => (Daemon::KubeApiserver, self.model.node(srv).control_plane),
            _ => (Daemon::Traefik, self.model.node(srv).worker),
        };
        if !listens || !self.running(srv, daemon) {
            return Backend::Refused;
        }
        Backend::Open
    }

    fn lb_check(&mut self, on: NodeId, fe: u8, srv: NodeId) {
        if !self.running(on, Daemon::Haproxy) {
            self.at(
                self.model.haproxy.check_inter,
                Event::LbCheck { on, fe, srv },
            );
            return;
        }
        let ok = match self.backend(on, fe, srv) {
            Backend::Silent => {
                let wait = self
                    .model
                    .haproxy
                    .timeout_check
                    .unwrap_or(self.model.haproxy.check_inter);
                self.at(wait, Event::LbSilent { on, fe, srv });
                return;
            }
            Backend::Refused => false,
            Backend::Open => {
                fe != 0
                    || self.model.haproxy.api_check == LbCheck::Tcp
                    || self.api_member(srv).is_ok()
            }
        };
        self.lb_result(on, fe, srv, ok);
        self.at(
            self.model.haproxy.check_inter,
            Event::LbCheck { on, fe, srv },
        );
    }

    fn lb_result(&mut self, on: NodeId, fe: u8, srv: NodeId, ok: bool) {
        let (fall, rise) = (self.model.haproxy.check_fall, self.model.haproxy.check_rise);
        let c = &mut self.nodes[on.index()].lb[usize::from(fe)][srv.index()];
        if ok {
            c.fails = 0;
            c.oks += 1;
            if c.oks >= rise {
                c.up = true;
            }
        } else {
            c.oks = 0;
            c.fails += 1;
            if c.fails >= fall {
                c.up = false;
            }
        }
    }

    // ---- etcd -----------------------------------------------------------------------------

    fn etcd_members(&self) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&i| self.model.node(i).control_plane)
            .collect()
    }

    fn etcd_running(&self, i: NodeId) -> bool {
        self.model.node(i).control_plane && self.running(i, Daemon::Etcd)
    }

    fn etcd_reach(&self, i: NodeId) -> usize {
        self.etcd_members()
            .into_iter()
            .filter(|&j| self.etcd_running(j) && self.connected(i, j))
            .count()
    }

    fn etcd_has_quorum(&self, i: NodeId) -> bool {
        self.etcd_running(i) && self.etcd_reach(i) >= self.model.etcd_quorum()
    }

    /// Re-examines etcd after any change of power, network or process state.
    fn etcd_changed(&mut self, clean_stop: Option<NodeId>) {
        match self.etcd_leader {
            Some(l) if !self.etcd_running(l) => {
                self.etcd_leader = None;
                // A clean stop hands leadership over at once; a crash waits for an election.
                let heir = self
                    .etcd_members()
                    .into_iter()
                    .find(|&j| j != l && self.etcd_has_quorum(j));
                match (clean_stop == Some(l), heir) {
                    (true, Some(h)) => self.etcd_leader = Some(h),
                    _ => self.etcd_elect_soon(),
                }
            }
            Some(l) if !self.etcd_has_quorum(l) => {
                self.at(self.model.etcd.election_timeout, Event::EtcdStepDown(l));
                self.etcd_elect_soon();
            }
            Some(l) => {
                // A member that campaigned while cut off comes back with a higher term; the
                // leader steps down when it hears from it (only with pre-vote off).
                if self.etcd_disrupter(l).is_some() {
                    self.etcd_disrupt_soon(l);
                } else {
                    for j in self.etcd_members() {
                        if self.connected(l, j) {
                            self.nodes[j.index()].etcd_behind = false;
                        }
                    }
                    self.etcd_elect_soon_cut_off();
                }
            }
            None => self.etcd_elect_soon(),
        }
    }

    /// A running member with a term above the cluster's that the leader can reach again.
    fn etcd_disrupter(&self, l: NodeId) -> Option<NodeId> {
        self.etcd_members().into_iter().find(|&j| {
            self.nodes[j.index()].etcd_term > self.etcd_term
                && self.etcd_running(j)
                && self.connected(l, j)
        })
    }

    /// The leader hears a returning member at the next heartbeat once their connection is
    /// back: at once, or after a SYN lost in the partition is sent again.
    fn etcd_disrupt_soon(&mut self, l: NodeId) {
        if self.etcd_disrupting {
            return;
        }
        self.etcd_disrupting = true;
        let m = &self.model;
        let d = m.etcd.heartbeat + m.machine.syn_rto.mul_f64(self.rng.random());
        self.at(d, Event::EtcdDisrupt(l, self.etcd_term));
    }

    /// The leader hears the returning member's higher term and steps down. It campaigns after
    /// its own timeout; the other followers heard it a heartbeat ago, so they keep its lease
    /// for an election timeout and their next campaign is at the old term; the returning
    /// member goes on with its own campaigns (its log is behind: it cannot win them).
    fn etcd_disrupt(&mut self, l: NodeId, term: u64) {
        self.etcd_disrupting = false;
        if self.etcd_leader != Some(l) || self.etcd_term != term || self.etcd_disrupter(l).is_none()
        {
            // Things changed on the way; a leader that a returning member can still reach
            // hears it in turn.
            if let Some(now_l) = self.etcd_leader {
                if self.etcd_has_quorum(now_l) && self.etcd_disrupter(now_l).is_some() {
                    self.etcd_disrupt_soon(now_l);
                }
            }
            return;
        }
        self.etcd_term = self
            .etcd_members()
            .iter()
            .filter(|&&j| self.connected(l, j))
            .map(|j| self.nodes[j.index()].etcd_term)
            .max()
            .unwrap_or(self.etcd_term);
        self.etcd_leader = None;
        let lease = self.now + self.model.etcd.election_timeout;
        for j in self.etcd_members() {
            let n = &self.nodes[j.index()];
            if !self.etcd_running(j) || !self.connected(l, j) || n.etcd_behind {
                continue;
            }
            if j != l {
                self.nodes[j.index()].etcd_stale_until = Some(lease);
            }
            self.etcd_arm(j);
        }
    }

    /// Followers that lost their leader campaign after a randomized election timeout.
    fn etcd_elect_soon(&mut self) {
        for j in self.etcd_members() {
            if self.etcd_running(j) {
                self.etcd_arm(j);
            }
        }
    }

    fn etcd_elect_soon_cut_off(&mut self) {
        let Some(l) = self.etcd_leader else { return };
        for j in self.etcd_members() {
            if self.etcd_running(j) && !self.connected(l, j) {
                // The leader goes on committing without it (the probes write).
                self.nodes[j.index()].etcd_behind = true;
                self.etcd_arm(j);
            }
        }
    }

    fn etcd_arm(&mut self, j: NodeId) {
        let et = self.model.etcd.election_timeout;
        let d = et.mul_f64(1.0 + 0.9 * self.rng.random::<f64>());
        let n = &mut self.nodes[j.index()];
        n.etcd_gen += 1;
        let g = n.etcd_gen;
        self.at(d, Event::EtcdCampaign(j, g));
    }

    fn etcd_campaign(&mut self, i: NodeId) {
        if !self.etcd_running(i) {
            return;
        }
        let leader_ok = self
            .etcd_leader
            .is_some_and(|l| self.etcd_has_quorum(l) && self.connected(l, i));
        if leader_ok {
            return;
        }
        if self.nodes[i.index()].etcd_stale_until.take().is_some() {
            // Its vote request carries the old term: refused, with the new term in the answer.
            self.etcd_arm(i);
            return;
        }
        if self.etcd_leader.is_none() && self.etcd_has_quorum(i) {
            self.etcd_term = self.etcd_term.max(self.nodes[i.index()].etcd_term) + 1;
            self.nodes[i.index()].etcd_term = self.etcd_term;
            if self.nodes[i.index()].etcd_behind {
                // Its log is behind, so the others refuse their votes; but its higher term
                // makes them followers again and restarts their randomized timers (no lease:
                // they have no leader). One of them must time out first to win.
                let now = self.now;
                for j in self.etcd_members() {
                    if j != i && self.etcd_running(j) && self.connected(i, j) {
                        let n = &mut self.nodes[j.index()];
                        if n.etcd_stale_until.is_some_and(|t| now < t) {
                            // Still in its old leader's lease: it ignores the request.
                            continue;
                        }
                        n.etcd_stale_until = None;
                        self.etcd_arm(j);
                    }
                }
                self.etcd_arm(i);
                return;
            }
            self.etcd_leader = Some(i);
            for j in self.etcd_members() {
                if self.connected(i, j) {
                    self.nodes[j.index()].etcd_behind = false;
                    self.nodes[j.index()].etcd_stale_until = None;
                }
            }
            return;
        }
        if !self.model.etcd.pre_vote {
            self.nodes[i.index()].etcd_term += 1;
        }
        self.etcd_arm(i);
    }

    /// Whether a linearizable write through member `m` commits now.
    fn api_member(&self, m: NodeId) -> Result<Duration, &'static str> {
        if !self.etcd_running(m) {
            return Err("local etcd member down");
        }
        let Some(l) = self.etcd_leader else {
            return Err("etcd has no leader (election)");
        };
        if !self.connected(m, l) {
            return Err("etcd member cut off from the leader");
        }
        if !self.etcd_has_quorum(l) {
            return Err("etcd leader without quorum");
        }
        let d = self.nodes[l.index()].delay + self.nodes[m.index()].delay;
        Ok(2 * self.model.etcd.fsync + 2 * d)
    }

    /// The API as a client of node `on`'s HAProxy would get it (server picked round-robin).
    /// Whether `on`'s HAProxy sends frontend `fe`'s new connections to `srv`: UP by its checks
    /// and, in the bare profile, not drained (a drained node's servers are in maintenance).
    fn in_rotation(&self, on: NodeId, fe: usize, srv: NodeId) -> bool {
        self.nodes[on.index()].lb[fe][srv.index()].up
            && !(self.model.profile == Profile::Bare && self.nodes[srv.index()].cordoned)
    }

    fn api_via(&self, on: NodeId) -> Result<Duration, &'static str> {
        let up: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&s| self.in_rotation(on, 0, s))
            .collect();
        if up.is_empty() {
            return Err("haproxy: no API backend UP");
        }
        let srv = up[self.nodes[on.index()].rr[0] % up.len()];
        self.api_server(on, srv)
    }

    fn api_server(&self, on: NodeId, srv: NodeId) -> Result<Duration, &'static str> {
        match self.backend(on, 0, srv) {
            Backend::Silent => Err("haproxy sent it to a silent server not yet DOWN"),
            Backend::Refused => Err("haproxy sent it to a refusing server not yet DOWN"),
            Backend::Open => self.api_member(srv),
        }
    }

    // ---- Ceph -----------------------------------------------------------------------------

    fn osd_alive(&self, i: NodeId) -> bool {
        self.model.node(i).storage()
            && self.running(i, Daemon::CephOsd)
            && !self.nodes[i.index()].disk_failed
    }

    fn mon_quorum(&self) -> bool {
        let mons: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.model.node(i).storage())
            .take(self.model.ceph.n_mons as usize)
            .collect();
        mons.iter().any(|&a| {
            mons.iter()
                .filter(|&&b| self.running(b, Daemon::CephMon) && self.connected(a, b))
                .count()
                >= self.model.mon_quorum()
        })
    }

    /// After a change: an OSD that died silently is reported by its peers after the grace;
    /// one whose process exited (or that stopped cleanly) is marked down at once.
    fn ceph_changed(&mut self, clean: bool) {
        let ids: Vec<NodeId> = self.model.node_ids().collect();
        for i in ids {
            let k = i.index();
            if !self.model.node(i).storage() {
                continue;
            }
            let reachable = self.osd_alive(i) && self.on_net(i);
            if self.osd_up[k] && !reachable {
                self.nodes[k].osd_gen += 1;
                let g = self.nodes[k].osd_gen;
                let refused = self.alive(i) && self.on_net(i);
                let d = if clean || refused {
                    Duration::from_millis(500)
                } else {
                    self.osd_detect(i)
                };
                self.at(d, Event::OsdMarkDown(i, g));
            } else if !self.osd_up[k] && reachable {
                self.nodes[k].osd_gen += 1;
                self.at(Duration::from_secs(2), Event::OsdMarkUp(i));
            }
        }
    }

    /// When the mons mark down the OSD of `dead`, which went silent now. Each peer OSD on
    /// another host finds the first ping it sends after the death unanswered a grace later
    /// (looked for on its tick), and sends the failure with its next report to the mons (every
    /// `osd_mon_report_interval`, on the tick). The mons act on the `min_down_reporters`-th
    /// report and propose the new map within `paxos_propose_interval`.
    fn osd_detect(&mut self, dead: NodeId) -> Duration {
        let tick = provisioner::model::Ceph::OSD_TICK;
        let peers = self
            .model
            .node_ids()
            .filter(|&j| j != dead && self.model.node(j).storage())
            .filter(|&j| self.osd_alive(j) && self.on_net(j))
            .count();
        let c = &self.model.ceph;
        let (grace, report, propose) = (
            c.osd_heartbeat_grace,
            c.osd_mon_report_interval + tick,
            c.paxos_propose_interval,
        );
        let k = usize::try_from(c.min_down_reporters).map_or(usize::MAX, |k| k.max(1));
        let mut reports: Vec<Duration> = (0..peers)
            .map(|_| {
                let noticed = self.next_ping() + grace + tick.mul_f64(self.rng.random());
                noticed + report.mul_f64(self.rng.random())
            })
            .collect();
        reports.sort();
        // Too few peers: the mark-down waits for them (osd_mark_down tries again each second).
        let last = reports
            .get(k.min(reports.len()).saturating_sub(1))
            .copied()
            .unwrap_or(grace);
        last + propose.mul_f64(self.rng.random())
    }

    /// How long after now a peer sends its next heartbeat ping: its pings go out after waits of
    /// 0.5 s + k/10 × interval (k random in 0..10), started at a random moment well before.
    fn next_ping(&mut self) -> Duration {
        let c = &self.model.ceph;
        let (interval, period_max) = (c.osd_heartbeat_interval, c.ping_period_max());
        // Start two longest periods back so that the phase at `now` is the process's own.
        let mut back = (period_max * 2).mul_f64(self.rng.random());
        loop {
            let k = self.rng.random_range(0..10u32);
            let w = Duration::from_millis(500) + interval.mul_f64(f64::from(k) / 10.0);
            if w > back {
                return w - back;
            }
            back -= w;
        }
    }

    fn osd_mark_down(&mut self, i: NodeId) {
        let reachable = self.osd_alive(i) && self.on_net(i);
        if reachable || !self.osd_up[i.index()] {
            return;
        }
        let reporters = self
            .model
            .node_ids()
            .filter(|&j| j != i && self.osd_up[j.index()] && self.osd_alive(j) && self.on_net(j))
            .count();
        let refused = self.alive(i) && self.on_net(i);
        if !self.mon_quorum()
            || (!refused && reporters < self.model.ceph.min_down_reporters as usize)
        {
            // Not enough reporters or no quorum: try again at the next report.
            let g = self.nodes[i.index()].osd_gen;
            self.at(Duration::from_secs(1), Event::OsdMarkDown(i, g));
            return;
        }
        self.osd_up[i.index()] = false;
        self.peering_until = self.now + self.model.ceph.peering;
        let g = self.nodes[i.index()].osd_gen;
        self.at(self.model.ceph.down_out_interval, Event::OsdOut(i, g));
    }

    fn osd_mark_up(&mut self, i: NodeId) {
        if self.osd_up[i.index()] {
            return;
        }
        if !(self.osd_alive(i) && self.on_net(i)) {
            return;
        }
        if !self.mon_quorum() {
            self.at(Duration::from_secs(1), Event::OsdMarkUp(i));
            return;
        }
        self.osd_up[i.index()] = true;
        self.osd_in[i.index()] = true;
        self.peering_until = self.now + self.model.ceph.peering;
    }

    /// A write of one object to the pool, from the client host.
    fn ceph_write(&mut self) -> Result<Duration, &'static str> {
        let pg = self.rng.random_range(0..self.pgs.len());
        let acting: Vec<NodeId> = self.pgs[pg]
            .iter()
            .copied()
            .filter(|o| self.osd_up[o.index()])
            .collect();
        if acting.len() < self.model.ceph.pool_min_size as usize {
            return Err("pg below min_size: I/O blocked");
        }
        if self.now < self.peering_until {
            return Err("pgs peering after an osdmap change");
        }
        let primary = acting[0];
        if !self.on_net(primary) || !self.osd_alive(primary) {
            return Err("write stalled: primary osd dead but not yet marked down");
        }
        if acting
            .iter()
            .any(|&o| !self.osd_alive(o) || !self.connected(primary, o))
        {
            return Err("write stalled: a replica osd dead but not yet marked down");
        }
        let lat = acting
            .iter()
            .map(|o| self.nodes[o.index()].disk_latency + 2 * self.nodes[o.index()].delay)
            .max();
        let lat = lat.unwrap_or_default();
        if !self.invariant_pg_active(&acting) {
            self.violations
                .push(format!("{:?}: ceph write acked below min_size", self.now));
        }
        Ok(lat)
    }

    fn invariant_pg_active(&self, acting: &[NodeId]) -> bool {
        acting.iter().filter(|o| self.osd_alive(**o)).count()
            >= self.model.ceph.pool_min_size as usize
    }

    // ---- Kubernetes nodes and ingress -----------------------------------------------------

    fn heartbeat(&mut self, i: NodeId) {
        // kubelet renews its Lease through the API (the VIP); it needs a writable etcd.
        let via = self
            .model
            .node_ids()
            .find(|&j| self.nodes[j.index()].vrrp == Vrrp::Master && self.connected(i, j));
        if self.running(i, Daemon::Kubelet) && via.is_some_and(|j| self.api_via(j).is_ok()) {
            self.nodes[i.index()].last_heartbeat = self.now;
        }
        self.at(self.model.kube.kubelet_lease_renew, Event::Heartbeat(i));
    }

    fn node_monitor(&mut self) {
        if self.controller_manager() {
            let grace = self.model.kube.node_monitor_grace;
            for i in self.model.node_ids() {
                let n = &mut self.nodes[i.index()];
                let fresh = self.now.saturating_sub(n.last_heartbeat) <= grace;
                n.ready = fresh;
            }
            self.evict();
        }
        self.at(self.model.kube.node_monitor_period, Event::NodeMonitor);
    }

    /// Leader election of kube-controller-manager (lease, renew through the API). Returns
    /// whether a leader is acting now. A new leader stamps every node "seen now", which
    /// restarts their grace clocks.
    fn controller_manager(&mut self) -> bool {
        let can_renew = |s: &Sim, i: NodeId| {
            s.model.node(i).control_plane && s.alive(i) && s.api_member(i).is_ok()
        };
        if let Some(l) = self.cm_leader.filter(|&l| can_renew(self, l)) {
            let _ = l;
            self.cm_renewed = self.now;
            return true;
        }
        if self.now.saturating_sub(self.cm_renewed) < self.model.kube.leader_lease {
            return false; // the old lease has not expired: nobody acts
        }
        let next = self.model.node_ids().find(|&i| can_renew(self, i));
        self.cm_leader = next;
        if next.is_some() {
            self.cm_renewed = self.now;
            for n in &mut self.nodes {
                n.last_heartbeat = n.last_heartbeat.max(self.now);
            }
        }
        false
    }

    fn evict(&mut self) {
        let tol = self.model.kube.node_monitor_grace + self.model.kube.eviction_toleration;
        let targets: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.nodes[i.index()].ready && !self.nodes[i.index()].cordoned)
            .collect();
        for p in 0..self.pods.0.len() {
            let n = self.pods.0[p];
            let dead_long = self
                .now
                .saturating_sub(self.nodes[n.index()].last_heartbeat)
                > tol;
            if (dead_long || self.nodes[n.index()].cordoned) && !targets.is_empty() {
                self.pods.0[p] = targets[p % targets.len()];
            }
        }
    }

    fn ingress_via(&mut self, on: NodeId) -> Result<Duration, &'static str> {
        let up: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&s| self.in_rotation(on, 1, s))
            .collect();
        if up.is_empty() {
            return Err("haproxy: no ingress backend UP");
        }
        let n = &mut self.nodes[on.index()];
        let srv = up[n.rr[1] % up.len()];
        n.rr[1] += 1;
        match self.backend(on, 1, srv) {
            Backend::Silent => return Err("haproxy sent it to a silent ingress not yet DOWN"),
            Backend::Refused => return Err("haproxy sent it to a refusing ingress not yet DOWN"),
            Backend::Open => {}
        }
        if self.model.profile == Profile::Bare {
            return Ok(Duration::from_millis(1));
        }
        // traefik routes to the app pods it believes ready: those on Ready nodes.
        let eps: Vec<NodeId> = self
            .pods
            .0
            .iter()
            .copied()
            .filter(|p| self.nodes[p.index()].ready)
            .collect();
        if eps.is_empty() {
            return Err("traefik: no ready endpoint");
        }
        let t = &mut self.nodes[srv.index()];
        let pod = eps[t.traefik_rr % eps.len()];
        t.traefik_rr += 1;
        if !self.connected(srv, pod) {
            return Err("traefik routed to a pod on an unreachable node (waits its dial timeout)");
        }
        if !self.running(pod, Daemon::Kubelet) && !self.alive(pod) {
            return Err("traefik routed to a pod that is not running");
        }
        Ok(Duration::from_millis(2))
    }

    // ---- probes ---------------------------------------------------------------------------

    /// Whether node `i` holds the VIP (as VRRP master or a stale copy) and is on the network.
    fn serves_vip(&self, i: NodeId) -> bool {
        self.on_net(i)
            && (self.nodes[i.index()].vrrp == Vrrp::Master || self.nodes[i.index()].stale_vip)
    }

    /// The node that answers for the VIP at the client, refreshing the neighbour entry.
    fn vip_path(&mut self) -> Result<NodeId, &'static str> {
        let serves = Sim::serves_vip;
        if let Some(at) = self.arp_resolve_at {
            if self.now >= at {
                // Broadcast ARP: whoever holds the VIP answers.
                self.arp = self
                    .model
                    .node_ids()
                    .find(|&i| serves(self, i) && self.nodes[i.index()].vrrp == Vrrp::Master);
                self.arp_resolve_at = None;
            }
        }
        if self.arp.is_none() {
            // No entry: every request broadcasts an ARP request first.
            self.arp = self
                .model
                .node_ids()
                .find(|&i| self.on_net(i) && self.nodes[i.index()].vrrp == Vrrp::Master);
        }
        let Some(x) = self.arp else {
            return Err("no VIP holder answers ARP");
        };
        if serves(self, x) {
            return Ok(x);
        }
        if !self.on_net(x) {
            return Err("the node clients send VIP traffic to is gone (waiting for VRRP failover)");
        }
        if self.arp_resolve_at.is_none() {
            let m = &self.model.machine;
            let stale = self.arp_stale_at.max(self.now);
            self.arp_resolve_at = Some(stale + m.neigh_delay_probe + m.neigh_probes);
        }
        Err("client's neighbour entry points at a node without the VIP")
    }

    fn confirm_arp(&mut self) {
        let r = self
            .model
            .machine
            .neigh_reachable
            .mul_f64(0.5 + self.rng.random::<f64>());
        self.arp_stale_at = self.now + r;
    }

    fn probe(&mut self) {
        if !self.probing {
            return;
        }
        self.n_probe += 1;
        self.check_vip_holders();
        let sent = self.now;
        let path = self.vip_path();
        let ways = path.map(|x| (x, self.api_request(x), self.probe_ingress(x)));
        let ceph = self.ceph_write();
        self.sample(Service::Ceph, sent, ceph);
        match ways {
            Ok((x, api, ingress)) => self.answered(sent, x, api, ingress),
            // Nothing answers the SYN (it went to a node that is gone or no longer holds the
            // VIP): the client's kernel sends it again after its retransmission timeout.
            Err(_) if self.syn_retry(sent, 1) => {}
            Err(c) => self.unanswered(sent, c),
        }
        self.at(self.model.probes.interval, Event::Probe);
    }

    /// Schedules the `tries`-th retransmission of the SYNs of the probes sent at `sent`, if
    /// it goes before the probe's timeout (Linux doubles the timeout each time: 1 s, 3 s, 7 s
    /// after the first SYN).
    fn syn_retry(&mut self, sent: Duration, tries: u32) -> bool {
        let rto = self.model.machine.syn_rto;
        let at = sent + rto * ((1 << tries.min(16)) - 1);
        if at >= sent + self.model.probes.timeout {
            return false;
        }
        if tries == 1 {
            self.retrying.push(sent);
        }
        self.at(at - self.now, Event::ProbeAgain { sent, tries });
        true
    }

    fn probe_again(&mut self, sent: Duration, tries: u32) {
        match self.vip_path() {
            Ok(x) => {
                let wait = self.now - sent;
                let api = self.api_request(x).map(|l| l + wait);
                let ingress = self.probe_ingress(x).map(|l| l + wait);
                self.answered(sent, x, api, ingress);
            }
            Err(_) if self.syn_retry(sent, tries + 1) => return,
            Err(c) => self.unanswered(sent, c),
        }
        if let Some(k) = self.retrying.iter().position(|&t| t == sent) {
            self.retrying.swap_remove(k);
        }
    }

    /// The API and ingress probes sent at `sent` reached the VIP holder `via`.
    fn answered(
        &mut self,
        sent: Duration,
        via: NodeId,
        api: Result<Duration, &'static str>,
        ingress: Result<Duration, &'static str>,
    ) {
        if api.is_ok() || ingress.is_ok() {
            self.confirm_arp();
        }
        // bare: that was etcd's /health; the write follows when it is answered.
        let extra = self.overhead(Service::Api);
        let (health_extra, then_write) = if self.model.profile == Profile::Bare {
            (extra / 2, Some(extra - extra / 2))
        } else {
            (extra, None)
        };
        let api = api.map(|l| l + health_extra);
        self.in_flight_or_sample(Service::Api, sent, via, api, then_write);
        let extra = self.overhead(Service::Ingress);
        self.in_flight_or_sample(
            Service::Ingress,
            sent,
            via,
            ingress.map(|l| l + extra),
            None,
        );
    }

    /// A request of the probe sent at `sent`, answered from `via` after `r`: in flight until
    /// then (with the write to send after it, if `then_write`), else its sample.
    fn in_flight_or_sample(
        &mut self,
        service: Service,
        sent: Duration,
        via: NodeId,
        r: Result<Duration, &'static str>,
        then_write: Option<Duration>,
    ) {
        match r {
            Ok(l)
                if l <= self.model.probes.timeout
                    && (sent + l > self.now || then_write.is_some()) =>
            {
                let sample = Sample {
                    at: sent,
                    ok: true,
                    latency: l,
                    cause: "".into(),
                };
                if then_write.is_some() {
                    self.at((sent + l).saturating_sub(self.now), Event::Answer);
                }
                self.in_flight.push(InFlight {
                    service,
                    sample,
                    via,
                    then_write,
                });
            }
            r => self.sample(service, sent, r),
        }
    }

    /// Time an answer takes on the machines beyond what the model counts: a draw from the
    /// machine's figures (none for the seed's hardware, and then no draw).
    fn overhead(&mut self, service: Service) -> Duration {
        let m = &self.model.machine;
        let from = match service {
            Service::Api => &m.api_overhead,
            Service::Ingress => &m.ingress_overhead,
            Service::Ceph => return Duration::ZERO,
        };
        if from.is_empty() {
            return Duration::ZERO;
        }
        from[self.rng.random_range(0..from.len())]
    }

    /// The API and ingress probes sent at `sent` got no answer: `cause`.
    fn unanswered(&mut self, sent: Duration, cause: &'static str) {
        self.sample(Service::Api, sent, Err(cause));
        self.sample(Service::Ingress, sent, Err(cause));
    }

    fn sample(&mut self, service: Service, at: Duration, r: Result<Duration, &'static str>) {
        let timeout = self.model.probes.timeout;
        let sample = match r {
            Ok(l) if l <= timeout => Sample {
                at,
                ok: true,
                latency: l,
                cause: "".into(),
            },
            Ok(_) => Sample {
                at,
                ok: false,
                latency: timeout,
                cause: "slower than the probe timeout".into(),
            },
            Err(c) => Sample {
                at,
                ok: false,
                latency: timeout,
                cause: c.into(),
            },
        };
        self.pending.push((service, sample));
    }

    /// One request of the API probe through `x`'s HAProxy, on a new connection: its own
    /// round-robin pick. bare: etcd's /health, and once that is answered the write (two
    /// requests); kubernetes: /readyz and its write on one connection (one request).
    fn api_request(&mut self, x: NodeId) -> Result<Duration, &'static str> {
        if !self.running(x, Daemon::Haproxy) {
            return Err("VIP holder's haproxy is not running");
        }
        let r = self.api_via(x);
        self.nodes[x.index()].rr[0] += 1;
        let took = r? + 2 * self.nodes[x.index()].delay;
        let quorum = self
            .etcd_leader
            .is_some_and(|l| self.etcd_reach(l) >= self.model.etcd_quorum());
        if !quorum {
            self.violations.push(format!(
                "{:?}: API request answered without an etcd quorum",
                self.now
            ));
        }
        Ok(took)
    }

    fn probe_ingress(&mut self, x: NodeId) -> Result<Duration, &'static str> {
        if !self.running(x, Daemon::Haproxy) {
            return Err("VIP holder's haproxy is not running");
        }
        if self.lost(x) && self.lost(x) {
            return Err("packets lost on the VIP holder's link");
        }
        self.ingress_via(x)
            .map(|d| d + 2 * self.nodes[x.index()].delay)
    }

    /// Safety: two VRRP masters that hear each other settle within two advert intervals.
    fn check_vip_holders(&mut self) {
        let masters: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.nodes[i.index()].vrrp == Vrrp::Master)
            .collect();
        let clash = masters
            .iter()
            .any(|&a| masters.iter().any(|&b| a < b && self.connected(a, b)));
        match (clash, self.masters_since) {
            (true, None) => self.masters_since = Some(self.now),
            (true, Some(since))
                if self.now - since
                    > 2 * self.model.keepalived.advert_int + Duration::from_millis(500) =>
            {
                self.violations.push(format!(
                    "{:?}: two connected VIP holders since {since:?}",
                    self.now
                ));
                self.masters_since = Some(self.now);
            }
            (false, _) => self.masters_since = None,
            _ => {}
        }
    }

    // ---- faults ---------------------------------------------------------------------------

    /// The node clients reach for the VIP now (the VRRP master they follow).
    pub fn vip_holder(&self) -> Option<NodeId> {
        let masters: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.nodes[i.index()].vrrp == Vrrp::Master)
            .collect();
        self.arp
            .filter(|a| masters.contains(a))
            .or_else(|| masters.first().copied())
    }

    /// The etcd raft leader now.
    pub fn etcd_leader(&self) -> Option<NodeId> {
        self.etcd_leader
    }

    /// A node picked by the seeded generator.
    pub fn pick(&mut self) -> NodeId {
        let ids: Vec<NodeId> = self.model.node_ids().collect();
        any_of(&mut self.rng, &ids).expect("a cluster has nodes")
    }

    /// Applies a fault (or an undo) to a node now.
    pub fn inject(&mut self, kind: &FaultKind, node: NodeId) {
        let k = node.index();
        match kind {
            FaultKind::PowerOff => self.power_off(node, false),
            FaultKind::Shutdown => self.power_off(node, true),
            FaultKind::Reboot => {
                self.power_off(node, true);
                self.at(self.model.machine.shutdown, Event::PowerOn(node));
            }
            FaultKind::PowerOn => self.power_on(node),
            FaultKind::Pause => self.pause(node),
            FaultKind::Resume => self.resume(node),
            FaultKind::Isolate => self.nodes[k].isolated = true,
            FaultKind::LinkDown => {
                self.nodes[k].link = false;
                if self.nodes[k].vrrp != Vrrp::Off {
                    self.nodes[k].vrrp = Vrrp::Fault;
                    self.nodes[k].vrrp_gen += 1;
                }
            }
            FaultKind::LinkUp => self.link_up(node),
            FaultKind::Heal => {
                self.nodes[k].isolated = false;
                self.nodes[k].loss = 0.0;
                self.nodes[k].delay = Duration::ZERO;
                self.link_up(node);
            }
            FaultKind::Netem { delay, loss } => {
                self.nodes[k].delay = *delay;
                self.nodes[k].loss = *loss;
            }
            FaultKind::StopService(d) => self.stop(node, *d),
            FaultKind::StartService(d) => self.start_daemon(node, *d),
            FaultKind::MoveVip => {
                for n in &mut self.nodes {
                    n.prio_bonus = 0;
                }
                self.nodes[k].prio_bonus = self.model.keepalived.move_vip_bonus;
            }
            FaultKind::Drain => {
                self.nodes[k].cordoned = true;
                self.evict();
            }
            FaultKind::Uncordon => self.nodes[k].cordoned = false,
            FaultKind::SlowDisk(p) => {
                let p = crate::disk::profile(p)
                    .expect("profiles are checked when the scenario is parsed");
                self.nodes[k].disk_latency = 2 * p.sync_write;
            }
            FaultKind::FailDisk => self.nodes[k].disk_failed = true,
            FaultKind::RestoreDisk => {
                self.nodes[k].disk_failed = false;
                self.nodes[k].disk_latency = self.model.ceph.write_latency;
            }
        }
        let clean = matches!(
            kind,
            FaultKind::Shutdown | FaultKind::Reboot | FaultKind::FailDisk
        ) || matches!(kind, FaultKind::StopService(_));
        self.etcd_changed(
            clean
                .then_some(node)
                .filter(|_| !matches!(kind, FaultKind::StopService(_))),
        );
        self.ceph_changed(clean);
        // Answers on their way from a holder this fault took off the VIP are lost now.
        self.settle_in_flight();
    }

    /// A suspended VM: its processes stop where they are; for its peers it is silent.
    fn pause(&mut self, i: NodeId) {
        let n = &mut self.nodes[i.index()];
        if n.powered && n.paused_since.is_none() {
            n.paused_since = Some(self.now);
        }
    }

    /// Resumed: its guest clock did not advance while paused, so each of its timers fires as
    /// long after the resume as it was due after the pause.
    fn resume(&mut self, i: NodeId) {
        if self.nodes[i.index()].paused_since.take().is_none() {
            return;
        }
        let (mine, rest): (Vec<_>, Vec<_>) = self.frozen.drain(..).partition(|(n, _, _)| *n == i);
        self.frozen = rest;
        for (_, left, ev) in mine {
            self.at(left, ev);
        }
    }

    fn link_up(&mut self, i: NodeId) {
        let n = &mut self.nodes[i.index()];
        n.link = true;
        if n.vrrp == Vrrp::Fault && n.powered && !n.stopped.contains(&Daemon::Keepalived) {
            n.vrrp = Vrrp::Backup;
            self.arm_master_down(i);
        }
    }

    fn power_off(&mut self, i: NodeId, clean: bool) {
        let was_master = self.nodes[i.index()].vrrp == Vrrp::Master;
        if clean && was_master {
            // keepalived stopping cleanly sends priority 0: backups take over after their skew.
            for j in self.vrrp_peers(i) {
                if self.connected(i, j) {
                    self.receive_advert(j, i, 0);
                }
            }
        }
        let n = &mut self.nodes[i.index()];
        n.powered = false;
        n.life += 1;
        n.vrrp = if n.vrrp == Vrrp::Off {
            Vrrp::Off
        } else {
            Vrrp::Fault
        };
        n.vrrp_gen += 1;
        n.stale_vip = false;
        n.etcd_gen += 1;
    }

    fn power_on(&mut self, i: NodeId) {
        if self.nodes[i.index()].powered {
            return;
        }
        let n = &mut self.nodes[i.index()];
        n.powered = true;
        n.life += 1;
        n.up_at = self.now + self.model.machine.boot;
        n.stopped.clear();
        let life = n.life;
        self.at(self.model.machine.boot, Event::Boot(i, life));
    }

    fn booted(&mut self, i: NodeId) {
        let n = &mut self.nodes[i.index()];
        for c in n.lb.iter_mut().flatten() {
            *c = ServerCheck {
                up: true,
                fails: 0,
                oks: 0,
            };
        }
        if self.model.node(i).proxy {
            n.vrrp = Vrrp::Backup;
            if self.model.node(i).vrrp_initial_master {
                // `state MASTER` claims the VIP after one advert interval unless it hears better.
                let d = self.model.keepalived.advert_int + Duration::from_secs(1) / 256;
                self.arm_timer(i, d);
            } else {
                self.arm_master_down(i);
            }
        }
        self.etcd_changed(None);
        self.ceph_changed(false);
    }

    fn stop(&mut self, i: NodeId, d: Daemon) {
        let n = &mut self.nodes[i.index()];
        if !n.stopped.contains(&d) {
            n.stopped.push(d);
        }
        if d == Daemon::Keepalived && n.vrrp != Vrrp::Off {
            // SIGKILL cleans nothing up: the VIP stays on the interface.
            n.stale_vip = n.vrrp == Vrrp::Master;
            n.vrrp = Vrrp::Fault;
            n.vrrp_gen += 1;
        }
    }

    fn start_daemon(&mut self, i: NodeId, d: Daemon) {
        self.nodes[i.index()].stopped.retain(|&s| s != d);
        if d == Daemon::Keepalived && self.alive(i) && self.model.node(i).proxy {
            let n = &mut self.nodes[i.index()];
            n.stale_vip = false;
            n.vrrp = Vrrp::Backup;
            self.arm_master_down(i);
        }
    }

    /// Whether the lab can carry out this fault kind in this profile.
    pub fn supports(&self, kind: &FaultKind) -> bool {
        match kind {
            FaultKind::StopService(d) | FaultKind::StartService(d) => {
                self.model.profile == Profile::Kubernetes
                    || !matches!(d, Daemon::KubeApiserver | Daemon::Kubelet)
            }
            _ => true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Open,
    Refused,
    Silent,
}

/// A CRUSH stand-in: each PG gets `size` OSDs on distinct hosts, picked by the seeded generator.
fn placement(model: &ClusterModel, rng: &mut ChaCha8Rng) -> Vec<Vec<NodeId>> {
    let osds: Vec<NodeId> = model
        .node_ids()
        .filter(|&i| model.node(i).storage())
        .collect();
    let size = (model.ceph.pool_size as usize).min(osds.len());
    (0..model.ceph.pg_num.max(1))
        .map(|_| {
            let mut pool = osds.clone();
            let mut pg = Vec::with_capacity(size);
            for _ in 0..size {
                let k = rng.random_range(0..pool.len());
                pg.push(pool.swap_remove(k));
            }
            pg
        })
        .collect()
}
