//! HAProxy on each proxy node: its health checks of every backend (a refused port fails at
//! once, a silent one at the check's timeout), `fall`/`rise`, which servers are in rotation,
//! and how a client's connection finds a server (round-robin, `retries`, `option redispatch`).

use std::time::Duration;

use provisioner::model::{LbCheck, NodeId, Profile};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::rng::jitter;
use super::{Broken, Cx, Sim};
use crate::scenario::Daemon;

/// HAProxy's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// `on`'s HAProxy checks server `srv` of frontend `fe`.
    Check { on: NodeId, fe: u8, srv: NodeId },
    /// That check of a silent server times out.
    Silent { on: NodeId, fe: u8, srv: NodeId },
}

/// HAProxy on every node (only proxies run it): what its checks say of each server.
#[derive(Clone, Debug)]
pub(super) struct Lb {
    /// One per node, by index.
    pub(super) proxies: Vec<Proxy>,
    /// Round-robin starts and check phases: HAProxy's stream alone.
    rng: ChaCha8Rng,
}

/// What one health check finds when it runs ([`Sim::lb_answer`]: the server's node and
/// daemon, and for the API's HTTP check, etcd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// This HAProxy does not run: no check, the next one at its interval.
    Off,
    /// No answer: the check fails at its timeout.
    Silent,
    /// Refused, or answered (healthy or not): the check's result now.
    Now(bool),
}

/// One HAProxy.
#[derive(Clone, Debug)]
pub(super) struct Proxy {
    /// Health of each server, per frontend (0 API, 1 ingress), by node index.
    pub(super) checks: [Vec<ServerCheck>; 2],
    /// The round-robin position, per frontend: where earlier traffic left it, which a drill
    /// does not know (a node that takes the VIP over starts anywhere in its rotation).
    pub(super) rr: [usize; 2],
}

/// One server as one HAProxy's checks see it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ServerCheck {
    pub(super) up: bool,
    pub(super) fails: u32,
    pub(super) oks: u32,
}

impl ServerCheck {
    /// A server HAProxy has just started with: UP, no check counted.
    pub(super) const UP: ServerCheck = ServerCheck {
        up: true,
        fails: 0,
        oks: 0,
    };
}

/// Round-robin positions are drawn below this: a multiple of every server count up to
/// `NODES_MAX`, so each server is as likely to be next.
const RR_START_MAX: usize = 27_720; // lcm(1..=12)

impl Lb {
    /// Every HAProxy of a cluster of `nodes`, every server UP, each at a round-robin position
    /// drawn from `rng`. Each proxy's rotation was left where its own clients' earlier
    /// requests put it: on a lab, where a planned move or an earlier drill let a backup serve
    /// the VIP for a while. Starting every backup at the first server instead made the first
    /// requests after a takeover go to a dead first node every time (kill-vip-holder: the API
    /// gap 0.8 s longer than the ingress's in every seed; the lab's runs mostly within 0.2 s).
    pub(super) fn new(nodes: usize, mut rng: ChaCha8Rng) -> Lb {
        let proxies = (0..nodes)
            .map(|_| Proxy {
                checks: [vec![ServerCheck::UP; nodes], vec![ServerCheck::UP; nodes]],
                rr: [
                    rng.random_range(0..RR_START_MAX),
                    rng.random_range(0..RR_START_MAX),
                ],
            })
            .collect();
        Lb { proxies, rng }
    }

    /// Each proxy's checks of every server, each at a random phase of its interval.
    pub(super) fn start(&mut self, proxies: &[NodeId], cx: &mut Cx<'_>) {
        for &on in proxies {
            for srv in cx.model.node_ids() {
                for fe in 0..2 {
                    let off = jitter(&mut self.rng, cx.model.haproxy.check_inter);
                    cx.at(off, Event::Check { on, fe, srv });
                }
            }
        }
    }

    /// HAProxy's timers. `answer` is what a `Check` finds now.
    pub(super) fn on(&mut self, ev: Event, answer: Answer, cx: &mut Cx<'_>) {
        let h = &cx.model.haproxy;
        let (inter, wait) = (h.check_inter, h.timeout_check.unwrap_or(h.check_inter));
        match (ev, answer) {
            (Event::Check { on, fe, srv }, Answer::Silent) => {
                cx.at(wait, Event::Silent { on, fe, srv });
            }
            (Event::Check { on, fe, srv }, Answer::Now(ok)) => {
                self.result(on, fe, srv, ok, cx);
                cx.at(inter, Event::Check { on, fe, srv });
            }
            (Event::Check { on, fe, srv }, Answer::Off) => {
                cx.at(inter, Event::Check { on, fe, srv })
            }
            (Event::Silent { on, fe, srv }, _) => {
                self.result(on, fe, srv, false, cx);
                cx.at(inter, Event::Check { on, fe, srv });
            }
        }
    }

    /// One check's result, counted towards `fall` and `rise`.
    fn result(&mut self, on: NodeId, fe: u8, srv: NodeId, ok: bool, cx: &Cx<'_>) {
        let (fall, rise) = (cx.model.haproxy.check_fall, cx.model.haproxy.check_rise);
        let broken = cx.is_broken(Broken::LbNeverRises);
        let c = &mut self.proxies[on.index()].checks[usize::from(fe)][srv.index()];
        if ok {
            c.fails = 0;
            c.oks += 1;
            if c.oks >= rise && !broken {
                c.up = true;
            }
        } else {
            c.oks = 0;
            c.fails += 1;
            if c.fails >= fall {
                c.up = false;
            }
        }
    }

