//! Ceph: monitor quorum, OSDs marked down by their peers' reports (or at once on a clean
//! stop), marked up and out, placement groups re-peering, and a replicated write that needs
//! min_size acting OSDs.

use std::time::Duration;

use provisioner::model::{Ceph as Settings, ClusterModel, NodeId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::net::Wire;
use super::{net, Broken, Cx, Sim};
use crate::record::{Service, AGENT_GRACE};
use crate::scenario::Daemon;

/// Ceph's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// The mons mark an OSD down (generation).
    MarkDown(NodeId, u64),
    /// The mons mark an OSD that is back up.
    MarkUp(NodeId),
    /// The mons mark a down OSD out after `down_out_interval` (generation).
    Out(NodeId, u64),
}

/// Ceph's state: the OSD map (who is up, who is in), each OSD's timer generation, the
/// placement groups' acting sets and when each one's peering ends; the probe's client and
/// its connections.
#[derive(Clone, Debug)]
pub(super) struct Ceph {
    pub(super) osd_up: Vec<bool>,
    pub(super) osd_in: Vec<bool>,
    /// Incremented at each re-armed mark-down or mark-out, so stale timers are ignored.
    pub(super) osd_gen: Vec<u64>,
    /// Each placement group's OSDs, primary first.
    pub(super) pgs: Vec<Vec<NodeId>>,
    /// When each placement group (same index as `pgs`) is active again after the last OSD map
    /// change that touched it: a write to it waits until then.
    pub(super) peered_at: Vec<Duration>,
    /// The node whose Ceph client writes the probe's objects (the lab's probe agent): the
    /// first storage node, and the next one on the network when it is not.
    pub(super) agent: NodeId,
    /// When the workstation gives up on the agent, its answer not in by the probe's deadline
    /// and `AGENT_GRACE`: from then on probes go to the next storage node's agent.
    pub(super) agent_gives_up: Option<Duration>,
    /// Each TCP stream of the write path, by sender and receiver (`None`: the workstation):
    /// [`Ceph::stream`] says where; `None` until its first message.
    pub(super) streams: Vec<Option<Stream>>,
    /// Placement, heartbeat phases, reports, proposals, peering, which group a write hits:
    /// Ceph's stream alone.
    rng: ChaCha8Rng,
}

/// One TCP stream of the write path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stream {
    /// When its last message was sent: how busy it is.
    pub(super) sent: Duration,
    /// When its last message is delivered; TCP delivers in order, so nothing sent on it is
    /// delivered before that.
    pub(super) delivered: Duration,
}

impl Ceph {
    /// A healthy cluster: every storage node's OSD up and in, the groups placed and peered.
    pub(super) fn new(model: &ClusterModel, mut rng: ChaCha8Rng) -> Ceph {
        let storage: Vec<bool> = model.nodes.iter().map(|n| n.storage()).collect();
        Ceph {
            osd_gen: vec![0; storage.len()],
            osd_in: storage.clone(),
            osd_up: storage,
            peered_at: vec![Duration::ZERO; model.ceph.pg_num.max(1) as usize],
            pgs: placement(model, &mut rng),
            agent: (model.node_ids())
                .find(|&i| model.node(i).storage())
                .unwrap_or(NodeId(0)),
            agent_gives_up: None,
            streams: vec![None; streams_len(model.nodes.len())],
            rng,
        }
    }

    /// Where the stream from `from` to `to` is in `streams`: a row per sender, a column per
    /// receiver and one for the workstation.
    fn stream(&self, from: NodeId, to: Option<NodeId>) -> usize {
        let row = self.osd_up.len() + 1;
        from.index() * row + to.map_or(row - 1, NodeId::index)
    }

    /// When the last placement group is active again.
    pub(super) fn peering_until(&self) -> Duration {
        self.peered_at.iter().copied().max().unwrap_or_default()
    }

    /// The placement group a write hits: drawn as the lab's probe spreads its objects.
    pub(super) fn pick_pg(&mut self) -> usize {
        self.rng.random_range(0..self.pgs.len())
    }

