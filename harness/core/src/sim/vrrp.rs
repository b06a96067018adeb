//! keepalived's VRRP: adverts, the master-down timer with its priority skew, the check
//! script's weight, gratuitous ARPs, and the safety check that two masters who hear each other
//! settle.

use std::time::Duration;

use provisioner::model::{NodeId, VrrpCheck};

use super::{Broken, Event, Sim, Vrrp};
use crate::scenario::Daemon;

impl Sim {
    pub(super) fn priority(&self, i: NodeId) -> u8 {
        let n = &self.nodes[i.index()];
        self.model
            .vrrp_priority(i, n.check_ok)
            .saturating_add(n.prio_bonus)
            .min(254)
    }

    pub(super) fn vrrp_peers(&self, i: NodeId) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&j| j != i && self.model.node(j).proxy)
            .collect()
    }

    pub(super) fn advert(&mut self, i: NodeId) {
        if self.nodes[i.index()].vrrp != Vrrp::Master {
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
        let g = self.nodes[i.index()].vrrp_gen;
        self.at(self.model.keepalived.advert_int, Event::Advert(i, g));
    }

    pub(super) fn receive_advert(&mut self, r: NodeId, s: NodeId, ps: u8) {
        let pr = self.priority(r);
        let higher = ps > pr || ps == pr && self.model.node(s).address > self.model.node(r).address;
        match self.nodes[r.index()].vrrp {
            Vrrp::Backup if ps == 0 => {
                let skew = self.model.vrrp_master_down(pr) - 3 * self.model.keepalived.advert_int;
                self.arm_timer(r, skew);
            }
            Vrrp::Backup if higher || self.model.keepalived.nopreempt => self.arm_master_down(r),
            Vrrp::Master if higher && !self.is_broken(Broken::MasterKeepsVip) => {
                self.nodes[r.index()].vrrp = Vrrp::Backup;
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
        let n = &mut self.nodes[i.index()];
        n.vrrp_gen += 1;
        let g = n.vrrp_gen;
        self.at(d, Event::MasterDown(i, g));
    }

    pub(super) fn become_master(&mut self, i: NodeId) {
        let n = &mut self.nodes[i.index()];
        n.vrrp = Vrrp::Master;
        n.vrrp_gen += 1;
        let g = n.vrrp_gen;
        self.garp(i);
        self.at(Duration::ZERO, Event::Advert(i, g));
    }

    /// Gratuitous ARP: the client's neighbour entry follows the sender, if it hears it (ARP
    /// passes a one-way IP cut).
    pub(super) fn garp(&mut self, i: NodeId) {
        if self.on_link(i) {
            self.arp = Some(i);
            self.arp_resolve_at = None;
        }
    }

    pub(super) fn vrrp_script(&mut self, i: NodeId) {
        let ok = match self.model.keepalived.check {
            VrrpCheck::HaproxyAlive => self.running(i, Daemon::Haproxy),
            VrrpCheck::LocalLbHealthz => {
                self.running(i, Daemon::Haproxy) && self.api_via(i).is_ok()
            }
        };
        self.nodes[i.index()].check_ok = ok;
        self.at(self.model.keepalived.check_interval, Event::VrrpScript(i));
    }

    /// The nodes in VRRP state MASTER now (more than one in a split brain).
    pub fn vrrp_masters(&self) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&i| self.nodes[i.index()].vrrp == Vrrp::Master)
            .collect()
    }

    /// The node clients reach for the VIP now (the VRRP master they follow).
    pub fn vip_holder(&self) -> Option<NodeId> {
        let masters = self.vrrp_masters();
        self.arp
            .filter(|a| masters.contains(a))
            .or_else(|| masters.first().copied())
    }
}
