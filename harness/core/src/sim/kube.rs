//! Kubernetes: kubelet heartbeats, the node monitor's NotReady and eviction, the
//! controller-manager's lease, and the ingress controller routing to the app's pods.

use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId, Profile};

use super::{Sim, Vrrp};
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
    pub(super) fn new(model: &ClusterModel, cm_leader: Option<NodeId>) -> Kube {
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
        }
    }
}

impl Sim {
    /// Kubernetes' timers.
    pub(super) fn kube_event(&mut self, ev: Event) {
        match ev {
            Event::Heartbeat(i) => self.heartbeat(i),
            Event::NodeMonitor => self.node_monitor(),
        }
    }

    pub(super) fn heartbeat(&mut self, i: NodeId) {
        // kubelet renews its Lease through the API (the VIP); it needs a writable etcd.
        let via = self.model.node_ids().find(|&j| {
            self.keepalived.nodes[j.index()].state == Vrrp::Master && self.connected(i, j)
        });
        if self.running(i, Daemon::Kubelet) && via.is_some_and(|j| self.api_via(j).is_ok()) {
            self.kube.nodes[i.index()].last_heartbeat = self.now;
        }
        self.at(self.model.kube.kubelet_lease_renew, Event::Heartbeat(i));
    }

    pub(super) fn node_monitor(&mut self) {
        if self.controller_manager() {
            let grace = self.model.kube.node_monitor_grace;
            for n in &mut self.kube.nodes {
                n.ready = self.now.saturating_sub(n.last_heartbeat) <= grace;
            }
            self.evict();
        }
        self.at(self.model.kube.node_monitor_period, Event::NodeMonitor);
    }

    /// Leader election of kube-controller-manager (lease, renew through the API). Returns
    /// whether a leader is acting now. A new leader stamps every node "seen now", which
    /// restarts their grace clocks.
    pub(super) fn controller_manager(&mut self) -> bool {
        let can_renew = |s: &Sim, i: NodeId| {
            s.model.node(i).control_plane && s.alive(i) && s.api_member(i).is_ok()
        };
        if let Some(l) = self.kube.cm_leader.filter(|&l| can_renew(self, l)) {
            let _ = l;
            self.kube.cm_renewed = self.now;
            return true;
        }
        if self.now.saturating_sub(self.kube.cm_renewed) < self.model.kube.leader_lease {
            return false; // the old lease has not expired: nobody acts
        }
        let next = self.model.node_ids().find(|&i| can_renew(self, i));
        self.kube.cm_leader = next;
        if next.is_some() {
            self.kube.cm_renewed = self.now;
            for n in &mut self.kube.nodes {
                n.last_heartbeat = n.last_heartbeat.max(self.now);
            }
        }
        false
    }

    pub(super) fn evict(&mut self) {
        let tol = self.model.kube.node_monitor_grace + self.model.kube.eviction_toleration;
        let targets: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.kube.nodes[i.index()].ready && !self.nodes[i.index()].cordoned)
            .collect();
        for p in 0..self.kube.pods.len() {
            let n = self.kube.pods[p];
            let dead_long = self
                .now
                .saturating_sub(self.kube.nodes[n.index()].last_heartbeat)
                > tol;
            if (dead_long || self.nodes[n.index()].cordoned) && !targets.is_empty() {
                self.kube.pods[p] = targets[p % targets.len()];
            }
        }
    }

    /// The ingress through `on`'s HAProxy: the server it picked (round-robin) and the answer.
    pub(super) fn ingress_via(&mut self, on: NodeId) -> Result<(NodeId, Duration), &'static str> {
        let c = self.lb_connect(on, 1);
        self.lb.proxies[on.index()].rr[1] += c.picks;
        let (srv, waited) = c.to?;
        self.ingress_answer(srv).map(|d| (srv, d + waited))
    }

    /// What the ingress controller on `srv` answers, once HAProxy is connected to it.
    fn ingress_answer(&mut self, srv: NodeId) -> Result<Duration, &'static str> {
        if self.model.profile == Profile::Bare {
            return Ok(self.model.traefik.answer / 2);
        }
        // traefik routes to the app pods it believes ready: those on Ready nodes.
        let eps: Vec<NodeId> = self
            .kube
            .pods
            .iter()
            .copied()
            .filter(|p| self.kube.nodes[p.index()].ready)
            .collect();
        if eps.is_empty() {
            return Err("traefik: no ready endpoint");
        }
        let t = &mut self.kube.nodes[srv.index()];
        let pod = eps[t.traefik_rr % eps.len()];
        t.traefik_rr += 1;
        if !self.connected(srv, pod) {
            return Err("traefik routed to a pod on an unreachable node (waits its dial timeout)");
        }
        if !self.running(pod, Daemon::Kubelet) && !self.alive(pod) {
            return Err("traefik routed to a pod that is not running");
        }
        Ok(self.model.traefik.answer)
    }
}