    /// Ceph's timers; one whose OSD generation has passed is stale.
    pub(super) fn on(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::MarkDown(i, g) if self.osd_gen[i.index()] == g => self.mark_down(i, cx),
            Event::MarkUp(i) => self.mark_up(i, cx),
            Event::Out(i, g)
                if self.osd_gen[i.index()] == g
                    && !self.osd_up[i.index()]
                    && cx.hosts().mon_quorum() =>
            {
                self.osd_in[i.index()] = false;
            }
            Event::MarkDown(..) | Event::Out(..) => {}
        }
    }

    /// After a change: an OSD that died silently is reported by its peers after the grace;
    /// one whose process exited (or that stopped cleanly) is marked down at once.
    pub(super) fn changed(&mut self, clean: bool, cx: &mut Cx<'_>) {
        let h = cx.hosts();
        for i in cx.model.node_ids() {
            let k = i.index();
            if !cx.model.node(i).storage() {
                continue;
            }
            let reachable = h.osd_alive(i) && h.wire.on_net(i);
            if self.osd_up[k] && !reachable {
                self.osd_gen[k] += 1;
                let g = self.osd_gen[k];
                let refused = h.wire.alive(i) && h.wire.on_net(i);
                let d = if clean || refused {
                    cx.model.ceph.fast_markdown
                } else {
                    self.detect(i, h)
                };
                cx.at(d, Event::MarkDown(i, g));
            } else if !self.osd_up[k] && reachable {
                self.osd_gen[k] += 1;
                cx.at(cx.model.ceph.markup, Event::MarkUp(i));
            }
        }
    }

    /// When the mons mark down the OSD of `dead`, which went silent now. Each peer OSD on
    /// another host finds the first ping it sends after the death unanswered a grace later
    /// (looked for on its tick), and sends the failure with its next report to the mons (every
    /// `osd_mon_report_interval`, on the tick). The mons act on the `min_down_reporters`-th
    /// report and propose the new map within `paxos_propose_interval`.
    fn detect(&mut self, dead: NodeId, h: Hosts<'_>) -> Duration {
        let tick = Settings::OSD_TICK;
        let model = h.model;
        let peers = model
            .node_ids()
            .filter(|&j| j != dead && model.node(j).storage())
            .filter(|&j| h.osd_alive(j) && h.wire.on_net(j))
            .count();
        let c = &model.ceph;
        let (grace, report, propose) = (
            c.osd_heartbeat_grace,
            c.osd_mon_report_interval + tick,
            c.paxos_propose_interval,
        );
        let k = usize::try_from(c.min_down_reporters).map_or(usize::MAX, |k| k.max(1));
        let mut reports: Vec<Duration> = (0..peers)
            .map(|_| {
                let noticed = self.next_ping(c) + grace + tick.mul_f64(self.rng.random());
                noticed + report.mul_f64(self.rng.random())
            })
            .collect();
        reports.sort();
        // Too few peers: the mark-down waits for them (osd_mark_down tries again each second).
        let last = reports
            .get(k.min(reports.len()).saturating_sub(1))
            .copied()
            .unwrap_or(grace);
        last + propose.mul_f64(self.rng.random())
    }

    /// How long after now a peer sends its next heartbeat ping: its pings go out after waits of
    /// 0.5 s + k/10 × interval (k random in 0..10), started at a random moment well before.
    fn next_ping(&mut self, c: &Settings) -> Duration {
        let (interval, period_max) = (c.osd_heartbeat_interval, c.ping_period_max());
        // Start two longest periods back so that the phase at `now` is the process's own.
        let mut back = (period_max * 2).mul_f64(self.rng.random());
        loop {
            let k = self.rng.random_range(0..10u32);
            let w = Settings::PING_WAIT_MIN + interval.mul_f64(f64::from(k) / 10.0);
            if w > back {
                return w - back;
            }
            back -= w;
        }
    }

    fn mark_down(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        let h = cx.hosts();
        let reachable = h.osd_alive(i) && h.wire.on_net(i);
        if reachable || !self.osd_up[i.index()] {
            return;
        }
        let reporters = cx
            .model
            .node_ids()
            .filter(|&j| j != i && self.osd_up[j.index()] && h.osd_alive(j) && h.wire.on_net(j))
            .count();
        let refused = h.wire.alive(i) && h.wire.on_net(i);
        if !h.mon_quorum() || (!refused && reporters < cx.model.ceph.min_down_reporters as usize) {
            // Not enough reporters or no quorum: try again at the next tick's report.
            let g = self.osd_gen[i.index()];
            cx.at(Settings::OSD_TICK, Event::MarkDown(i, g));
            return;
        }
        self.osd_up[i.index()] = false;
        self.repeer(i, cx);
        let g = self.osd_gen[i.index()];
        cx.at(cx.model.ceph.down_out_interval, Event::Out(i, g));
    }

    fn mark_up(&mut self, i: NodeId, cx: &mut Cx<'_>) {
        if self.osd_up[i.index()] || cx.is_broken(Broken::OsdStaysDown) {
            return;
        }
        let h = cx.hosts();
        if !(h.osd_alive(i) && h.wire.on_net(i)) {
            return;
        }
        if !h.mon_quorum() {
            // The OSD sends its boot message again on its next tick.
            cx.at(Settings::OSD_TICK, Event::MarkUp(i));
            return;
        }
        self.osd_up[i.index()] = true;
        self.osd_in[i.index()] = true;
        self.repeer(i, cx);
    }

    /// The OSD of `i` went down or came up: every placement group it serves peers again, each
    /// active at its own moment within `peering` from now (the primaries work through their
    /// groups one by one, so some are active long before the last). The lab's probe writes 64
    /// objects in turn over the groups, so a write soon after the change finds some groups
    /// active: the gap a client sees is a run of writes that all hit groups still peering,
    /// 0.4–2.2 s measured on the lab where the last group took about `peering`.
    fn repeer(&mut self, i: NodeId, cx: &Cx<'_>) {
        let until = cx.model.ceph.peering;
        for (pg, at) in self.pgs.iter().zip(self.peered_at.iter_mut()) {
            if pg.contains(&i) {
                let done = cx.now() + until.mul_f64(self.rng.random::<f64>());
                *at = (*at).max(done);
            }
        }
    }
}

