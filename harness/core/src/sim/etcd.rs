//! etcd's raft: leader election with randomised timeouts, quorum, pre-vote off (a returning
//! member disrupts the leader; its log behind, it cannot win), a clean stop's leadership
//! transfer, and the API served through a member.

use std::time::Duration;

use provisioner::model::{ClusterModel, NodeId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::net::Wire;
use super::{Broken, Cx, Sim};
use crate::scenario::Daemon;

/// etcd's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// A member's randomised election timer runs out (generation).
    Campaign(NodeId, u64),
    /// A leader without quorum steps down after an election timeout.
    StepDown(NodeId),
    /// A member with a higher term reaches the leader (node) again; the term it led in.
    Disrupt(NodeId, u64),
}

/// etcd's state: the cluster's leader and term as the members agree on them, and each
/// member's own.
#[derive(Clone, Debug)]
pub(super) struct Etcd {
    pub(super) leader: Option<NodeId>,
    pub(super) term: u64,
    /// A disruption of the leader by a returning member is on its way.
    pub(super) disrupting: bool,
    /// One per node, by index (only control-plane nodes are members).
    pub(super) members: Vec<Member>,
    /// Election timeouts and disruption delays: etcd's stream alone.
    rng: ChaCha8Rng,
}

/// One member's raft state.
#[derive(Clone, Debug)]
pub(super) struct Member {
    pub(super) term: u64,
    /// Incremented at each re-armed election timer, so stale timers are ignored.
    pub(super) gen: u64,
    /// This member's log is behind: it was cut off while a leader with quorum committed.
    /// Up-to-date members refuse it their vote (Raft's election restriction).
    pub(super) behind: bool,
    /// A follower whose leader stepped down without telling it: until this time it still
    /// heeds that leader's lease and ignores vote requests; its next campaign, at a term the
    /// others have passed, is refused and only teaches it the new term.
    pub(super) stale_until: Option<Duration>,
}

impl Etcd {
    /// A converged cluster: `leader` leads at term 1, every member up to date.
    pub(super) fn new(leader: Option<NodeId>, nodes: usize, rng: ChaCha8Rng) -> Etcd {
        Etcd {
            leader,
            term: 1,
            disrupting: false,
            members: vec![
                Member {
                    term: 1,
                    gen: 0,
                    behind: false,
                    stale_until: None,
                };
                nodes
            ],
            rng,
        }
    }

