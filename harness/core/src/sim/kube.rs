//! Kubernetes: kubelet heartbeats, the node monitor's NotReady and eviction, the
//! controller-manager's lease, and the ingress controller routing to the app's pods.

use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId, Profile};
use rand_chacha::ChaCha8Rng;

use super::net::Wire;
use super::rng::jitter;
use super::{Cx, Sim, Vrrp};
use crate::scenario::Daemon;

/// Kubernetes' timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// A kubelet renews its lease.
    Heartbeat(NodeId),
    /// The node controller's pass.
    NodeMonitor,
}

/// Kubernetes' state: the controller-manager's lease, where the app's pods run, and each
/// node's kubelet and traefik as the control plane sees them.
#[derive(Clone, Debug)]
pub(super) struct Kube {
    /// kube-controller-manager's leader and when it last renewed its lease.
    pub(super) cm_leader: Option<NodeId>,
    pub(super) cm_renewed: Duration,
    /// Where the app pods behind the ingress run: one entry per pod, its node.
    pub(super) pods: Vec<NodeId>,
    /// One per node, by index.
    pub(super) nodes: Vec<KubeNode>,
    /// The kubelets' heartbeat phases: Kubernetes' stream alone.
    rng: ChaCha8Rng,
}

/// What the API lets a Kubernetes timer do now (`Sim::kube_api`): the API is reached through
/// etcd, HAProxy and the VIP, which are other components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Api {
    /// A heartbeat: whether this kubelet's lease renewal goes through (via the VIP).
    Renews(bool),
    /// The node monitor: on which nodes (bit `i`) a controller-manager could renew its lease
    /// through its local API server.
    Renewers(u64),
}

/// One node as Kubernetes sees it.
#[derive(Clone, Debug)]
pub(super) struct KubeNode {
    /// The kubelet's last lease renewal.
    pub(super) last_heartbeat: Duration,
    /// Ready, as the node controller last judged it.
    pub(super) ready: bool,
    /// The round-robin position of the traefik on this node.
    pub(super) traefik_rr: usize,
}

impl Kube {
    /// A healthy cluster: every node Ready, the app's replicas spread over the workers in
    /// turn, the controller-manager led from `cm_leader`.
    pub(super) fn new(model: &ClusterModel, cm_leader: Option<NodeId>, rng: ChaCha8Rng) -> Kube {
        let node = KubeNode {
            last_heartbeat: Duration::ZERO,
            ready: true,
            traefik_rr: 0,
        };
        Kube {
            cm_leader,
            cm_renewed: Duration::ZERO,
            pods: model
                .node_ids()
                .filter(|&i| model.node(i).worker)
                .cycle()
                .take(model.kube.app_replicas as usize)
                .collect(),
            nodes: vec![node; model.nodes.len()],
            rng,
        }
    }

    /// Each kubelet's heartbeats from a random phase, and the node monitor's passes.
    pub(super) fn start(&mut self, cx: &mut Cx<'_>) {
        for i in cx.model.node_ids() {
            let off = jitter(&mut self.rng, cx.model.kube.kubelet_lease_renew);
            cx.at(off, Event::Heartbeat(i));
        }
        cx.at(cx.model.kube.node_monitor_period, Event::NodeMonitor);
    }

    /// Kubernetes' timers, with what the API lets each do now.
    pub(super) fn on(&mut self, ev: Event, api: Api, cx: &mut Cx<'_>) {
        match (ev, api) {
            (Event::Heartbeat(i), Api::Renews(renews)) => {
                if renews {
                    self.nodes[i.index()].last_heartbeat = cx.now();
                }
                cx.at(cx.model.kube.kubelet_lease_renew, Event::Heartbeat(i));
            }
            (Event::NodeMonitor, Api::Renewers(can)) => {
                if self.controller_manager(can, cx) {
                    let grace = cx.model.kube.node_monitor_grace;
                    for n in &mut self.nodes {
                        n.ready = cx.now().saturating_sub(n.last_heartbeat) <= grace;
                    }
                    self.evict(cx.model, cx.wire);
                }
                cx.at(cx.model.kube.node_monitor_period, Event::NodeMonitor);
            }
            // Each event comes with its own kind of answer (`Sim::kube_api`).
            (Event::Heartbeat(_), Api::Renewers(_)) | (Event::NodeMonitor, Api::Renews(_)) => {}
        }
    }

