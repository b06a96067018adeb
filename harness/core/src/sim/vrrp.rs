//! keepalived's VRRP: adverts, the master-down timer with its priority skew, the check
//! script's weight, gratuitous ARPs, and the safety check that two masters who hear each other
//! settle.

use std::time::Duration;

use provisioner::model::{NodeId, VrrpCheck};

use super::{Broken, Sim, Vrrp};
use crate::scenario::Daemon;

/// keepalived's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// The master sends its advert (generation).
    Advert(NodeId, u64),
    /// A backup's master-down timer runs out (generation).
    MasterDown(NodeId, u64),
    /// The check script runs.
    Script(NodeId),
}

/// keepalived on every node (only proxies run it).
#[derive(Clone, Debug)]
pub(super) struct Keepalived {
    /// One per node, by index.
    pub(super) nodes: Vec<Instance>,
}

/// One keepalived: its VRRP state and what sets its priority.
#[derive(Clone, Debug)]
pub(super) struct Instance {
    pub(super) state: Vrrp,
    /// Incremented at every state change and re-armed timer, so stale timers are ignored.
    pub(super) gen: u64,
    /// The VIP is still configured here though keepalived is gone (SIGKILL leaves it).
    pub(super) stale_vip: bool,
    /// The last result of its check script (`check_haproxy`).
    pub(super) check_ok: bool,
    /// Priority added by `move-vip` (the track file), 0 otherwise.
    pub(super) prio_bonus: u8,
}

impl Keepalived {
    /// Every node's keepalived, each a backup with its check passing (`Sim::start` elects).
    pub(super) fn new(nodes: usize) -> Keepalived {
        let instance = Instance {
            state: Vrrp::Backup,
            gen: 0,
            stale_vip: false,
            check_ok: true,
            prio_bonus: 0,
        };
        Keepalived {
            nodes: vec![instance; nodes],
        }
    }
}

impl Sim {
    /// keepalived's timers; one whose generation has passed is stale.
    pub(super) fn vrrp_event(&mut self, ev: Event) {
        match ev {
            Event::Advert(i, g) if self.keepalived.nodes[i.index()].gen == g => self.advert(i),
            Event::MasterDown(i, g)
                if self.keepalived.nodes[i.index()].gen == g
                    && self.keepalived.nodes[i.index()].state == Vrrp::Backup =>
            {
                self.become_master(i);
            }
            Event::Script(i) => self.vrrp_script(i),
            Event::Advert(..) | Event::MasterDown(..) => {}
        }
    }

    pub(super) fn priority(&self, i: NodeId) -> u8 {
        let v = &self.keepalived.nodes[i.index()];
        self.model
            .vrrp_priority(i, v.check_ok)
            .saturating_add(v.prio_bonus)
            .min(254)
    }

    pub(super) fn vrrp_peers(&self, i: NodeId) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&j| j != i && self.model.node(j).proxy)
            .collect()
    }

    pub(super) fn advert(&mut self, i: NodeId) {
        if self.keepalived.nodes[i.index()].state != Vrrp::Master {
            return;
        }
        let p = self.priority(i);
        // One multicast frame: netem on the sender's egress drops it for every peer at once.
        let lost = self.lost(i);
        for j in self.vrrp_peers(i) {
            if self.delivers(i, j) && !lost {
                self.receive_advert(j, i, p);
            }
        }
        let g = self.keepalived.nodes[i.index()].gen;
        self.at(self.model.keepalived.advert_int, Event::Advert(i, g));
    }

    pub(super) fn receive_advert(&mut self, r: NodeId, s: NodeId, ps: u8) {
        let pr = self.priority(r);
        let higher = ps > pr || ps == pr && self.model.node(s).address > self.model.node(r).address;
        match self.keepalived.nodes[r.index()].state {
            Vrrp::Backup if ps == 0 => {
                let skew = self.model.vrrp_master_down(pr) - 3 * self.model.keepalived.advert_int;
                self.arm_timer(r, skew);
            }
            Vrrp::Backup if higher || self.model.keepalived.nopreempt => self.arm_master_down(r),
            Vrrp::Master if higher && !self.is_broken(Broken::MasterKeepsVip) => {
                self.keepalived.nodes[r.index()].state = Vrrp::Backup;
                self.arm_master_down(r);
            }
            // A master hearing a lower priority forces a new election: adverts and a GARP burst.
            Vrrp::Master => self.garp(r),
            _ => {}
        }
    }

    pub(super) fn arm_master_down(&mut self, i: NodeId) {
        let d = self.model.vrrp_master_down(self.priority(i));
        self.arm_timer(i, d);
    }

    pub(super) fn arm_timer(&mut self, i: NodeId, d: Duration) {
        let v = &mut self.keepalived.nodes[i.index()];
        v.gen += 1;
        let g = v.gen;
        self.at(d, Event::MasterDown(i, g));
    }

    pub(super) fn become_master(&mut self, i: NodeId) {
        let v = &mut self.keepalived.nodes[i.index()];
        v.state = Vrrp::Master;
        v.gen += 1;
        let g = v.gen;
        self.garp(i);
        self.at(Duration::ZERO, Event::Advert(i, g));
    }

    /// Gratuitous ARP: the client's neighbour entry follows the sender, if it hears it (ARP
    /// passes a one-way IP cut).
    pub(super) fn garp(&mut self, i: NodeId) {
        if self.on_link(i) {
            self.neighbour.entry = Some(i);
            self.neighbour.resolve_at = None;
        }
    }

    pub(super) fn vrrp_script(&mut self, i: NodeId) {
        let ok = match self.model.keepalived.check {
            VrrpCheck::HaproxyAlive => self.running(i, Daemon::Haproxy),
            VrrpCheck::LocalLbHealthz => {
                self.running(i, Daemon::Haproxy) && self.api_via(i).is_ok()
            }
        };
        self.keepalived.nodes[i.index()].check_ok = ok;
        self.at(self.model.keepalived.check_interval, Event::Script(i));
    }

    /// The nodes in VRRP state MASTER now (more than one in a split brain).
    pub fn vrrp_masters(&self) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&i| self.keepalived.nodes[i.index()].state == Vrrp::Master)
            .collect()
    }

    /// The node clients reach for the VIP now (the VRRP master they follow).
    pub fn vip_holder(&self) -> Option<NodeId> {
        let masters = self.vrrp_masters();
        self.neighbour
            .entry
            .filter(|a| masters.contains(a))
            .or_else(|| masters.first().copied())
    }
}
