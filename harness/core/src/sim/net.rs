//! The network between the nodes and the client's view of the VIP: whether a node is up and
//! on the network, whether two nodes hear each other, a packet's loss, and the client's
//! neighbour entry for the VIP (resolved by ARP, stale after Linux's reachable time).

use std::time::Duration;

use provisioner::model::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{machine::Machine, Sim, Vrrp};
use crate::scenario::Daemon;

/// The client's neighbour (ARP) entry for the VIP.
#[derive(Clone, Debug, Default)]
pub(super) struct Neighbour {
    /// The node it resolves the VIP to, if resolved.
    pub(super) entry: Option<NodeId>,
    /// When it goes stale (Linux: a random 0.5–1.5 × reachable time after a confirmation).
    pub(super) stale_at: Duration,
    /// When a stale entry that found no answer resolves again by broadcast.
    pub(super) resolve_at: Option<Duration>,
}

/// What a component may know of the wire: each node's raw state at `now`. [`Sim`] answers
/// through it, and so does a component's context ([`super::Cx`]).
#[derive(Clone, Copy)]
pub(super) struct Wire<'a> {
    pub(super) nodes: &'a [Machine],
    pub(super) now: Duration,
}

impl Wire<'_> {
    /// Powered, not paused, booted.
    pub(super) fn alive(&self, i: NodeId) -> bool {
        let n = &self.nodes[i.index()];
        n.powered && n.paused_since.is_none() && self.now >= n.up_at
    }

    /// Whether frames reach the node and leave it: it is up, with its carrier, not
    /// partitioned. ARP needs no more (a one-way cut drops IP only).
    pub(super) fn on_link(&self, i: NodeId) -> bool {
        let n = &self.nodes[i.index()];
        self.alive(i) && n.link && !n.isolated
    }

    /// Whether IP flows both ways between the node and the network.
    pub(super) fn on_net(&self, i: NodeId) -> bool {
        let n = &self.nodes[i.index()];
        self.on_link(i) && !n.cut_in && !n.cut_out
    }

    /// Whether an IP packet from `s` reaches `r` (one way: a VRRP advert).
    pub(super) fn delivers(&self, s: NodeId, r: NodeId) -> bool {
        let (from, to) = (&self.nodes[s.index()], &self.nodes[r.index()]);
        s == r && self.alive(s) || self.on_link(s) && self.on_link(r) && !from.cut_out && !to.cut_in
    }

    /// Whether packets flow both ways between two nodes, as a TCP connection needs (a node
    /// always reaches itself).
    pub(super) fn connected(&self, a: NodeId, b: NodeId) -> bool {
        a == b && self.alive(a) || self.on_net(a) && self.on_net(b)
    }

    /// The daemon's node is alive and the daemon not stopped.
    pub(super) fn running(&self, i: NodeId, d: Daemon) -> bool {
        self.alive(i) && !self.nodes[i.index()].stopped.contains(&d)
    }
}

/// Whether netem on the node's egress drops one packet (a draw only on a lossy link).
pub(super) fn lost(rng: &mut ChaCha8Rng, node: &Machine) -> bool {
    node.loss > 0.0 && rng.random::<f64>() < node.loss
}

