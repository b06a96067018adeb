//! The liveness check: once no fault is in force and every node is up, each component must
//! be back where a healthy cluster has it within its own bound, read from the model's timers
//! (`settle_bound`). The simulation checks each component once its bound since the last heal
//! has passed, from its state (not from the probes), and a component not back is a violation
//! that names it and says why. The simulated lab runs on after a drill's last heal until
//! every bound has passed, so every drill is checked, not only `sim explore`'s schedules.

use std::time::Duration;

use provisioner::model::{NodeId, Profile};

use super::{Sim, Vrrp};

/// A part of the cluster the liveness check watches: once no fault is in force, each must be
/// back where a healthy cluster has it within its own bound, read from the model's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// keepalived: one VRRP master among the proxies, the others backups, no stale VIP.
    Vrrp,
    /// The client's neighbour entry for the VIP: none yet, or the holder's.
    Neighbour,
    /// etcd: a leader with a quorum that no returning member is about to disrupt.
    Etcd,
    /// HAProxy: every proxy has every backend of each frontend UP.
    Lb,
    /// Ceph: mon quorum, every OSD up and in, the placement groups peered.
    Ceph,
    /// Kubernetes: every node Ready.
    Kube,
}

impl Component {
    /// Every component, in the order they are checked.
    pub const ALL: [Component; 6] = [
        Component::Vrrp,
        Component::Neighbour,
        Component::Etcd,
        Component::Lb,
        Component::Ceph,
        Component::Kube,
    ];

    /// The name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Vrrp => "keepalived",
            Component::Neighbour => "the client's neighbour entry",
            Component::Etcd => "etcd",
            Component::Lb => "HAProxy",
            Component::Ceph => "Ceph",
            Component::Kube => "Kubernetes",
        }
    }
}

/// Election rounds the liveness bound allows etcd with pre-vote off (see
/// [`Sim::settle_bound`]): a returning member's campaigns can restart the others' timers
/// again and again; eight rounds cover every seed measured, with room to spare.
pub const ETCD_ROUNDS_MAX: u32 = 8;

/// The liveness check's clock: the last heal, and how many checks were made in all.
#[derive(Clone, Debug, Default)]
pub(super) struct Liveness {
    pub(super) healed: Option<Healed>,
    /// Each component once per heal, when its bound has passed.
    pub(super) checks: u64,
}

/// The last heal: since when no fault has been in force, and the checks still to make.
#[derive(Clone, Debug)]
pub(super) struct Healed {
    /// The later of the heal and the end of the last node's boot: the bounds count from it.
    at: Duration,
    /// The checks still to make, each at its bound past `at`, latest first.
    due: Vec<(Duration, Component)>,
}

#[cfg(test)]
impl Healed {
    /// A heal at `at` with the checks `due` (latest first), for tests that set the clock.
    pub(super) fn new(at: Duration, due: Vec<(Duration, Component)>) -> Healed {
        Healed { at, due }
    }
}