/// Ceph's view of the wire: which OSDs run, whether the mons have quorum.
#[derive(Clone, Copy)]
pub(super) struct Hosts<'a> {
    pub(super) model: &'a ClusterModel,
    pub(super) wire: Wire<'a>,
}

impl Hosts<'_> {
    /// The OSD of `i` runs, on a disk that works.
    pub(super) fn osd_alive(&self, i: NodeId) -> bool {
        self.model.node(i).storage()
            && self.wire.running(i, Daemon::CephOsd)
            && !self.wire.nodes[i.index()].disk_failed
    }

    /// A majority of the monitors run and hear each other.
    pub(super) fn mon_quorum(&self) -> bool {
        let mons: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&i| self.model.node(i).storage())
            .take(self.model.ceph.n_mons as usize)
            .collect();
        mons.iter().any(|&a| {
            mons.iter()
                .filter(|&&b| self.wire.running(b, Daemon::CephMon) && self.wire.connected(a, b))
                .count()
                >= self.model.mon_quorum()
        })
    }
}

impl Sim {
    /// Ceph's view of the wire now.
    pub(super) fn hosts(&self) -> Hosts<'_> {
        Hosts {
            model: &self.model,
            wire: self.wire(),
        }
    }

    pub(super) fn osd_alive(&self, i: NodeId) -> bool {
        self.hosts().osd_alive(i)
    }

    pub(super) fn mon_quorum(&self) -> bool {
        self.hosts().mon_quorum()
    }

    /// A write of one object to the pool, from the client host: to a placement group drawn
    /// as the lab's probe spreads its objects over them.
    pub(super) fn ceph_write(&mut self) -> Result<Duration, &'static str> {
        let pg = self.ceph.pick_pg();
        self.write_to(pg)
    }

    /// A write of one object of placement group `pg`.
    pub(super) fn write_to(&mut self, pg: usize) -> Result<Duration, &'static str> {
        let acting: Vec<NodeId> = self.ceph.pgs[pg]
            .iter()
            .copied()
            .filter(|o| self.ceph.osd_up[o.index()])
            .collect();
        let guarded = !self.is_broken(Broken::CephBelowMinSize);
        if guarded && acting.len() < self.model.ceph.pool_min_size as usize {
            return Err("pg below min_size: I/O blocked");
        }
        if self.now < self.ceph.peered_at[pg] {
            return Err("pg peering after an osdmap change");
        }
        let Some(&primary) = acting.first() else {
            return Err("pg with no acting osd: I/O blocked");
        };
        if guarded && (!self.on_net(primary) || !self.osd_alive(primary)) {
            return Err("write stalled: primary osd dead but not yet marked down");
        }
        if guarded
            && acting
                .iter()
                .any(|&o| !self.osd_alive(o) || !self.connected(primary, o))
        {
            return Err("write stalled: a replica osd dead but not yet marked down");
        }
        let lat = acting
            .iter()
            .map(|o| self.nodes[o.index()].disk_latency + 2 * self.nodes[o.index()].delay)
            .max();
        let lat = lat.unwrap_or_default() + self.overhead(Service::Ceph);
        let (lost, answered) = self.ceph_lost(primary, &acting);
        self.check_ceph_ack(pg);
        let timeout = self.model.probes.timeout;
        if lost > Duration::ZERO && lat + lost > timeout {
            return Err(
                "ceph messages lost on a lossy link (retransmissions outlast the deadline)",
            );
        }
        if answered > lost && lat + answered > timeout + AGENT_GRACE {
            return Err("the agent's answer held up on a lossy link (past the deadline and grace)");
        }
        Ok(lat + lost)
    }

    /// What netem loss adds to one write, message by message on the connections a Ceph
    /// client and its OSDs keep open (`ceph_stream`): the agent's request to the primary, the
    /// primary's copy to each replica and their acks, and the primary's ack to the agent; then,
    /// apart, the agent's answer to the workstation. The lab's agent fails a write not done
    /// within the probe's deadline, and the workstation gives up on an answer not in by the
    /// deadline and `AGENT_GRACE`, and goes to the next node's agent. Returns what the losses
    /// add to the write at the agent, and to its answer at the workstation.
    fn ceph_lost(&mut self, primary: NodeId, acting: &[NodeId]) -> (Duration, Duration) {
        let agent = self.ceph_agent();
        let start = self.now;
        let at = self.ceph_send(agent, primary, start);
        let mut done = at;
        for &r in acting.iter().filter(|&&r| r != primary) {
            let there = self.ceph_send(primary, r, at);
            done = done.max(self.ceph_send(r, primary, there));
        }
        let back = self.ceph_send(primary, agent, done);
        let timeout = self.model.probes.timeout;
        let answered = self.ceph_stream(agent, None, back.min(start + timeout));
        let gives_up = start + timeout + AGENT_GRACE;
        if answered > gives_up && self.ceph.agent_gives_up.is_none() {
            self.ceph.agent_gives_up = Some(gives_up);
        }
        (back - start, answered - start)
    }

    /// The probe's client: where it was, the next storage node's once the workstation gave
    /// up on it, and the next one on the network when it is not.
    pub(super) fn ceph_agent(&mut self) -> NodeId {
        let mut from = self.ceph.agent.index();
        if self.ceph.agent_gives_up.is_some_and(|t| t <= self.now) {
            self.ceph.agent_gives_up = None;
            from += 1;
        }
        let n = self.model.nodes.len();
        let mut ids = self.model.node_ids().cycle().skip(from).take(n);
        let next = ids.find(|&i| self.model.node(i).storage() && self.on_net(i));
        if let Some(i) = next {
            self.ceph.agent = i;
        }
        self.ceph.agent
    }

    /// A message from `from` to `to` (a node reaches itself at once).
    fn ceph_send(&mut self, from: NodeId, to: NodeId, at: Duration) -> Duration {
        if from == to {
            return at;
        }
        self.ceph_stream(from, Some(to), at)
    }

    /// When a message sent at `at` on the stream from `from` to `to` is delivered: once the
    /// copies of it that `from`'s egress loses have been sent again (each found by the
    /// timeout or by the SACK of the stream's next message, expected as long after as this
    /// one came after the last), and not before the stream's earlier messages (TCP delivers
    /// in order; a later message that got through is held, not sent again).
    fn ceph_stream(&mut self, from: NodeId, to: Option<NodeId>, at: Duration) -> Duration {
        let (loss, rto) = (self.nodes[from.index()].loss, self.model.machine.data_rto);
        let slot = self.ceph.stream(from, to);
        let last = self.ceph.streams[slot];
        let interval = last.map_or(Duration::MAX, |l| at.saturating_sub(l.sent));
        let how = net::Recovery::Stream(interval);
        let own = at + net::through_loss(&mut self.rngs.ceph_packets, loss, rto, how);
        let delivered = last.map_or(own, |l| l.delivered.max(own));
        self.ceph.streams[slot] = Some(Stream {
            sent: at,
            delivered,
        });
        delivered
    }
}

/// How many streams `n` nodes' write path can have: each node to each node and to the
/// workstation.
fn streams_len(n: usize) -> usize {
    n * (n + 1)
}

/// A CRUSH stand-in: each PG gets `size` OSDs on distinct hosts, picked by the seeded generator.
pub(super) fn placement(model: &ClusterModel, rng: &mut ChaCha8Rng) -> Vec<Vec<NodeId>> {
    let osds: Vec<NodeId> = model
        .node_ids()
        .filter(|&i| model.node(i).storage())
        .collect();
    let size = (model.ceph.pool_size as usize).min(osds.len());
    (0..model.ceph.pg_num.max(1))
        .map(|_| {
            let mut pool = osds.clone();
            let mut pg = Vec::with_capacity(size);
            for _ in 0..size {
                let k = rng.random_range(0..pool.len());
                pg.push(pool.swap_remove(k));
            }
            pg
        })
        .collect()
}
