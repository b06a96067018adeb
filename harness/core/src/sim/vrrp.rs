//! keepalived's VRRP: adverts, the master-down timer with its priority skew, the check
//! script's weight, gratuitous ARPs, and the safety check that two masters who hear each other
//! settle.

use std::time::Duration;

use provisioner::model::{NodeId, VrrpCheck};

use super::rng::jitter;
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
    /// An advert reaches keepalived on `to`, the machine's advert transit after it left.
    Heard {
        to: NodeId,
        from: NodeId,
        priority: u8,
    },
    /// A burst of gratuitous ARPs leaves the node.
    Garp(NodeId, Burst),
}

/// Which of keepalived's bursts of gratuitous ARPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Burst {
    /// A takeover's: in the same call as its first advert, after the VIP is added (the
    /// machine's GARP lag), so it leaves even if a peer's advert arrived in between.
    Takeover,
    /// `vrrp_garp_master_delay` after a takeover, or `vrrp_garp_lower_prio_delay` (the same by
    /// default) after a lower priority's advert: sent only if the VIP is still set.
    Delayed,
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
    /// Until a takeover's GARPs have left: keepalived is one thread, so an advert arriving
    /// meanwhile is handled only then.
    pub(super) busy_until: Duration,
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
            busy_until: Duration::ZERO,
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
            Event::Heard { to, from, priority } => {
                let busy = self.keepalived.nodes[to.index()].busy_until;
                if busy > self.now {
                    self.at(busy - self.now, Event::Heard { to, from, priority });
                } else {
                    // keepalived stopped or in FAULT meanwhile ignores it (its state says so).
                    self.receive_advert(to, from, priority);
                }
            }
            Event::Garp(i, Burst::Takeover) => self.garp(i),
            Event::Garp(i, Burst::Delayed) => {
                if self.keepalived.nodes[i.index()].state == Vrrp::Master {
                    self.garp(i);
                }
            }
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

    /// The master's periodic advert.
    pub(super) fn advert(&mut self, i: NodeId) {
        if self.keepalived.nodes[i.index()].state != Vrrp::Master {
            return;
        }
        self.send_advert(i);
        // keepalived re-arms the timer from the moment it ran, so each advert's lateness
        // carries over to the next ones.
        let late = jitter(&mut self.rngs.vrrp, self.model.machine.vrrp_timer_slack);
        let g = self.keepalived.nodes[i.index()].gen;
        self.at(self.model.keepalived.advert_int + late, Event::Advert(i, g));
    }

    /// One advert to every peer, heard there after the machine's advert transit. keepalived
    /// sends it to each `unicast_peer` as a packet of its own, so netem on the sender's
    /// egress loses each independently: one backup can miss the adverts the other hears.
    fn send_advert(&mut self, i: NodeId) {
        let priority = self.priority(i);
        for to in self.vrrp_peers(i) {
            let lost = self.lost(i);
            if self.delivers(i, to) && !lost {
                let transit = jitter(&mut self.rngs.vrrp, self.model.machine.vrrp_advert_transit);
                self.at(
                    transit,
                    Event::Heard {
                        to,
                        from: i,
                        priority,
                    },
                );
            }
        }
    }

    pub(super) fn receive_advert(&mut self, r: NodeId, s: NodeId, ps: u8) {
        let pr = self.priority(r);
        let higher = ps > pr || ps == pr && self.model.node(s).address > self.model.node(r).address;
        match self.keepalived.nodes[r.index()].state {
            Vrrp::Backup if ps == 0 => {
                let skew = self.model.vrrp_master_down(pr) - 3 * self.model.keepalived.advert_int;
                self.arm_timer(r, skew);
            }
            // keepalived accepts an advert of its own priority whatever the address (RFC 3768:
            // "greater than or equal"); only a master compares addresses.
            Vrrp::Backup if ps >= pr || self.model.keepalived.nopreempt => self.arm_master_down(r),
            Vrrp::Master if higher && !self.is_broken(Broken::MasterKeepsVip) => {
                self.keepalived.nodes[r.index()].state = Vrrp::Backup;
                self.arm_master_down(r);
            }
            // A master hearing a lower priority forces a new election: an advert and a GARP
            // burst at once, another burst `garp_master_delay` later.
            Vrrp::Master if !higher => {
                self.send_advert(r);
                self.garp(r);
                self.at(
                    self.model.keepalived.garp_master_delay,
                    Event::Garp(r, Burst::Delayed),
                );
            }
            _ => {}
        }
    }

    pub(super) fn arm_master_down(&mut self, i: NodeId) {
        let d = self.model.vrrp_master_down(self.priority(i));
        self.arm_timer(i, d);
    }

    /// Arms the master-down timer; it runs out up to the machine's timer slack late.
    pub(super) fn arm_timer(&mut self, i: NodeId, d: Duration) {
        let slack = jitter(&mut self.rngs.vrrp, self.model.machine.vrrp_timer_slack);
        let v = &mut self.keepalived.nodes[i.index()];
        v.gen += 1;
        let g = v.gen;
        self.at(d + slack, Event::MasterDown(i, g));
    }

    /// A takeover: the first advert goes out at once (keepalived sends it first, so that an
    /// old master drops the VIP), the gratuitous ARPs once the VIP is added, and a second
    /// burst `garp_master_delay` later. Two backups whose timers run out closer together than
    /// an advert's transit both take over; the one with the lower address steps down on
    /// hearing the other, and the other answers its advert with GARPs only once its own
    /// takeover is done. If the loser's GARPs still left last, clients follow it until a
    /// second burst.
    pub(super) fn become_master(&mut self, i: NodeId) {
        let v = &mut self.keepalived.nodes[i.index()];
        v.state = Vrrp::Master;
        v.gen += 1;
        let g = v.gen;
        self.at(Duration::ZERO, Event::Advert(i, g));
        let lag = jitter(&mut self.rngs.vrrp, self.model.machine.vrrp_garp_lag);
        self.keepalived.nodes[i.index()].busy_until = self.now + lag;
        self.at(lag, Event::Garp(i, Burst::Takeover));
        let delayed = lag + self.model.keepalived.garp_master_delay;
        self.at(delayed, Event::Garp(i, Burst::Delayed));
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