    /// etcd's timers; a campaign whose generation has passed is stale, and a step-down only
    /// happens if that leader still has no quorum.
    pub(super) fn on(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::Campaign(i, g) if self.members[i.index()].gen == g => self.campaign(i, cx),
            Event::Disrupt(l, term) => self.disrupt(l, term, cx),
            Event::StepDown(i) if self.leader == Some(i) && !cx.peers().has_quorum(i) => {
                self.leader = None;
                self.elect_soon(cx);
            }
            Event::Campaign(..) | Event::StepDown(_) => {}
        }
    }

    /// `i` lost power: its election timer is gone with it.
    pub(super) fn powered_off(&mut self, i: NodeId) {
        self.members[i.index()].gen += 1;
    }

    /// Re-examines etcd after any change of power, network or process state; `clean_stop`
    /// is a member that left cleanly (a leader among them hands leadership over).
    pub(super) fn changed(&mut self, clean_stop: Option<NodeId>, cx: &mut Cx<'_>) {
        let p = cx.peers();
        match self.leader {
            Some(l) if !p.running(l) => {
                self.leader = None;
                // A clean stop hands leadership over at once; a crash waits for an election.
                let heir = p.members().into_iter().find(|&j| j != l && p.has_quorum(j));
                match (clean_stop == Some(l), heir) {
                    (true, Some(h)) => self.leader = Some(h),
                    _ => self.elect_soon(cx),
                }
            }
            Some(l) if !p.has_quorum(l) => {
                cx.at(cx.model.etcd.election_timeout, Event::StepDown(l));
                self.elect_soon(cx);
            }
            Some(l) => {
                // A member that campaigned while cut off comes back with a higher term; the
                // leader steps down when it hears from it (only with pre-vote off).
                if self.disrupter(l, p).is_some() {
                    self.disrupt_soon(l, cx);
                } else {
                    for j in p.members() {
                        if p.connected(l, j) {
                            self.members[j.index()].behind = false;
                        }
                    }
                    self.elect_soon_cut_off(cx);
                }
            }
            None => self.elect_soon(cx),
        }
    }

    /// A running member with a term above the cluster's that the leader can reach again.
    pub(super) fn disrupter(&self, l: NodeId, p: Peers<'_>) -> Option<NodeId> {
        p.members().into_iter().find(|&j| {
            self.members[j.index()].term > self.term && p.running(j) && p.connected(l, j)
        })
    }

    /// The leader hears a returning member at the next heartbeat once their connection is
    /// back: at once, or after a SYN lost in the partition is sent again.
    fn disrupt_soon(&mut self, l: NodeId, cx: &mut Cx<'_>) {
        if self.disrupting {
            return;
        }
        self.disrupting = true;
        let m = cx.model;
        let d = m.etcd.heartbeat + m.machine.syn_rto.mul_f64(self.rng.random());
        cx.at(d, Event::Disrupt(l, self.term));
    }

    /// The leader hears the returning member's higher term and steps down. It campaigns after
    /// its own timeout; the other followers heard it a heartbeat ago, so they keep its lease
    /// for an election timeout and their next campaign is at the old term; the returning
    /// member goes on with its own campaigns (its log is behind: it cannot win them).
    fn disrupt(&mut self, l: NodeId, term: u64, cx: &mut Cx<'_>) {
        let p = cx.peers();
        self.disrupting = false;
        if self.leader != Some(l) || self.term != term || self.disrupter(l, p).is_none() {
            // Things changed on the way; a leader that a returning member can still reach
            // hears it in turn.
            if let Some(now_l) = self.leader {
                if p.has_quorum(now_l) && self.disrupter(now_l, p).is_some() {
                    self.disrupt_soon(now_l, cx);
                }
            }
            return;
        }
        self.term = p
            .members()
            .iter()
            .filter(|&&j| p.connected(l, j))
            .map(|j| self.members[j.index()].term)
            .max()
            .unwrap_or(self.term);
        self.leader = None;
        let lease = cx.now() + cx.model.etcd.election_timeout;
        for j in p.members() {
            if !p.running(j) || !p.connected(l, j) || self.members[j.index()].behind {
                continue;
            }
            if j != l {
                self.members[j.index()].stale_until = Some(lease);
            }
            self.arm(j, cx);
        }
    }

    /// Followers that lost their leader campaign after a randomized election timeout.
    fn elect_soon(&mut self, cx: &mut Cx<'_>) {
        let p = cx.peers();
        for j in p.members() {
            if p.running(j) {
                self.arm(j, cx);
            }
        }
    }

    fn elect_soon_cut_off(&mut self, cx: &mut Cx<'_>) {
        let Some(l) = self.leader else { return };
        let p = cx.peers();
        for j in p.members() {
            if p.running(j) && !p.connected(l, j) {
                // The leader goes on committing without it (the probes write).
                self.members[j.index()].behind = true;
                self.arm(j, cx);
            }
        }
    }

    fn arm(&mut self, j: NodeId, cx: &mut Cx<'_>) {
        let et = cx.model.etcd.election_timeout;
        let d = et.mul_f64(1.0 + 0.9 * self.rng.random::<f64>());
        let member = &mut self.members[j.index()];
        member.gen += 1;
        let g = member.gen;
        cx.at(d, Event::Campaign(j, g));
    }

    fn campaign(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        let p = cx.peers();
        if cx.is_broken(Broken::EtcdNeverElects) || !p.running(i) {
            return;
        }
        let leader_ok = self
            .leader
            .is_some_and(|l| p.has_quorum(l) && p.connected(l, i));
        if leader_ok {
            return;
        }
        if self.members[i.index()].stale_until.take().is_some() {
            // Its vote request carries the old term: refused, with the new term in the answer.
            self.arm(i, cx);
            return;
        }
        if self.leader.is_none() && p.has_quorum(i) {
            if self.members[i.index()].behind && cx.model.etcd.pre_vote {
                // Its pre-vote is refused (its log is behind) and changes nobody's term or
                // timer: it only waits for its next timeout (etcd's raft: a PreVote does
                // not reset the receiver's election timer; only a granted vote does).
                self.arm(i, cx);
                return;
            }
            self.term = self.term.max(self.members[i.index()].term) + 1;
            self.members[i.index()].term = self.term;
            if self.members[i.index()].behind {
                // Its log is behind, so the others refuse their votes; but its higher term
                // makes them followers again and restarts their randomized timers (no lease:
                // they have no leader). One of them must time out first to win.
                let now = cx.now();
                for j in p.members() {
                    if j != i && p.running(j) && p.connected(i, j) {
                        let member = &mut self.members[j.index()];
                        if member.stale_until.is_some_and(|t| now < t) {
                            // Still in its old leader's lease: it ignores the request.
                            continue;
                        }
                        member.stale_until = None;
                        self.arm(j, cx);
                    }
                }
                self.arm(i, cx);
                return;
            }
            self.leader = Some(i);
            for j in p.members() {
                if p.connected(i, j) {
                    self.members[j.index()].behind = false;
                    self.members[j.index()].stale_until = None;
                }
            }
            return;
        }
        if !cx.model.etcd.pre_vote {
            self.members[i.index()].term += 1;
        }
        self.arm(i, cx);
    }

    /// Whether a linearizable write through member `m` commits now, and how long it takes.
    pub(super) fn write_via(
        &self,
        m: NodeId,
        p: Peers<'_>,
        broken: Option<Broken>,
    ) -> Result<Duration, &'static str> {
        if !p.running(m) {
            return Err("local etcd member down");
        }
        let Some(l) = self.leader else {
            return Err("etcd has no leader (election)");
        };
        if !p.connected(m, l) {
            return Err("etcd member cut off from the leader");
        }
        if !p.has_quorum(l) && broken != Some(Broken::ApiWithoutQuorum) {
            return Err("etcd leader without quorum");
        }
        let d = p.wire.nodes[l.index()].delay + p.wire.nodes[m.index()].delay;
        Ok(2 * p.model.etcd.fsync + 2 * d)
    }
}