impl Sim {
    /// How long `c` may take to be back, from the model's timers, counted from the later of
    /// the last heal and the end of the last node's boot.
    pub fn settle_bound(&self, c: Component) -> Duration {
        let m = &self.model;
        let k = &m.keepalived;
        // The check script passes `rise` times, a backup's master-down timer runs out (the
        // lowest priority's, the longest), and one advert settles a clash.
        let vrrp = k.check_interval * k.check_rise + m.vrrp_master_down(1) + k.advert_int;
        // Elections, each after a timeout randomised up to twice the setting. With pre-vote
        // on: one when a member is back, one more if the first split. With it off, a member
        // back with a higher term disrupts the leader at a heartbeat once its connection is
        // back (a lost SYN sent again), the others keep the old leader's lease for a timeout,
        // and the returning member's campaigns, which it cannot win (its log is behind),
        // restart their timers round after round until one of them times out first: no
        // hard bound, so [`ETCD_ROUNDS_MAX`] rounds (measured on 2,000 seeds with the seed's
        // 1 s timeout: p99 6.8 s, worst 9.9 s from the heal).
        let round = 2 * m.etcd.election_timeout;
        let etcd = if m.etcd.pre_vote {
            2 * round
        } else {
            m.etcd.heartbeat + m.machine.syn_rto + m.etcd.election_timeout + ETCD_ROUNDS_MAX * round
        };
        // The API's check asks etcd: `rise` good checks after etcd is back, one interval to
        // the first.
        let lb = etcd + m.haproxy.check_inter * (m.haproxy.check_rise + 1);
        match c {
            Component::Vrrp => vrrp,
            // Linux's neighbour entry goes stale within 1.5 × reachable time, then is probed.
            Component::Neighbour => {
                vrrp + m.machine.neigh_reachable * 3 / 2
                    + m.machine.neigh_delay_probe
                    + m.machine.neigh_probes
            }
            Component::Etcd => etcd,
            Component::Lb => lb,
            // The mons elect and take their lease, the OSD's boot message is proposed, the
            // groups peer.
            Component::Ceph => {
                m.ceph.mon_election_timeout + m.ceph.mon_lease + m.ceph.markup + m.ceph.peering
            }
            // The kubelet renews its lease through the API at the VIP: once both are back,
            // its next renewal, seen at the node controller's next pass. (Found by `sim
            // explore`: counted from the heal alone, a node whose kubelet had no VIP holder
            // to reach was still NotReady at the bound.)
            Component::Kube => {
                vrrp.max(lb) + m.kube.kubelet_lease_renew + m.kube.node_monitor_period
            }
        }
    }

    /// No fault is in force, from the nodes' raw state: powered, running, linked, whole,
    /// at their own settings.
    fn fault_free(&self) -> bool {
        self.keepalived.nodes.iter().all(|v| v.prio_bonus == 0)
            && self.nodes.iter().all(|n| {
                n.on_wire()
                    && n.loss == 0.0
                    && n.delay.is_zero()
                    && n.stopped.is_empty()
                    && !n.cordoned
                    && !n.disk_failed
                    && n.disk_latency == self.model.ceph.write_latency
            })
    }

    /// How many liveness checks of a component this simulation has made (a drill that ends
    /// before a component's bound after its last heal checks none).
    pub fn liveness_checks(&self) -> u64 {
        self.liveness.checks
    }

    /// When the last component's bound since the last heal passes, if a heal has components
    /// still to check (None with a fault in force, or all checked).
    pub fn liveness_due(&self) -> Option<Duration> {
        let healed = self.liveness.healed.as_ref()?;
        healed.due.first().map(|&(t, _)| t)
    }

    /// After anything that changes whether a fault is in force (a fault, an undo, a node
    /// powering on): the liveness clock starts when the last one is undone, and stops at
    /// the next fault. The checks' times are fixed then: no node can power on again
    /// without a fault in between.
    pub(super) fn watch_heal(&mut self) {
        match (self.fault_free(), &self.liveness.healed) {
            (true, None) => {
                // A node powered on by the heal runs its daemons once booted.
                let at = self
                    .nodes
                    .iter()
                    .map(|n| n.up_at)
                    .fold(self.now, Duration::max);
                let mut due: Vec<(Duration, Component)> = Component::ALL
                    .into_iter()
                    .map(|c| (at + self.settle_bound(c), c))
                    .collect();
                due.sort_by(|a, b| b.cmp(a));
                self.liveness.healed = Some(Healed { at, due });
            }
            (false, Some(_)) => self.liveness.healed = None,
            _ => {}
        }
    }

    /// Liveness: each component whose bound since the last heal has passed before `before`
    /// (or at it, when `inclusive`) must be back; the state is the same from the last event
    /// until then. A component not back is a violation that names it and says why.
    pub(super) fn check_liveness(&mut self, before: Duration, inclusive: bool) {
        while let Some(healed) = &mut self.liveness.healed {
            let at = healed.at;
            let Some(&(t, c)) = healed.due.last() else {
                return;
            };
            if !(t < before || inclusive && t == before) {
                return;
            }
            healed.due.pop();
            // Nothing happens between two events: the state at `t` is the state now.
            self.now = self.now.max(t);
            if let Err(why) = self.settled(c) {
                self.checker.violations.push(format!(
                    "liveness: {} not back {:.1} s (its bound) after every fault was undone and every node up, at {:.1} s: {why}",
                    c.as_str(),
                    self.settle_bound(c).as_secs_f64(),
                    at.as_secs_f64()
                ));
            }
            self.liveness.checks += 1;
        }
    }

