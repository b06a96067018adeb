//! keepalived's VRRP: adverts, the master-down timer with its priority skew, the check
//! script's weight, gratuitous ARPs, and the safety check that two masters who hear each other
//! settle.

use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId, VrrpCheck};
use rand_chacha::ChaCha8Rng;

use super::rng::jitter;
use super::{Broken, Cx, Sim, Vrrp};
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

/// keepalived on every node (only proxies run it), with its own random stream.
#[derive(Clone, Debug)]
pub(super) struct Keepalived {
    /// One per node, by index.
    pub(super) nodes: Vec<Instance>,
    /// Advert lateness, timer slack, transit and GARP lag: keepalived's stream alone.
    rng: ChaCha8Rng,
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
    /// Every node's keepalived, each a backup with its check passing (`start` elects).
    pub(super) fn new(nodes: usize, rng: ChaCha8Rng) -> Keepalived {
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
            rng,
        }
    }

    /// The cluster converged before the drill: `master` (the highest priority) holds the VIP
    /// from a random advert phase, the other proxies wait for its adverts, and every check
    /// script runs at a random phase.
    pub(super) fn start(&mut self, master: Option<NodeId>, cx: &mut Cx<'_>) {
        for i in cx.model.node_ids() {
            if !cx.model.node(i).proxy {
                self.nodes[i.index()].state = Vrrp::Off;
                continue;
            }
            if Some(i) == master {
                let v = &mut self.nodes[i.index()];
                v.state = Vrrp::Master;
                v.gen += 1;
                let g = v.gen;
                self.garp(i, cx);
                let phase = jitter(&mut self.rng, cx.model.keepalived.advert_int);
                cx.at(phase, Event::Advert(i, g));
            } else {
                self.arm_master_down(i, cx);
            }
            let off = jitter(&mut self.rng, cx.model.keepalived.check_interval);
            cx.at(off, Event::Script(i));
        }
    }

    /// keepalived's timers; one whose generation has passed is stale. `check_ok` is what the
    /// check script found, for a `Script` event (HAProxy answers it: `Sim::vrrp_check`).
    pub(super) fn on(&mut self, ev: Event, check_ok: bool, cx: &mut Cx<'_>) {
        match ev {
            Event::Advert(i, g) if self.nodes[i.index()].gen == g => self.advert(i, cx),
            Event::MasterDown(i, g)
                if self.nodes[i.index()].gen == g
                    && self.nodes[i.index()].state == Vrrp::Backup =>
            {
                self.become_master(i, cx);
            }
            Event::Script(i) => {
                self.nodes[i.index()].check_ok = check_ok;
                cx.at(cx.model.keepalived.check_interval, Event::Script(i));
            }
            Event::Heard { to, from, priority } => {
                let busy = self.nodes[to.index()].busy_until;
                if busy > cx.now() {
                    cx.at(busy - cx.now(), Event::Heard { to, from, priority });
                } else {
                    // keepalived stopped or in FAULT meanwhile ignores it (its state says so).
                    self.receive_advert(to, from, priority, cx);
                }
            }
            Event::Garp(i, Burst::Takeover) => self.garp(i, cx),
            Event::Garp(i, Burst::Delayed) => {
                if self.nodes[i.index()].state == Vrrp::Master {
                    self.garp(i, cx);
                }
            }
            Event::Advert(..) | Event::MasterDown(..) => {}
        }
    }

    pub(super) fn priority(&self, i: NodeId, model: &ClusterModel) -> u8 {
        let v = &self.nodes[i.index()];
        model
            .vrrp_priority(i, v.check_ok)
            .saturating_add(v.prio_bonus)
            .min(254)
    }

    /// The other nodes running keepalived (its `unicast_peer`s).
    fn peers(model: &ClusterModel, i: NodeId) -> Vec<NodeId> {
        model
            .node_ids()
            .filter(|&j| j != i && model.node(j).proxy)
            .collect()
    }

    /// The master's periodic advert.
    fn advert(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        if self.nodes[i.index()].state != Vrrp::Master {
            return;
        }
        self.send_advert(i, cx);
        // keepalived re-arms the timer from the moment it ran, so each advert's lateness
        // carries over to the next ones.
        let late = jitter(&mut self.rng, cx.model.machine.vrrp_timer_slack);
        let g = self.nodes[i.index()].gen;
        cx.at(cx.model.keepalived.advert_int + late, Event::Advert(i, g));
    }

    /// One advert to every peer, heard there after the machine's advert transit. keepalived
    /// sends it to each `unicast_peer` as a packet of its own, so netem on the sender's
    /// egress loses each independently: one backup can miss the adverts the other hears.
    fn send_advert(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        let priority = self.priority(i, cx.model);
        for to in Keepalived::peers(cx.model, i) {
            let lost = cx.lost(i);
            if cx.wire.delivers(i, to) && !lost {
                let transit = jitter(&mut self.rng, cx.model.machine.vrrp_advert_transit);
                cx.at(
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

    fn receive_advert(&mut self, r: NodeId, s: NodeId, ps: u8, cx: &mut Cx<'_>) {
        let pr = self.priority(r, cx.model);
        let model = cx.model;
        let higher = ps > pr || ps == pr && model.node(s).address > model.node(r).address;
        match self.nodes[r.index()].state {
            Vrrp::Backup if ps == 0 => {
                let skew = model.vrrp_master_down(pr) - 3 * model.keepalived.advert_int;
                self.arm_timer(r, skew, cx);
            }
            // keepalived accepts an advert of its own priority whatever the address (RFC 3768:
            // "greater than or equal"); only a master compares addresses.
            Vrrp::Backup if ps >= pr || model.keepalived.nopreempt => self.arm_master_down(r, cx),
            Vrrp::Master if higher && !cx.is_broken(Broken::MasterKeepsVip) => {
                self.nodes[r.index()].state = Vrrp::Backup;
                self.arm_master_down(r, cx);
            }
            // A master hearing a lower priority forces a new election: an advert and a GARP
            // burst at once, another burst `garp_master_delay` later.
            Vrrp::Master if !higher => {
                self.send_advert(r, cx);
                self.garp(r, cx);
                cx.at(
                    model.keepalived.garp_master_delay,
                    Event::Garp(r, Burst::Delayed),
                );
            }
            _ => {}
        }
    }

    fn arm_master_down(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        let d = cx.model.vrrp_master_down(self.priority(i, cx.model));
        self.arm_timer(i, d, cx);
    }

    /// Arms the master-down timer; it runs out up to the machine's timer slack late.
    fn arm_timer(&mut self, i: NodeId, d: Duration, cx: &mut Cx<'_>) {
        let slack = jitter(&mut self.rng, cx.model.machine.vrrp_timer_slack);
        let v = &mut self.nodes[i.index()];
        v.gen += 1;
        let g = v.gen;
        cx.at(d + slack, Event::MasterDown(i, g));
    }

    /// A takeover: the first advert goes out at once (keepalived sends it first, so that an
    /// old master drops the VIP), the gratuitous ARPs once the VIP is added, and a second
    /// burst `garp_master_delay` later. Two backups whose timers run out closer together than
    /// an advert's transit both take over; the one with the lower address steps down on
    /// hearing the other, and the other answers its advert with GARPs only once its own
    /// takeover is done. If the loser's GARPs still left last, clients follow it until a
    /// second burst.
    pub(super) fn become_master(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        let v = &mut self.nodes[i.index()];
        v.state = Vrrp::Master;
        v.gen += 1;
        let g = v.gen;
        cx.at(Duration::ZERO, Event::Advert(i, g));
        let lag = jitter(&mut self.rng, cx.model.machine.vrrp_garp_lag);
        self.nodes[i.index()].busy_until = cx.now() + lag;
        cx.at(lag, Event::Garp(i, Burst::Takeover));
        let delayed = lag + cx.model.keepalived.garp_master_delay;
        cx.at(delayed, Event::Garp(i, Burst::Delayed));
    }

    /// Gratuitous ARP: the client's neighbour entry follows the sender, if it hears it (ARP
    /// passes a one-way IP cut).
    fn garp(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        if cx.wire.on_link(i) {
            cx.neighbour.entry = Some(i);
            cx.neighbour.resolve_at = None;
        }
    }

    /// keepalived on `i` stops (its node powers off, or the daemon stops): a clean stop of a
    /// master sends priority 0 to the peers it reaches, which take over after their skew.
    pub(super) fn leaving(&mut self, i: NodeId, clean: bool, cx: &mut Cx<'_>) {
        if clean && self.nodes[i.index()].state == Vrrp::Master {
            for j in Keepalived::peers(cx.model, i) {
                if cx.wire.connected(i, j) {
                    self.receive_advert(j, i, 0, cx);
                }
            }
        }
    }

    /// Its node lost power: keepalived is gone, and so is the VIP it held.
    pub(super) fn powered_off(&mut self, i: NodeId) {
        let v = &mut self.nodes[i.index()];
        if v.state != Vrrp::Off {
            v.state = Vrrp::Fault;
        }
        v.gen += 1;
        v.stale_vip = false;
    }

    /// The daemon stopped; SIGKILL (`clean` false) cleans nothing up: a master's VIP stays
    /// on the interface.
    pub(super) fn stopped(&mut self, i: NodeId, clean: bool) {
        let v = &mut self.nodes[i.index()];
        if v.state != Vrrp::Off {
            v.stale_vip = v.state == Vrrp::Master && !clean;
            v.state = Vrrp::Fault;
            v.gen += 1;
        }
    }

    /// The daemon started again: a backup that waits for the master's adverts.
    pub(super) fn started(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        let v = &mut self.nodes[i.index()];
        v.stale_vip = false;
        v.state = Vrrp::Backup;
        self.arm_master_down(i, cx);
    }

    /// Its node booted: a backup, or with `state MASTER` one that claims the VIP after one
    /// advert interval unless it hears better (the skew of priority 255, 1/256 s, as RFC
    /// 3768 counts it).
    pub(super) fn booted(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        self.nodes[i.index()].state = Vrrp::Backup;
        if cx.model.node(i).vrrp_initial_master {
            let k = &cx.model.keepalived;
            let skew_255 = cx.model.vrrp_master_down(255) - 3 * k.advert_int;
            let d = k.advert_int + skew_255;
            self.arm_timer(i, d, cx);
        } else {
            self.arm_master_down(i, cx);
        }
    }

    /// The interface lost its carrier: keepalived goes to FAULT.
    pub(super) fn link_lost(&mut self, i: NodeId) {
        let v = &mut self.nodes[i.index()];
        if v.state != Vrrp::Off {
            v.state = Vrrp::Fault;
            v.gen += 1;
        }
    }

    /// The carrier came back: keepalived leaves FAULT, if it `runs` (not on a node still
    /// booting, whose boot starts it).
    pub(super) fn link_back(&mut self, i: NodeId, runs: bool, cx: &mut Cx<'_>) {
        let v = &mut self.nodes[i.index()];
        if v.state == Vrrp::Fault && runs {
            v.state = Vrrp::Backup;
            self.arm_master_down(i, cx);
        }
    }

    /// `move-vip`: the track file's bonus on `i` alone; `release-vip` (`None`) takes it away.
    pub(super) fn track_file(&mut self, i: NodeId, bonus: Option<u8>) {
        if bonus.is_some() {
            for v in &mut self.nodes {
                v.prio_bonus = 0;
            }
        }
        self.nodes[i.index()].prio_bonus = bonus.unwrap_or(0);
    }
}

impl Sim {
    /// What keepalived's check script on `i` finds: HAProxy runs (and, with the local-LB
    /// check, answers for the API).
    pub(super) fn vrrp_check(&self, i: NodeId) -> bool {
        match self.model.keepalived.check {
            VrrpCheck::HaproxyAlive => self.running(i, Daemon::Haproxy),
            VrrpCheck::LocalLbHealthz => {
                self.running(i, Daemon::Haproxy) && self.api_via(i).is_ok()
            }
        }
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
