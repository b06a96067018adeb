//! etcd's raft: leader election with randomised timeouts, quorum, pre-vote off (a returning
//! member disrupts the leader; its log behind, it cannot win), a clean stop's leadership
//! transfer, and the API served through a member.

use std::time::Duration;

use provisioner::model::NodeId;
use rand::Rng;

use super::{Broken, Sim};
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
    pub(super) fn new(leader: Option<NodeId>, nodes: usize) -> Etcd {
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
        }
    }
}

impl Sim {
    /// etcd's timers; a campaign whose generation has passed is stale, and a step-down only
    /// happens if that leader still has no quorum.
    pub(super) fn etcd_event(&mut self, ev: Event) {
        match ev {
            Event::Campaign(i, g) if self.etcd.members[i.index()].gen == g => {
                self.etcd_campaign(i);
            }
            Event::Disrupt(l, term) => self.etcd_disrupt(l, term),
            Event::StepDown(i) if self.etcd.leader == Some(i) && !self.etcd_has_quorum(i) => {
                self.etcd.leader = None;
                self.etcd_elect_soon();
            }
            Event::Campaign(..) | Event::StepDown(_) => {}
        }
    }

    pub(super) fn etcd_members(&self) -> Vec<NodeId> {
        self.model
            .node_ids()
            .filter(|&i| self.model.node(i).control_plane)
            .collect()
    }

    pub(super) fn etcd_running(&self, i: NodeId) -> bool {
        self.model.node(i).control_plane && self.running(i, Daemon::Etcd)
    }

    pub(super) fn etcd_reach(&self, i: NodeId) -> usize {
        self.etcd_members()
            .into_iter()
            .filter(|&j| self.etcd_running(j) && self.connected(i, j))
            .count()
    }

    pub(super) fn etcd_has_quorum(&self, i: NodeId) -> bool {
        self.etcd_running(i) && self.etcd_reach(i) >= self.model.etcd_quorum()
    }

    /// Re-examines etcd after any change of power, network or process state.
    pub(super) fn etcd_changed(&mut self, clean_stop: Option<NodeId>) {
        match self.etcd.leader {
            Some(l) if !self.etcd_running(l) => {
                self.etcd.leader = None;
                // A clean stop hands leadership over at once; a crash waits for an election.
                let heir = self
                    .etcd_members()
                    .into_iter()
                    .find(|&j| j != l && self.etcd_has_quorum(j));
                match (clean_stop == Some(l), heir) {
                    (true, Some(h)) => self.etcd.leader = Some(h),
                    _ => self.etcd_elect_soon(),
                }
            }
            Some(l) if !self.etcd_has_quorum(l) => {
                self.at(self.model.etcd.election_timeout, Event::StepDown(l));
                self.etcd_elect_soon();
            }
            Some(l) => {
                // A member that campaigned while cut off comes back with a higher term; the
                // leader steps down when it hears from it (only with pre-vote off).
                if self.etcd_disrupter(l).is_some() {
                    self.etcd_disrupt_soon(l);
                } else {
                    for j in self.etcd_members() {
                        if self.connected(l, j) {
                            self.etcd.members[j.index()].behind = false;
                        }
                    }
                    self.etcd_elect_soon_cut_off();
                }
            }
            None => self.etcd_elect_soon(),
        }
    }

    /// A running member with a term above the cluster's that the leader can reach again.
    pub(super) fn etcd_disrupter(&self, l: NodeId) -> Option<NodeId> {
        self.etcd_members().into_iter().find(|&j| {
            self.etcd.members[j.index()].term > self.etcd.term
                && self.etcd_running(j)
                && self.connected(l, j)
        })
    }

    /// The leader hears a returning member at the next heartbeat once their connection is
    /// back: at once, or after a SYN lost in the partition is sent again.
    pub(super) fn etcd_disrupt_soon(&mut self, l: NodeId) {
        if self.etcd.disrupting {
            return;
        }
        self.etcd.disrupting = true;
        let m = &self.model;
        let d = m.etcd.heartbeat + m.machine.syn_rto.mul_f64(self.rngs.etcd.random());
        self.at(d, Event::Disrupt(l, self.etcd.term));
    }