    /// Whether component `c` is where a healthy cluster has it; Err says what is not.
    pub(super) fn settled(&self, c: Component) -> Result<(), String> {
        match c {
            Component::Vrrp => self.vrrp_settled(),
            Component::Neighbour => match (self.neighbour.entry, self.vrrp_masters().first()) {
                (Some(a), Some(&m)) if a != m => Err(format!(
                    "it points to {}, the VIP is on {}",
                    self.name(a),
                    self.name(m)
                )),
                _ => Ok(()),
            },
            Component::Etcd => {
                let Some(l) = self.etcd.leader else {
                    return Err("no leader".into());
                };
                if !self.etcd_has_quorum(l) {
                    return Err(format!("its leader {} has no quorum", self.name(l)));
                }
                match self.etcd.disrupter(l, self.peers()) {
                    Some(d) => Err(format!("{} is back with a higher term", self.name(d))),
                    None => Ok(()),
                }
            }
            Component::Lb => self.lb_settled(),
            Component::Ceph => self.ceph_settled(),
            Component::Kube => {
                if self.model.profile != Profile::Kubernetes {
                    return Ok(());
                }
                match self
                    .model
                    .node_ids()
                    .find(|&i| !self.kube.nodes[i.index()].ready)
                {
                    Some(i) => Err(format!("{} is NotReady", self.name(i))),
                    None => Ok(()),
                }
            }
        }
    }

    fn name(&self, i: NodeId) -> &str {
        &self.model.node(i).name
    }

    fn proxies(&self) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&i| self.model.node(i).proxy)
            .collect()
    }

    /// One VRRP master among the proxies, the others backups, no VIP left by a killed
    /// keepalived.
    fn vrrp_settled(&self) -> Result<(), String> {
        let proxies = self.proxies();
        let masters: Vec<&str> = proxies
            .iter()
            .filter(|&&i| self.keepalived.nodes[i.index()].state == Vrrp::Master)
            .map(|&i| self.name(i))
            .collect();
        if masters.len() != 1 && !proxies.is_empty() {
            return Err(format!("{} VRRP masters {masters:?}", masters.len()));
        }
        for &i in &proxies {
            let v = &self.keepalived.nodes[i.index()];
            if !matches!(v.state, Vrrp::Master | Vrrp::Backup) {
                return Err(format!("{} is {:?}", self.name(i), v.state));
            }
            if v.stale_vip {
                return Err(format!(
                    "{} still has the VIP of a killed keepalived",
                    self.name(i)
                ));
            }
        }
        Ok(())
    }

    /// Every proxy's HAProxy has every server of each frontend UP (the API's on the
    /// control-plane nodes, the ingress's on the workers).
    fn lb_settled(&self) -> Result<(), String> {
        for on in self.proxies() {
            for (fe, frontend) in [(0usize, "API"), (1, "ingress")] {
                for srv in self.model.node_ids() {
                    let node = self.model.node(srv);
                    let listens = if fe == 0 {
                        node.control_plane
                    } else {
                        node.worker
                    };
                    if listens && !self.lb.proxies[on.index()].checks[fe][srv.index()].up {
                        return Err(format!(
                            "{}'s HAProxy has {} DOWN in its {frontend} frontend",
                            self.name(on),
                            self.name(srv)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A mon quorum, every OSD up and in, the placement groups peered.
    fn ceph_settled(&self) -> Result<(), String> {
        if !self.mon_quorum() {
            return Err("no mon quorum".into());
        }
        let storage = self
            .model
            .node_ids()
            .filter(|&i| self.model.node(i).storage());
        for i in storage {
            if !self.ceph.osd_up[i.index()] || !self.ceph.osd_in[i.index()] {
                return Err(format!("the OSD of {} is not up and in", self.name(i)));
            }
        }
        if self.now < self.ceph.peering_until() {
            return Err("its placement groups are peering".into());
        }
        Ok(())
    }
}
