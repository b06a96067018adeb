//! Kubernetes: kubelet heartbeats, the node monitor's NotReady and eviction, the
//! controller-manager's lease, and the ingress controller routing to the app's pods.

use std::time::Duration;

use provisioner::model::{NodeId, Profile};

use super::{Backend, Event, Sim, Vrrp};
use crate::scenario::Daemon;

impl Sim {
    pub(super) fn heartbeat(&mut self, i: NodeId) {
        // kubelet renews its Lease through the API (the VIP); it needs a writable etcd.
        let via = self
            .model
            .node_ids()
            .find(|&j| self.nodes[j.index()].vrrp == Vrrp::Master && self.connected(i, j));
        if self.running(i, Daemon::Kubelet) && via.is_some_and(|j| self.api_via(j).is_ok()) {
            self.nodes[i.index()].last_heartbeat = self.now;
        }
        self.at(self.model.kube.kubelet_lease_renew, Event::Heartbeat(i));
    }

    pub(super) fn node_monitor(&mut self) {
        if self.controller_manager() {
            let grace = self.model.kube.node_monitor_grace;
            for i in self.model.node_ids() {
                let n = &mut self.nodes[i.index()];
                let fresh = self.now.saturating_sub(n.last_heartbeat) <= grace;
                n.ready = fresh;
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
        if let Some(l) = self.cm_leader.filter(|&l| can_renew(self, l)) {
            let _ = l;
            self.cm_renewed = self.now;
            return true;
        }
        if self.now.saturating_sub(self.cm_renewed) < self.model.kube.leader_lease {
            return false; // the old lease has not expired: nobody acts
        }
        let next = self.model.node_ids().find(|&i| can_renew(self, i));
        self.cm_leader = next;
        if next.is_some() {
            self.cm_renewed = self.now;
            for n in &mut self.nodes {
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
            .filter(|&i| self.nodes[i.index()].ready && !self.nodes[i.index()].cordoned)
            .collect();
        for p in 0..self.pods.0.len() {
            let n = self.pods.0[p];
            let dead_long = self
                .now
                .saturating_sub(self.nodes[n.index()].last_heartbeat)
                > tol;
            if (dead_long || self.nodes[n.index()].cordoned) && !targets.is_empty() {
                self.pods.0[p] = targets[p % targets.len()];
            }
        }
    }

    /// The ingress through `on`'s HAProxy: the server it picked (round-robin) and the answer.
    pub(super) fn ingress_via(&mut self, on: NodeId) -> Result<(NodeId, Duration), &'static str> {
        let up: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&s| self.in_rotation(on, 1, s))
            .collect();
        if up.is_empty() {
            return Err("haproxy: no ingress backend UP");
        }
        let n = &mut self.nodes[on.index()];
        let srv = up[n.rr[1] % up.len()];
        n.rr[1] += 1;
        self.ingress_answer(on, srv).map(|d| (srv, d))
    }

    fn ingress_answer(&mut self, on: NodeId, srv: NodeId) -> Result<Duration, &'static str> {
        match self.backend(on, 1, srv) {
            Backend::Silent => return Err("haproxy sent it to a silent ingress not yet DOWN"),
            Backend::Refused => return Err("haproxy sent it to a refusing ingress not yet DOWN"),
            Backend::Open => {}
        }
        if self.model.profile == Profile::Bare {
            return Ok(self.model.traefik.answer / 2);
        }
        // traefik routes to the app pods it believes ready: those on Ready nodes.
        let eps: Vec<NodeId> = self
            .pods
            .0
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
        if !self.connected(srv, pod) {
            return Err("traefik routed to a pod on an unreachable node (waits its dial timeout)");
        }
        if !self.running(pod, Daemon::Kubelet) && !self.alive(pod) {
            return Err("traefik routed to a pod that is not running");
        }
        Ok(self.model.traefik.answer)
    }
}
