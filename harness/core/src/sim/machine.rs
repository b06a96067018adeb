//! Machines and faults: each node's [`Machine`] (power, boot, pause, its links and cuts, its
//! daemons, its disk), whose methods are the only writers of its state, and the timers a
//! paused machine holds back ([`Frozen`]). `Sim::inject` turns a scenario's fault into a
//! machine's change, then tells each component what it did to it.

use std::time::Duration;

use provisioner::model::{NodeId, Profile};

use super::{any_of, Error, Sim};
use crate::scenario::{Daemon, Direction, FaultKind};

/// The machines' timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// A node finishes booting (its life).
    Boot(NodeId, u64),
    /// A rebooting node powers on.
    PowerOn(NodeId),
}

/// One node's machine. Components read it through the wire (`net::Wire`); only its own
/// methods change it.
#[derive(Clone, Debug)]
pub(super) struct Machine {
    pub(super) powered: bool,
    /// Services run from this time on (boot finished).
    pub(super) up_at: Duration,
    /// Incremented at every power change so stale timers are ignored.
    pub(super) life: u64,
    pub(super) link: bool,
    pub(super) isolated: bool,
    /// A one-way cut (a firewall dropping IP, not ARP): what is sent to the node is dropped.
    pub(super) cut_in: bool,
    /// ... what the node sends is dropped.
    pub(super) cut_out: bool,
    /// netem on its egress: the share of packets dropped, and the delay each gets.
    pub(super) loss: f64,
    pub(super) delay: Duration,
    pub(super) stopped: Vec<Daemon>,
    /// Paused (a suspended VM): nothing runs, no packet flows; its state is kept and its
    /// timers stand still until it resumes.
    pub(super) paused_since: Option<Duration>,
    pub(super) cordoned: bool,
    pub(super) disk_failed: bool,
    /// How long a synced write takes on its disk.
    pub(super) disk_latency: Duration,
}

impl Machine {
    /// Powered, booted, every link up, its disk writing in `disk_latency`.
    pub(super) fn new(disk_latency: Duration) -> Machine {
        Machine {
            powered: true,
            up_at: Duration::ZERO,
            life: 0,
            link: true,
            isolated: false,
            cut_in: false,
            cut_out: false,
            loss: 0.0,
            delay: Duration::ZERO,
            stopped: Vec::new(),
            paused_since: None,
            cordoned: false,
            disk_failed: false,
            disk_latency,
        }
    }

    /// From its own raw state alone: powered, not paused, its carrier up, neither
    /// partitioned nor cut either way (the checker's view, apart from the request paths).
    pub(super) fn on_wire(&self) -> bool {
        self.powered
            && self.paused_since.is_none()
            && self.link
            && !self.isolated
            && !self.cut_in
            && !self.cut_out
    }

    /// Powered and done booting at `now` (paused or not).
    fn booted(&self, now: Duration) -> bool {
        self.powered && now >= self.up_at
    }

    /// Power cut: a new life, so the old one's timers are stale.
    fn power_off(&mut self) {
        self.powered = false;
        self.life += 1;
    }

    /// Powered on at `now`: it boots for `boot`, every daemon enabled again. The new life
    /// (its boot timer's), or `None` when it was already on.
    fn power_on(&mut self, now: Duration, boot: Duration) -> Option<u64> {
        if self.powered {
            return None;
        }
        self.powered = true;
        self.life += 1;
        self.up_at = now + boot;
        self.stopped.clear();
        Some(self.life)
    }

    /// Suspended at `now`, if it runs.
    fn pause(&mut self, now: Duration) {
        if self.powered && self.paused_since.is_none() {
            self.paused_since = Some(now);
        }
    }

    /// Resumed: whether it was paused.
    fn resume(&mut self) -> bool {
        self.paused_since.take().is_some()
    }

    /// A fault that changes this machine alone: its network (partition, one-way cut, netem,
    /// their heal; the carrier is [`Machine::carrier`]'s, since keepalived sees it), its
    /// schedulability, its disk (`healthy`: a sound disk's synced write).
    fn set(&mut self, kind: &FaultKind, healthy: Duration) {
        match kind {
            FaultKind::Isolate => self.isolated = true,
            FaultKind::Cut(Direction::Inbound) => self.cut_in = true,
            FaultKind::Cut(Direction::Outbound) => self.cut_out = true,
            FaultKind::Netem { delay, loss } => {
                self.delay = *delay;
                self.loss = *loss;
            }
            FaultKind::Heal => {
                self.isolated = false;
                self.cut_in = false;
                self.cut_out = false;
                self.loss = 0.0;
                self.delay = Duration::ZERO;
            }
            FaultKind::Drain => self.cordoned = true,
            FaultKind::Uncordon => self.cordoned = false,
            FaultKind::SlowDisk(p) => {
                let p = crate::disk::profile(p)
                    .expect("profiles are checked when the scenario is parsed");
                self.disk_latency = 2 * p.sync_write;
            }
            FaultKind::FailDisk => self.disk_failed = true,
            FaultKind::RestoreDisk => {
                self.disk_failed = false;
                self.disk_latency = healthy;
            }
            _ => unreachable!("not a change of the machine alone: {kind:?}"),
        }
    }