    /// The leader hears the returning member's higher term and steps down. It campaigns after
    /// its own timeout; the other followers heard it a heartbeat ago, so they keep its lease
    /// for an election timeout and their next campaign is at the old term; the returning
    /// member goes on with its own campaigns (its log is behind: it cannot win them).
    pub(super) fn etcd_disrupt(&mut self, l: NodeId, term: u64) {
        self.etcd.disrupting = false;
        if self.etcd.leader != Some(l) || self.etcd.term != term || self.etcd_disrupter(l).is_none()
        {
            // Things changed on the way; a leader that a returning member can still reach
            // hears it in turn.
            if let Some(now_l) = self.etcd.leader {
                if self.etcd_has_quorum(now_l) && self.etcd_disrupter(now_l).is_some() {
                    self.etcd_disrupt_soon(now_l);
                }
            }
            return;
        }
        self.etcd.term = self
            .etcd_members()
            .iter()
            .filter(|&&j| self.connected(l, j))
            .map(|j| self.etcd.members[j.index()].term)
            .max()
            .unwrap_or(self.etcd.term);
        self.etcd.leader = None;
        let lease = self.now + self.model.etcd.election_timeout;
        for j in self.etcd_members() {
            if !self.etcd_running(j) || !self.connected(l, j) || self.etcd.members[j.index()].behind
            {
                continue;
            }
            if j != l {
                self.etcd.members[j.index()].stale_until = Some(lease);
            }
            self.etcd_arm(j);
        }
    }

    /// Followers that lost their leader campaign after a randomized election timeout.
    pub(super) fn etcd_elect_soon(&mut self) {
        for j in self.etcd_members() {
            if self.etcd_running(j) {
                self.etcd_arm(j);
            }
        }
    }

    pub(super) fn etcd_elect_soon_cut_off(&mut self) {
        let Some(l) = self.etcd.leader else { return };
        for j in self.etcd_members() {
            if self.etcd_running(j) && !self.connected(l, j) {
                // The leader goes on committing without it (the probes write).
                self.etcd.members[j.index()].behind = true;
                self.etcd_arm(j);
            }
        }
    }

    pub(super) fn etcd_arm(&mut self, j: NodeId) {
        let et = self.model.etcd.election_timeout;
        let d = et.mul_f64(1.0 + 0.9 * self.rngs.etcd.random::<f64>());
        let member = &mut self.etcd.members[j.index()];
        member.gen += 1;
        let g = member.gen;
        self.at(d, Event::Campaign(j, g));
    }

    pub(super) fn etcd_campaign(&mut self, i: NodeId) {
        if self.is_broken(Broken::EtcdNeverElects) {
            return;
        }
        if !self.etcd_running(i) {
            return;
        }
        let leader_ok = self
            .etcd
            .leader
            .is_some_and(|l| self.etcd_has_quorum(l) && self.connected(l, i));
        if leader_ok {
            return;
        }
        if self.etcd.members[i.index()].stale_until.take().is_some() {
            // Its vote request carries the old term: refused, with the new term in the answer.
            self.etcd_arm(i);
            return;
        }
        if self.etcd.leader.is_none() && self.etcd_has_quorum(i) {
            if self.etcd.members[i.index()].behind && self.model.etcd.pre_vote {
                // Its pre-vote is refused (its log is behind) and changes nobody's term or
                // timer: it only waits for its next timeout (etcd's raft: a PreVote does
                // not reset the receiver's election timer; only a granted vote does).
                self.etcd_arm(i);
                return;
            }
            self.etcd.term = self.etcd.term.max(self.etcd.members[i.index()].term) + 1;
            self.etcd.members[i.index()].term = self.etcd.term;
            if self.etcd.members[i.index()].behind {
                // Its log is behind, so the others refuse their votes; but its higher term
                // makes them followers again and restarts their randomized timers (no lease:
                // they have no leader). One of them must time out first to win.
                let now = self.now;
                for j in self.etcd_members() {
                    if j != i && self.etcd_running(j) && self.connected(i, j) {
                        let member = &mut self.etcd.members[j.index()];
                        if member.stale_until.is_some_and(|t| now < t) {
                            // Still in its old leader's lease: it ignores the request.
                            continue;
                        }
                        member.stale_until = None;
                        self.etcd_arm(j);
                    }
                }
                self.etcd_arm(i);
                return;
            }
            self.etcd.leader = Some(i);
            for j in self.etcd_members() {
                if self.connected(i, j) {
                    self.etcd.members[j.index()].behind = false;
                    self.etcd.members[j.index()].stale_until = None;
                }
            }
            return;
        }
        if !self.model.etcd.pre_vote {
            self.etcd.members[i.index()].term += 1;
        }
        self.etcd_arm(i);
    }

    /// Whether a linearizable write through member `m` commits now.
    pub(super) fn api_member(&self, m: NodeId) -> Result<Duration, &'static str> {
        if !self.etcd_running(m) {
            return Err("local etcd member down");
        }
        let Some(l) = self.etcd.leader else {
            return Err("etcd has no leader (election)");
        };
        if !self.connected(m, l) {
            return Err("etcd member cut off from the leader");
        }
        if !self.etcd_has_quorum(l) && !self.is_broken(Broken::ApiWithoutQuorum) {
            return Err("etcd leader without quorum");
        }
        let d = self.nodes[l.index()].delay + self.nodes[m.index()].delay;
        Ok(2 * self.model.etcd.fsync + 2 * d)
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