    /// `i`'s HAProxy started afresh: it starts with every server UP (no state file).
    pub(super) fn restarted(&mut self, i: NodeId) {
        for c in self.proxies[i.index()].checks.iter_mut().flatten() {
            *c = ServerCheck::UP;
        }
    }
}

impl Sim {
    /// What `on`'s health check of `srv` for frontend `fe` finds now: the API's HTTP check
    /// asks etcd (`api_member`), a TCP check only the port.
    pub(super) fn lb_answer(&self, on: NodeId, fe: u8, srv: NodeId) -> Answer {
        if !self.running(on, Daemon::Haproxy) {
            return Answer::Off;
        }
        match self.backend(on, fe, srv) {
            Backend::Silent => Answer::Silent,
            Backend::Refused => Answer::Now(false),
            Backend::Open => Answer::Now(
                fe != 0
                    || self.model.haproxy.api_check == LbCheck::Tcp
                    || self.api_member(srv).is_ok(),
            ),
        }
    }

    /// What a listener on `srv` answers for frontend `fe`, seen from `on`.
    pub(super) fn backend(&self, on: NodeId, fe: u8, srv: NodeId) -> Backend {
        if !self.connected(on, srv) {
            return Backend::Silent;
        }
        let (daemon, listens) = match (fe, self.model.profile) {
            (0, Profile::Bare) => (Daemon::Etcd, self.model.node(srv).control_plane),
            (0, Profile::Kubernetes) => (Daemon::KubeApiserver, self.model.node(srv).control_plane),
            _ => (Daemon::Ingress, self.model.node(srv).worker),
        };
        if !listens || !self.running(srv, daemon) {
            return Backend::Refused;
        }
        Backend::Open
    }

    /// Whether `on`'s HAProxy sends frontend `fe`'s new connections to `srv`: UP by its checks
    /// and, in the bare profile, not drained (a drained node's servers are in maintenance).
    pub(super) fn in_rotation(&self, on: NodeId, fe: usize, srv: NodeId) -> bool {
        self.lb.proxies[on.index()].checks[fe][srv.index()].up
            && !(self.model.profile == Profile::Bare && self.nodes[srv.index()].cordoned)
    }
}

/// Where one client connection through a HAProxy ended up ([`Sim::lb_connect`]).
pub(super) struct Connect {
    /// Round-robin picks it took: the proxy's position moves on by this many.
    pub(super) picks: usize,
    /// The server that accepted it and how long the attempts before took, or why none did.
    pub(super) to: Result<(NodeId, Duration), &'static str>,
}

impl Sim {
    /// How `on`'s HAProxy connects a new client connection of frontend `fe` (0 API, 1
    /// ingress) to a server, from its round-robin position. A failed connection is retried up
    /// to `retries` times. With `option redispatch`, a round-robin backend with more than one
    /// server UP sends each retry at once to the next server (HAProxy's
    /// `stream_choose_redispatch`: "we don't care about this particular server"), so a
    /// refusing server costs the client nothing; otherwise the retries go to the same server
    /// (after HAProxy's turn-around, min(`timeout connect`, 1 s)), which refuses them too, the
    /// connection being judged at one instant, and the last one is redispatched. A silent
    /// server holds each attempt for `timeout connect`. Measured (stop-etcd-leader, lab f1,
    /// 2026-12-07, `compare --runs 3`): 0.16 s median gap with etcd refused on one of three
    /// servers until HAProxy marked it DOWN, where failing every request sent there predicted
    /// 0.6 s (0.2–0.8).
    pub(super) fn lb_connect(&self, on: NodeId, fe: u8) -> Connect {
        let up: Vec<NodeId> = self
            .model
            .node_ids()
            .filter(|&s| self.in_rotation(on, usize::from(fe), s))
            .collect();
        let api = fe == 0;
        if up.is_empty() {
            let cause = if api {
                "haproxy: no API backend UP"
            } else {
                "haproxy: no ingress backend UP"
            };
            return Connect {
                picks: 0,
                to: Err(cause),
            };
        }
        let h = &self.model.haproxy;
        let rr = self.lb.proxies[on.index()].rr[usize::from(fe)];
        let redispatch_at_once = h.redispatch && up.len() > 1;
        let (mut picks, mut retries, mut waited) = (1, 0, Duration::ZERO);
        let mut srv = up[rr % up.len()];
        loop {
            let cause = match self.backend(on, fe, srv) {
                Backend::Open => {
                    return Connect {
                        picks,
                        to: Ok((srv, waited)),
                    }
                }
                Backend::Refused if api => "haproxy sent it to a refusing server not yet DOWN",
                Backend::Refused => "haproxy sent it to a refusing ingress not yet DOWN",
                Backend::Silent => {
                    waited += h.timeout_connect;
                    if api {
                        "haproxy sent it to a silent server not yet DOWN"
                    } else {
                        "haproxy sent it to a silent ingress not yet DOWN"
                    }
                }
            };
            if retries == h.retries || waited >= self.model.probes.timeout {
                return Connect {
                    picks,
                    to: Err(cause),
                };
            }
            retries += 1;
            if redispatch_at_once || (h.redispatch && retries == h.retries) {
                srv = up[(rr + picks) % up.len()];
                picks += 1;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Backend {
    Open,
    Refused,
    Silent,
}