    /// Its carrier goes up or down (a cable, a link set down).
    fn carrier(&mut self, up: bool) {
        self.link = up;
    }

    /// A daemon stops (once in the list however often it is stopped).
    fn stop(&mut self, d: Daemon) {
        if !self.stopped.contains(&d) {
            self.stopped.push(d);
        }
    }

    fn start(&mut self, d: Daemon) {
        self.stopped.retain(|&s| s != d);
    }
}

/// Timers of paused nodes: the event and how long after the pause it was due.
#[derive(Default)]
pub(super) struct Frozen(Vec<(NodeId, Duration, super::Event)>);

impl Frozen {
    /// Holds `ev`, due `left` after `i` paused, until `i` resumes.
    pub(super) fn freeze(&mut self, i: NodeId, left: Duration, ev: super::Event) {
        self.0.push((i, left, ev));
    }

    /// `i`'s timers, each with how long after the resume it is due, in the order they froze.
    fn thaw(&mut self, i: NodeId) -> Vec<(Duration, super::Event)> {
        let (mine, rest): (Vec<_>, Vec<_>) = self.0.drain(..).partition(|(n, _, _)| *n == i);
        self.0 = rest;
        mine.into_iter().map(|(_, left, ev)| (left, ev)).collect()
    }
}

impl Sim {
    /// The machines' timers; a boot of an earlier life (the node was powered off again) is
    /// stale.
    pub(super) fn machine_event(&mut self, ev: Event) {
        match ev {
            Event::Boot(i, life) if self.nodes[i.index()].life == life => self.booted(i),
            Event::PowerOn(i) => self.power_on(i),
            Event::Boot(..) => {}
        }
    }

    /// A node picked by the seeded generator.
    pub fn pick(&mut self) -> NodeId {
        let ids: Vec<NodeId> = self.model.node_ids().collect();
        any_of(&mut self.rngs.targets, &ids).expect("a cluster has nodes")
    }

    /// Applies a fault (or an undo) to a node now. A limit reached (before or by it) is
    /// returned and the simulation stops.
    pub fn inject(&mut self, kind: &FaultKind, node: NodeId) -> Result<(), Error> {
        self.going()?;
        self.act(kind, node);
        self.going()
    }