    /// Leader election of kube-controller-manager (lease, renew through the API; `can` has
    /// bit `i` set where node `i` could renew). Returns whether a leader is acting now. A new
    /// leader stamps every node "seen now", which restarts their grace clocks.
    fn controller_manager(&mut self, can: u64, cx: &Cx<'_>) -> bool {
        let can_renew = |i: NodeId| can & (1 << i.index()) != 0;
        let now = cx.now();
        if self.cm_leader.is_some_and(can_renew) {
            self.cm_renewed = now;
            return true;
        }
        if now.saturating_sub(self.cm_renewed) < cx.model.kube.leader_lease {
            return false; // the old lease has not expired: nobody acts
        }
        let next = cx.model.node_ids().find(|&i| can_renew(i));
        self.cm_leader = next;
        if next.is_some() {
            self.cm_renewed = now;
            for n in &mut self.nodes {
                n.last_heartbeat = n.last_heartbeat.max(now);
            }
        }
        false
    }

    /// The app's pods on nodes dead past the toleration, or drained, move to Ready nodes.
    pub(super) fn evict(&mut self, model: &ClusterModel, wire: Wire<'_>) {
        let tol = model.kube.node_monitor_grace + model.kube.eviction_toleration;
        let cordoned = |i: NodeId| wire.nodes[i.index()].cordoned;
        let targets: Vec<NodeId> = model
            .node_ids()
            .filter(|&i| self.nodes[i.index()].ready && !cordoned(i))
            .collect();
        for p in 0..self.pods.len() {
            let n = self.pods[p];
            let dead_long = wire
                .now
                .saturating_sub(self.nodes[n.index()].last_heartbeat)
                > tol;
            if (dead_long || cordoned(n)) && !targets.is_empty() {
                self.pods[p] = targets[p % targets.len()];
            }
        }
    }

    /// What the ingress controller on `srv` answers, once HAProxy is connected to it.
    fn answer(
        &mut self,
        srv: NodeId,
        model: &ClusterModel,
        wire: Wire<'_>,
    ) -> Result<Duration, &'static str> {
        if model.profile == Profile::Bare {
            return Ok(model.traefik.answer / 2);
        }
        // traefik routes to the app pods it believes ready: those on Ready nodes.
        let eps: Vec<NodeId> = self
            .pods
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
        if !wire.connected(srv, pod) {
            return Err("traefik routed to a pod on an unreachable node (waits its dial timeout)");
        }
        if !wire.running(pod, Daemon::Kubelet) && !wire.alive(pod) {
            return Err("traefik routed to a pod that is not running");
        }
        Ok(model.traefik.answer)
    }
}

impl Sim {
    /// What the API lets Kubernetes' timer `ev` do now: a kubelet renews its lease through
    /// the VIP (the master it reaches, then HAProxy and etcd); a controller-manager through
    /// its local API server.
    pub(super) fn kube_api(&self, ev: Event) -> Api {
        match ev {
            Event::Heartbeat(i) => {
                let via = self.model.node_ids().find(|&j| {
                    self.keepalived.nodes[j.index()].state == Vrrp::Master && self.connected(i, j)
                });
                Api::Renews(
                    self.running(i, Daemon::Kubelet)
                        && via.is_some_and(|j| self.api_via(j).is_ok()),
                )
            }
            Event::NodeMonitor => Api::Renewers(
                self.model
                    .node_ids()
                    .filter(|&i| {
                        self.model.node(i).control_plane
                            && self.alive(i)
                            && self.api_member(i).is_ok()
                    })
                    .fold(0, |bits, i| bits | 1 << i.index()),
            ),
        }
    }

    /// The ingress through `on`'s HAProxy: the server it picked (round-robin) and the answer.
    pub(super) fn ingress_via(&mut self, on: NodeId) -> Result<(NodeId, Duration), &'static str> {
        let c = self.lb_connect(on, 1);
        self.lb.proxies[on.index()].rr[1] += c.picks;
        let (srv, waited) = c.to?;
        let wire = Wire {
            nodes: &self.nodes,
            now: self.now,
        };
        let answer = self.kube.answer(srv, &self.model, wire)?;
        Ok((srv, answer + waited))
    }
}
