//! The checker: safety properties computed from the components' state, apart from the request
//! paths that they judge. A path decides whether a request is answered with its own helpers
//! (`etcd_has_quorum`, `osd_alive`, `connected`); the checker re-derives who is up and who
//! hears whom from the nodes' raw state (power, pause, boot, stopped daemons, links,
//! partitions), so a path that lets a request through wrongly is seen, not re-approved.
//!
//! Each property has a [`Broken`] rule that disables the guard it watches, so that a test can
//! show the property firing (`sim explore` finds and shrinks it).

use std::time::Duration;

use provisioner::model::NodeId;

use super::{Sim, Vrrp};
use crate::scenario::Daemon;

/// A protocol rule switched off on purpose, to show that the checker sees what follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// The API answers whatever its etcd leader's quorum.
    ApiWithoutQuorum,
    /// Ceph acknowledges writes whatever the acting set's size and health.
    CephBelowMinSize,
    /// A VRRP master hearing a higher priority keeps the VIP.
    MasterKeepsVip,
    /// An OSD that is back never sends its boot message: it stays down (liveness).
    OsdStaysDown,
    /// etcd members never campaign: a lost leader is never replaced (liveness).
    EtcdNeverElects,
    /// HAProxy never marks a DOWN server UP again (liveness).
    LbNeverRises,
}

/// The safety checker's own state: since when two VIP holders hear each other, and every
/// violation found.
#[derive(Clone, Debug, Default)]
pub(super) struct Checker {
    pub(super) masters_since: Option<Duration>,
    pub(super) violations: Vec<String>,
}

impl Sim {
    /// The same simulation with one protocol rule switched off: a broken model, for tests that
    /// show a safety property firing.
    pub fn with_broken(mut self, rule: Broken) -> Sim {
        self.broken = Some(rule);
        self
    }

    /// Whether `rule` is switched off in this simulation.
    pub(super) fn is_broken(&self, rule: Broken) -> bool {
        self.broken == Some(rule)
    }

    /// A daemon of node `i` runs, from its raw state: powered, not paused, booted, not stopped.
    fn up(&self, i: NodeId, d: Daemon) -> bool {
        let n = &self.nodes[i.index()];
        n.powered && n.paused_since.is_none() && self.now >= n.up_at && !n.stopped.contains(&d)
    }

    /// Packets flow between `a` and `b`, from their raw state (a node always hears itself).
    fn hear(&self, a: NodeId, b: NodeId) -> bool {
        a == b || self.nodes[a.index()].on_wire() && self.nodes[b.index()].on_wire()
    }

    /// Safety: an API request is answered only while the etcd leader runs and hears a quorum
    /// of running members (itself included), at that instant.
    pub(super) fn check_api_answer(&mut self) {
        // Who is a member and how many make a quorum are the model's facts; who runs and
        // who hears whom is read here from raw state.
        let members = self.etcd_members();
        let quorum = self.model.etcd_quorum();
        let held = self.etcd.leader.is_some_and(|l| {
            self.up(l, Daemon::Etcd)
                && members
                    .iter()
                    .filter(|&&j| self.up(j, Daemon::Etcd) && self.hear(l, j))
                    .count()
                    >= quorum
        });
        if !held {
            self.checker.violations.push(format!(
                "{:?}: API request answered without an etcd quorum",
                self.now
            ));
        }
    }

    /// Safety: a Ceph write is acknowledged only when at least min_size OSDs of its placement
    /// group's acting set (those the OSD map has up) run, have their disk, and hear the
    /// primary (the first of them).
    pub(super) fn check_ceph_ack(&mut self, pg: usize) {
        let acting: Vec<NodeId> = self.ceph.pgs[pg]
            .iter()
            .copied()
            .filter(|o| self.ceph.osd_up[o.index()])
            .collect();
        let Some(&primary) = acting.first() else {
            self.checker.violations.push(format!(
                "{:?}: ceph write acked with no acting OSD",
                self.now
            ));
            return;
        };
        let healthy = acting
            .iter()
            .filter(|&&o| {
                self.up(o, Daemon::CephOsd)
                    && !self.nodes[o.index()].disk_failed
                    && self.hear(primary, o)
            })
            .count();
        if healthy < self.model.ceph.pool_min_size as usize {
            self.checker.violations.push(format!(
                "{:?}: ceph write acked with {healthy} healthy OSDs of its group, below min_size",
                self.now
            ));
        }
    }

    /// Safety: two VRRP masters that hear each other settle within two advert intervals and
    /// a half (the adverts on the way).
    pub(super) fn check_vip_holders(&mut self) {
        let masters: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.keepalived.nodes[i.index()].state == Vrrp::Master)
            .collect();
        let clash = masters
            .iter()
            .any(|&a| masters.iter().any(|&b| a < b && self.hear(a, b)));
        match (clash, self.checker.masters_since) {
            (true, None) => self.checker.masters_since = Some(self.now),
            (true, Some(since))
                if self.now - since
                    > 2 * self.model.keepalived.advert_int
                        + self.model.keepalived.advert_int / 2 =>
            {
                self.checker.violations.push(format!(
                    "{:?}: two connected VIP holders since {since:?}",
                    self.now
                ));
                self.checker.masters_since = Some(self.now);
            }
            (false, _) => self.checker.masters_since = None,
            _ => {}
        }
    }
}