impl Sim {
    /// The wire now.
    pub(super) fn wire(&self) -> Wire<'_> {
        Wire {
            nodes: &self.nodes,
            now: self.now,
        }
    }

    pub(super) fn alive(&self, i: NodeId) -> bool {
        self.wire().alive(i)
    }

    pub(super) fn on_link(&self, i: NodeId) -> bool {
        self.wire().on_link(i)
    }

    pub(super) fn on_net(&self, i: NodeId) -> bool {
        self.wire().on_net(i)
    }

    pub(super) fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.wire().connected(a, b)
    }

    pub(super) fn running(&self, i: NodeId, d: Daemon) -> bool {
        self.wire().running(i, d)
    }

    /// Whether node `i` holds the VIP (as VRRP master or a stale copy) and is on the network.
    pub(super) fn serves_vip(&self, i: NodeId) -> bool {
        self.on_net(i)
            && (self.keepalived.nodes[i.index()].state == Vrrp::Master
                || self.keepalived.nodes[i.index()].stale_vip)
    }

    /// Who answers a broadcast ARP request for the VIP: its VRRP master (ARP passes a
    /// one-way cut).
    fn arp_answer(&self) -> Option<NodeId> {
        self.model
            .node_ids()
            .find(|&i| self.on_link(i) && self.keepalived.nodes[i.index()].state == Vrrp::Master)
    }

    /// The node that answers for the VIP at the client, refreshing the neighbour entry.
    pub(super) fn vip_path(&mut self) -> Result<NodeId, &'static str> {
        let serves = Sim::serves_vip;
        if let Some(at) = self.neighbour.resolve_at {
            if self.now >= at {
                self.neighbour.entry = self.arp_answer();
                self.neighbour.resolve_at = None;
            }
        }
        if self.neighbour.entry.is_none() {
            // No entry: every request broadcasts an ARP request first.
            self.neighbour.entry = self.arp_answer();
        }
        let Some(x) = self.neighbour.entry else {
            return Err("no VIP holder answers ARP");
        };
        if serves(self, x) {
            return Ok(x);
        }
        if self.on_link(x)
            && !self.on_net(x)
            && self.keepalived.nodes[x.index()].state == Vrrp::Master
        {
            // It answers ARP and keeps the VIP, but its IP traffic is cut one way.
            return Err("the VIP holder's IP traffic is cut one way (it keeps the VIP)");
        }
        if !self.on_net(x) {
            return Err("the node clients send VIP traffic to is gone (waiting for VRRP failover)");
        }
        if self.neighbour.resolve_at.is_none() {
            let m = &self.model.machine;
            let stale = self.neighbour.stale_at.max(self.now);
            self.neighbour.resolve_at = Some(stale + m.neigh_delay_probe + m.neigh_probes);
        }
        Err("client's neighbour entry points at a node without the VIP")
    }

    pub(super) fn confirm_arp(&mut self) {
        let r = self
            .model
            .machine
            .neigh_reachable
            .mul_f64(0.5 + self.rngs.net.random::<f64>());
        self.neighbour.stale_at = self.now + r;
    }
}

/// Lost copies of one packet counted at most: six already cost 63 × the retransmission
/// timeout on a lone segment, far past any probe's deadline.
const LOSSES_COUNTED: u32 = 6;

/// How TCP finds that a copy was lost, and so what each lost copy costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Recovery {
    /// A lone segment (a new connection's request or answer): only the retransmission
    /// timeout finds the loss, and Linux doubles it each time: `rto × (2^k − 1)` after `k`
    /// lost copies in a row.
    Timeout,
    /// A stream that sends a message about every `interval` (a Ceph client's and OSDs'
    /// connections, the agent's answers): the receiver's SACK of the next message tells the
    /// sender what is missing (RACK, RFC 8985), so a lost copy is sent again after the
    /// doubled timeout or after the next message, whichever comes first; never sooner than
    /// the least timeout.
    Stream(Duration),
}

/// The wait for one packet through a link that drops each copy with probability `loss`,
/// recovered as `how` says. No draw without loss.
pub(super) fn through_loss(
    rng: &mut ChaCha8Rng,
    loss: f64,
    rto: Duration,
    how: Recovery,
) -> Duration {
    let mut wait = Duration::ZERO;
    let mut k = 0u32;
    while loss > 0.0 && k < LOSSES_COUNTED && rng.random::<f64>() < loss {
        let timer = rto * (1 << k);
        wait += match how {
            Recovery::Timeout => timer,
            Recovery::Stream(interval) => timer.min(interval.max(rto)),
        };
        k += 1;
    }
    wait
}
