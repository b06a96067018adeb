//! Machines and faults: power off and on, clean shutdown and reboot, boot, pause and resume,
//! links, daemons stopped and started, disks; `inject` turns a scenario's fault into these.

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
            FaultKind::Cut(Direction::Inbound) => self.nodes[k].cut_in = true,
            FaultKind::Cut(Direction::Outbound) => self.nodes[k].cut_out = true,
            FaultKind::LinkDown => {
                self.nodes[k].link = false;
                self.keepalived.link_lost(node);
            }
            FaultKind::LinkUp => self.link_up(node),
            FaultKind::Heal => {
                self.nodes[k].isolated = false;
                self.nodes[k].cut_in = false;
                self.nodes[k].cut_out = false;
                self.nodes[k].loss = 0.0;
                self.nodes[k].delay = Duration::ZERO;
                self.link_up(node);
            }
            FaultKind::Netem { delay, loss } => {
                self.nodes[k].delay = *delay;
                self.nodes[k].loss = *loss;
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
                self.nodes[k].cordoned = true;
                let (kube, cx) = self.kube();
                kube.evict(cx.model, cx.wire);
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
        let n = &mut self.nodes[i.index()];
        if n.powered && n.paused_since.is_none() {
            n.paused_since = Some(self.now);
        }
    }

    /// Resumed: its guest clock did not advance while paused, so each of its timers fires as
    /// long after the resume as it was due after the pause.
    pub(super) fn resume(&mut self, i: NodeId) {
        if self.nodes[i.index()].paused_since.take().is_none() {
            return;
        }
        let (mine, rest): (Vec<_>, Vec<_>) = self.frozen.drain(..).partition(|(n, _, _)| *n == i);
        self.frozen = rest;
        for (_, left, ev) in mine {
            self.at(left, ev);
        }
    }

    pub(super) fn link_up(&mut self, i: NodeId) {
        // keepalived leaves FAULT when its interface comes back, if it runs: not on a node
        // still booting (its boot starts it). A paused node's timer waits for the resume.
        let now = self.now;
        let n = &mut self.nodes[i.index()];
        n.link = true;
        let booted = n.powered && now >= n.up_at;
        let runs = booted && !n.stopped.contains(&Daemon::Keepalived);
        let (keepalived, mut cx) = self.keepalived();
        keepalived.link_back(i, runs, &mut cx);
    }

    pub(super) fn power_off(&mut self, i: NodeId, clean: bool) {
        let (keepalived, mut cx) = self.keepalived();
        keepalived.leaving(i, clean, &mut cx);
        let n = &mut self.nodes[i.index()];
        n.powered = false;
        n.life += 1;
        self.keepalived.powered_off(i);
        self.etcd.powered_off(i);
    }

    pub(super) fn power_on(&mut self, i: NodeId) {
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
        let n = &mut self.nodes[i.index()];
        if !n.stopped.contains(&d) {
            n.stopped.push(d);
        }
        if d == Daemon::Keepalived {
            self.keepalived.stopped(i, clean);
        }
    }

    pub(super) fn start_daemon(&mut self, i: NodeId, d: Daemon) {
        self.nodes[i.index()].stopped.retain(|&s| s != d);
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