    pub(super) fn act(&mut self, kind: &FaultKind, node: NodeId) {
        let k = node.index();
        let healthy = self.model.ceph.write_latency;
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
            FaultKind::Isolate
            | FaultKind::Cut(_)
            | FaultKind::Netem { .. }
            | FaultKind::Uncordon
            | FaultKind::SlowDisk(_)
            | FaultKind::FailDisk
            | FaultKind::RestoreDisk => self.nodes[k].set(kind, healthy),
            FaultKind::LinkDown => {
                self.nodes[k].carrier(false);
                self.keepalived.link_lost(node);
            }
            FaultKind::LinkUp => self.link_up(node),
            FaultKind::Heal => {
                self.nodes[k].set(kind, healthy);
                self.link_up(node);
            }
            FaultKind::StopService(d) => self.stop(node, *d, true),
            FaultKind::KillService(d, sig) => self.stop(node, *d, sig.clean()),
            FaultKind::StartService(d) => self.start_daemon(node, *d),
            FaultKind::MoveVip => {
                let bonus = self.model.keepalived.move_vip_bonus;
                self.keepalived.track_file(node, Some(bonus));
            }
            FaultKind::ReleaseVip => self.keepalived.track_file(node, None),
            FaultKind::Drain => {
                self.nodes[k].set(kind, healthy);
                let (kube, cx) = self.kube();
                kube.evict(cx.model, cx.wire);
            }
        }
        self.tell_peers(kind, node);
        // Answers on their way from a holder this fault took off the VIP are lost now.
        self.settle_in_flight();
        self.watch_heal();
    }

    /// etcd and Ceph learn of what a fault did to their members.
    fn tell_peers(&mut self, kind: &FaultKind, node: NodeId) {
        // Who leaves etcd cleanly (a leader among them hands leadership over): a node shut
        // down, or etcd stopped by SIGTERM. Ceph's peers learn at once of a daemon that stopped
        // cleanly, and of one killed on a live host, whose connections are refused
        // (osd_fast_fail_on_connection_refused); a lost disk stops its OSD cleanly.
        let etcd_clean = match kind {
            FaultKind::Shutdown | FaultKind::Reboot => true,
            FaultKind::StopService(d) => *d == Daemon::Etcd,
            FaultKind::KillService(d, sig) => *d == Daemon::Etcd && sig.clean(),
            _ => false,
        };
        self.etcd_changed(etcd_clean.then_some(node));
        let ceph_clean = matches!(
            kind,
            FaultKind::Shutdown
                | FaultKind::Reboot
                | FaultKind::FailDisk
                | FaultKind::StopService(_)
                | FaultKind::KillService(..)
        );
        self.ceph_changed(ceph_clean);
    }

    /// A suspended VM: its processes stop where they are; for its peers it is silent.
    pub(super) fn pause(&mut self, i: NodeId) {
        self.nodes[i.index()].pause(self.now);
    }

    /// Resumed: its guest clock did not advance while paused, so each of its timers fires as
    /// long after the resume as it was due after the pause.
    pub(super) fn resume(&mut self, i: NodeId) {
        if !self.nodes[i.index()].resume() {
            return;
        }
        for (left, ev) in self.frozen.thaw(i) {
            self.at(left, ev);
        }
    }

    pub(super) fn link_up(&mut self, i: NodeId) {
        // keepalived leaves FAULT when its interface comes back, if it runs: not on a node
        // still booting (its boot starts it). A paused node's timer waits for the resume.
        let n = &mut self.nodes[i.index()];
        n.carrier(true);
        let runs = n.booted(self.now) && !n.stopped.contains(&Daemon::Keepalived);
        let (keepalived, mut cx) = self.keepalived();
        keepalived.link_back(i, runs, &mut cx);
    }

    pub(super) fn power_off(&mut self, i: NodeId, clean: bool) {
        let (keepalived, mut cx) = self.keepalived();
        keepalived.leaving(i, clean, &mut cx);
        self.nodes[i.index()].power_off();
        self.keepalived.powered_off(i);
        self.etcd.powered_off(i);
    }

    pub(super) fn power_on(&mut self, i: NodeId) {
        let boot = self.model.machine.boot;
        let Some(life) = self.nodes[i.index()].power_on(self.now, boot) else {
            return;
        };
        self.at(boot, Event::Boot(i, life));
        self.watch_heal();
    }

    pub(super) fn booted(&mut self, i: NodeId) {
        // HAProxy starts with every server UP (no state file).
        self.lb.restarted(i);
        if self.model.node(i).proxy {
            let (keepalived, mut cx) = self.keepalived();
            keepalived.booted(i, &mut cx);
        }
        self.etcd_changed(None);
        self.ceph_changed(false);
    }

    /// A daemon stops: `clean` when its own shutdown runs (SIGTERM), not when it is killed.
    pub(super) fn stop(&mut self, i: NodeId, d: Daemon, clean: bool) {
        if d == Daemon::Keepalived && self.alive(i) {
            // keepalived stopping cleanly sends priority 0 and removes the VIP.
            let (keepalived, mut cx) = self.keepalived();
            keepalived.leaving(i, clean, &mut cx);
        }
        self.nodes[i.index()].stop(d);
        if d == Daemon::Keepalived {
            self.keepalived.stopped(i, clean);
        }
    }

    pub(super) fn start_daemon(&mut self, i: NodeId, d: Daemon) {
        self.nodes[i.index()].start(d);
        if d == Daemon::Keepalived && self.alive(i) && self.model.node(i).proxy {
            let (keepalived, mut cx) = self.keepalived();
            keepalived.started(i, &mut cx);
        }
    }

    /// Whether the lab can carry out this fault kind in this profile.
    pub fn supports(&self, kind: &FaultKind) -> Result<(), String> {
        match kind {
            FaultKind::StopService(d)
            | FaultKind::KillService(d, _)
            | FaultKind::StartService(d)
                if self.model.profile == Profile::Bare
                    && matches!(d, Daemon::KubeApiserver | Daemon::Kubelet) =>
            {
                Err(format!("the bare profile runs no {}", d.as_str()))
            }
            _ => Ok(()),
        }
    }
}