/// etcd's view of the wire: who is a member, who runs, who hears whom.
#[derive(Clone, Copy)]
pub(super) struct Peers<'a> {
    pub(super) model: &'a ClusterModel,
    pub(super) wire: Wire<'a>,
}

impl Peers<'_> {
    /// The control-plane nodes.
    pub(super) fn members(&self) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&i| self.model.node(i).control_plane)
            .collect()
    }

    pub(super) fn running(&self, i: NodeId) -> bool {
        self.model.node(i).control_plane && self.wire.running(i, Daemon::Etcd)
    }

    pub(super) fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.wire.connected(a, b)
    }

    /// Running members `i` reaches, itself included.
    fn reach(&self, i: NodeId) -> usize {
        self.members()
            .into_iter()
            .filter(|&j| self.running(j) && self.connected(i, j))
            .count()
    }

    pub(super) fn has_quorum(&self, i: NodeId) -> bool {
        self.running(i) && self.reach(i) >= self.model.etcd_quorum()
    }
}

impl Sim {
    /// etcd's view of the wire now.
    pub(super) fn peers(&self) -> Peers<'_> {
        Peers {
            model: &self.model,
            wire: self.wire(),
        }
    }

    pub(super) fn etcd_members(&self) -> Vec<NodeId> {
        self.peers().members()
    }

    pub(super) fn etcd_has_quorum(&self, i: NodeId) -> bool {
        self.peers().has_quorum(i)
    }

    /// Whether a linearizable write through member `m` commits now.
    pub(super) fn api_member(&self, m: NodeId) -> Result<Duration, &'static str> {
        self.etcd.write_via(m, self.peers(), self.broken)
    }

    /// The API through `on`'s HAProxy, as a new connection from its round-robin position
    /// would get it.
    pub(super) fn api_via(&self, on: NodeId) -> Result<Duration, &'static str> {
        let (srv, waited) = self.lb_connect(on, 0).to?;
        Ok(self.api_member(srv)? + waited)
    }

    /// The etcd raft leader now.
    pub fn etcd_leader(&self) -> Option<NodeId> {
        self.etcd.leader
    }
}
