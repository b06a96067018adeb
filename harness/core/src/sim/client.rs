//! The client: probes through the VIP every interval, SYN retransmission when no holder
//! answers, answers in flight (lost when their holder drops the VIP), answer times drawn from
//! their own stream, and the samples it records in send order.

use std::time::Duration;

use provisioner::model::{Machine, NodeId, Profile};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{net, rng, Error, Sim};
use crate::record::{Record, Sample, Service, SAMPLES_MAX};
use crate::scenario::Daemon;

/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Event {
    /// The next probe of every service.
    Probe,
    /// An answer the client acts on (the bare API probe's /health) arrives.
    Answer,
    /// The client's kernel sends again the SYNs of the API and ingress probes sent at `sent`
    /// that found no path to the VIP: its `tries`-th retransmission.
    ProbeAgain { sent: Duration, tries: u32 },
}

/// The client host: whether it probes, its probes' count, the samples it holds back so that
/// the record stays in time order, and its own random streams (its probes' phase and what
/// the machines add to each answer), so that probing more or less never moves a component's
/// timings.
pub(super) struct Client {
    probing: bool,
    n_probe: u64,
    pending: Vec<(Service, Sample)>,
    /// Send times of probes whose SYNs are being retransmitted: samples from then on wait in
    /// `pending`, so the record stays in time order.
    retrying: Vec<Duration>,
    /// Answers still on their way from a VIP holder: lost if it stops serving the VIP before
    /// they arrive. Samples from their send time on wait in `pending` too.
    in_flight: Vec<InFlight>,
    /// The probes' phase ([`rng::CLIENT_PHASE`]).
    phase: ChaCha8Rng,
    /// Answer times: what the machines add to each probe's answer, one stream per service
    /// ([`rng::CLIENT_ANSWERS`]).
    answers: [ChaCha8Rng; 3],
}

impl Client {
    /// Not probing, with the client's streams of `seed`.
    pub(super) fn new(seed: u64) -> Client {
        Client {
            probing: false,
            n_probe: 0,
            pending: Vec::new(),
            retrying: Vec::new(),
            in_flight: Vec::new(),
            phase: rng::stream(seed, rng::CLIENT_PHASE),
            answers: rng::CLIENT_ANSWERS.map(|n| rng::stream(seed, n)),
        }
    }

    /// Starts or stops probing every `interval`; when it starts, the first probe's delay:
    /// within an interval, at a whole millisecond drawn from the phase stream.
    fn probing(&mut self, on: bool, interval: Duration) -> Option<Duration> {
        let first = (on && !self.probing).then(|| {
            let every = interval.as_millis().max(1) as u64;
            Duration::from_millis(self.phase.random_range(0..every))
        });
        self.probing = on;
        first
    }

    /// Time an answer takes on the machines beyond what the model counts, drawn for each
    /// answer from its service's stream: from the machine's measured figures when it has
    /// them, else `4 × mean × u³` for `u` uniform in [0, 1) around the model's
    /// `machine.answer_extra_mean`: skewed like real answer times (half take under half the
    /// mean, none over four times it), from multiplications only, so every platform draws the
    /// same bits.
    fn overhead(&mut self, service: Service, m: &Machine) -> Duration {
        let (from, rng) = match service {
            Service::Api => (m.api_overhead.as_slice(), &mut self.answers[0]),
            Service::Ingress => (m.ingress_overhead.as_slice(), &mut self.answers[1]),
            Service::Ceph => (m.ceph_overhead.as_slice(), &mut self.answers[2]),
        };
        if from.is_empty() {
            let u: f64 = rng.random();
            return (4 * m.answer_extra_mean).mul_f64(u * u * u);
        }
        from[rng.random_range(0..from.len())]
    }

    /// The sample of a probe sent `at` with the result `r`: a failure at the deadline when it
    /// failed or came in after it. Held back until [`Client::flush`].
    fn sample(
        &mut self,
        service: Service,
        at: Duration,
        r: Result<Duration, &'static str>,
        timeout: Duration,
    ) {
        let sample = match r {
            Ok(l) if l <= timeout => Sample {
                at,
                ok: true,
                latency: l,
                cause: "".into(),
            },
            Ok(_) => Sample {
                at,
                ok: false,
                latency: timeout,
                cause: "slower than the probe timeout".into(),
            },
            Err(c) => Sample {
                at,
                ok: false,
                latency: timeout,
                cause: c.into(),
            },
        };
        self.pending.push((service, sample));
    }

    /// Moves into `rec` the samples sent before the oldest probe still retransmitting or in
    /// flight, in send order. Such a probe is not recorded if the drill ends first. A full
    /// record is the limit `SAMPLES_MAX`.
    fn flush(&mut self, rec: &mut Record, now: Duration) -> Result<(), Error> {
        let hold = (self.retrying.iter().copied())
            .chain(self.in_flight.iter().map(|f| f.sample.at))
            .min()
            .unwrap_or(Duration::MAX);
        // Stable: samples sent at the same moment keep their order.
        self.pending.sort_by_key(|(_, s)| s.at);
        let ready = self.pending.partition_point(|(_, s)| s.at < hold);
        for (service, sample) in self.pending.drain(..ready) {
            if rec.try_push(service, sample).is_err() {
                return Err(Error::Limit {
                    name: "SAMPLES_MAX",
                    max: SAMPLES_MAX as u64,
                    at: now,
                });
            }
        }
        Ok(())
    }

    /// When the `tries`-th retransmission of the SYNs of the probes sent at `sent` goes, if
    /// it goes before the probe's timeout (Linux doubles the timeout each time: 1 s, 3 s, 7 s
    /// after the first SYN); the probe is then held as retrying.
    fn syn_retry(
        &mut self,
        sent: Duration,
        tries: u32,
        syn_rto: Duration,
        timeout: Duration,
    ) -> Option<Duration> {
        let at = sent + syn_rto * ((1 << tries.min(16)) - 1);
        if at >= sent + timeout {
            return None;
        }
        if tries == 1 {
            self.retrying.push(sent);
        }
        Some(at)
    }

    /// The probes sent at `sent` are answered or given up: no longer retrying.
    fn retried(&mut self, sent: Duration) {
        if let Some(k) = self.retrying.iter().position(|&t| t == sent) {
            self.retrying.swap_remove(k);
        }
    }
}

/// A probe's request whose answer is on its way from the VIP holder `via`. `sample` is what
/// it will record (sent at `sample.at`, answered `sample.latency` later).
pub(super) struct InFlight {
    service: Service,
    sample: Sample,
    via: NodeId,
    /// bare API probe: its /health answer, after which the client sends the write on a new
    /// connection, which takes this much more than the model counts.
    then_write: Option<Duration>,
}

impl Sim {
    /// The client's timers.
    pub(super) fn client_event(&mut self, ev: Event) {
        match ev {
            Event::Probe => self.probe(),
            Event::Answer => {} // settle_in_flight() acts on it
            Event::ProbeAgain { sent, tries } => self.probe_again(sent, tries),
        }
    }

    /// Probes every `probes.interval`, each failed after `probes.timeout` (a scenario's
    /// `probe:`), from the next time probing starts.
    pub fn set_probes(&mut self, probes: provisioner::model::Probes) {
        self.model.probes = probes;
    }

    /// Starts or stops the probes (every `probes.interval`, through the VIP). The first goes
    /// out within an interval, at a whole millisecond drawn from the seed: as on a lab, the
    /// faults do not fall on the probes' ticks.
    pub fn set_probing(&mut self, on: bool) {
        if let Some(phase) = self.client.probing(on, self.model.probes.interval) {
            self.at(phase, Event::Probe);
        }
    }

    /// Answers that arrived by now go to `pending`; so do those whose VIP holder stopped
    /// serving the VIP (went BACKUP, died, was cut off) before they arrived: its reply can no
    /// longer come from the VIP, and the client waits for it until its timeout; and those
    /// whose holder's HAProxy stopped (reset). A /health answer that arrived sends its
    /// probe's write; if that write finds no VIP holder it fails (its SYN is not sent again:
    /// the retransmission would come 1 s later, past most of the probe's deadline).
    pub(super) fn settle_in_flight(&mut self) {
        let mut k = 0;
        while k < self.client.in_flight.len() {
            let f = &self.client.in_flight[k];
            let arrived = f.sample.at + f.sample.latency <= self.now;
            let reset = !self.running(f.via, Daemon::Haproxy);
            if !arrived && self.serves_vip(f.via) && !reset {
                k += 1;
                continue;
            }
            let InFlight {
                service,
                mut sample,
                then_write,
                ..
            } = self.client.in_flight.swap_remove(k);
            if !arrived && reset {
                // The proxy's sockets close with it: the client sees a reset at once.
                sample.ok = false;
                sample.latency = self.now - sample.at;
                sample.cause = "in flight when the VIP holder's haproxy stopped".into();
            } else if !arrived {
                sample.ok = false;
                sample.latency = self.model.probes.timeout;
                sample.cause = "in flight on a VIP holder that lost the VIP".into();
            } else if let Some(extra) = then_write {
                // A new connection: to whoever holds the VIP now, a new round-robin pick.
                let took = sample.latency;
                match self.vip_path().and_then(|y| Ok((y, self.api_request(y)?))) {
                    Ok((y, l)) => {
                        self.in_flight_or_sample(service, sample.at, y, Ok(took + l + extra), None);
                        continue;
                    }
                    Err(c) => {
                        sample.ok = false;
                        sample.latency = self.model.probes.timeout;
                        sample.cause = c.into();
                    }
                }
            }
            self.client.pending.push((service, sample));
        }
    }

    /// Moves into `rec` the samples that are final (`Client::flush`); a full record stops
    /// the simulation.
    pub(super) fn flush(&mut self, rec: &mut Record) {
        if let Err(e) = self.client.flush(rec, self.now) {
            self.stopped.get_or_insert(e);
        }
    }

    pub(super) fn probe(&mut self) {
        if !self.client.probing {
            return;
        }
        self.client.n_probe += 1;
        self.check_vip_holders();
        let sent = self.now;
        let path = self.vip_path();
        let ways = path.map(|x| (x, self.api_request(x), self.probe_ingress(x)));
        let ceph = self.ceph_write();
        self.sample(Service::Ceph, sent, ceph);
        match ways {
            Ok((x, api, ingress)) => self.answered(sent, x, api, ingress),
            // Nothing answers the SYN (it went to a node that is gone or no longer holds the
            // VIP): the client's kernel sends it again after its retransmission timeout.
            Err(_) if self.syn_retry(sent, 1) => {}
            Err(c) => self.unanswered(sent, c),
        }
        self.at(self.model.probes.interval, Event::Probe);
    }

    /// Schedules the `tries`-th retransmission of the SYNs of the probes sent at `sent`, if
    /// it goes before the probe's timeout (`Client::syn_retry`).
    pub(super) fn syn_retry(&mut self, sent: Duration, tries: u32) -> bool {
        let (rto, timeout) = (self.model.machine.syn_rto, self.model.probes.timeout);
        let Some(at) = self.client.syn_retry(sent, tries, rto, timeout) else {
            return false;
        };
        self.at(at - self.now, Event::ProbeAgain { sent, tries });
        true
    }

    pub(super) fn probe_again(&mut self, sent: Duration, tries: u32) {
        match self.vip_path() {
            Ok(x) => {
                let wait = self.now - sent;
                let api = self.api_request(x).map(|l| l + wait);
                let ingress = self.probe_ingress(x).map(|l| l + wait);
                self.answered(sent, x, api, ingress);
            }
            Err(_) if self.syn_retry(sent, tries + 1) => return,
            Err(c) => self.unanswered(sent, c),
        }
        self.client.retried(sent);
    }

    /// The API and ingress probes sent at `sent` reached the VIP holder `via`.
    pub(super) fn answered(
        &mut self,
        sent: Duration,
        via: NodeId,
        api: Result<Duration, &'static str>,
        ingress: Result<Duration, &'static str>,
    ) {
        if api.is_ok() || ingress.is_ok() {
            self.confirm_arp();
        }
        // bare: that was etcd's /health; the write follows when it is answered.
        let extra = self.overhead(Service::Api);
        let (health_extra, then_write) = if self.model.profile == Profile::Bare {
            (extra / 2, Some(extra - extra / 2))
        } else {
            (extra, None)
        };
        let api = api.map(|l| l + health_extra);
        self.in_flight_or_sample(Service::Api, sent, via, api, then_write);
        let extra = self.overhead(Service::Ingress);
        self.in_flight_or_sample(
            Service::Ingress,
            sent,
            via,
            ingress.map(|l| l + extra),
            None,
        );
    }

    /// A request of the probe sent at `sent`, answered from `via` after `r`: in flight until
    /// then (with the write to send after it, if `then_write`), else its sample.
    pub(super) fn in_flight_or_sample(
        &mut self,
        service: Service,
        sent: Duration,
        via: NodeId,
        r: Result<Duration, &'static str>,
        then_write: Option<Duration>,
    ) {
        match r {
            Ok(l)
                if l <= self.model.probes.timeout
                    && (sent + l > self.now || then_write.is_some()) =>
            {
                let sample = Sample {
                    at: sent,
                    ok: true,
                    latency: l,
                    cause: "".into(),
                };
                if then_write.is_some() {
                    self.at((sent + l).saturating_sub(self.now), Event::Answer);
                }
                self.client.in_flight.push(InFlight {
                    service,
                    sample,
                    via,
                    then_write,
                });
            }
            r => self.sample(service, sent, r),
        }
    }

    /// Time an answer takes on the machines beyond what the model counts (`Client::overhead`).
    pub(super) fn overhead(&mut self, service: Service) -> Duration {
        self.client.overhead(service, &self.model.machine)
    }

    /// The API and ingress probes sent at `sent` got no answer: `cause`.
    pub(super) fn unanswered(&mut self, sent: Duration, cause: &'static str) {
        self.sample(Service::Api, sent, Err(cause));
        self.sample(Service::Ingress, sent, Err(cause));
    }

    pub(super) fn sample(
        &mut self,
        service: Service,
        at: Duration,
        r: Result<Duration, &'static str>,
    ) {
        self.client
            .sample(service, at, r, self.model.probes.timeout);
    }

    /// One request of the API probe through `x`'s HAProxy, on a new connection: its own
    /// round-robin pick. bare: etcd's /health, and once that is answered the write (two
    /// requests); kubernetes: /readyz and its write on one connection (one request).
    pub(super) fn api_request(&mut self, x: NodeId) -> Result<Duration, &'static str> {
        if !self.running(x, Daemon::Haproxy) {
            return Err("VIP holder's haproxy is not running");
        }
        let c = self.lb_connect(x, 0);
        self.lb.proxies[x.index()].rr[0] += c.picks;
        let (srv, waited) = c.to?;
        let took = self.api_member(srv)? + waited + 2 * self.nodes[x.index()].delay;
        self.check_api_answer();
        let lost = self.loss_penalty(x, srv);
        self.within_deadline(took, lost)
    }

    pub(super) fn probe_ingress(&mut self, x: NodeId) -> Result<Duration, &'static str> {
        if !self.running(x, Daemon::Haproxy) {
            return Err("VIP holder's haproxy is not running");
        }
        let (srv, d) = self.ingress_via(x)?;
        let took = d + 2 * self.nodes[x.index()].delay;
        let lost = self.loss_penalty(x, srv);
        self.within_deadline(took, lost)
    }

    /// A request that took `took`, plus `lost` in retransmissions: failed at the deadline
    /// with the loss as its cause when the retransmissions carry it past.
    fn within_deadline(&self, took: Duration, lost: Duration) -> Result<Duration, &'static str> {
        if lost > Duration::ZERO && took + lost > self.model.probes.timeout {
            return Err(
                "packets lost on the VIP holder's link (retransmissions outlast the deadline)",
            );
        }
        Ok(took + lost)
    }

    /// What netem loss on the VIP holder `x`'s egress adds to one request through its HAProxy
    /// to server `srv`, packet by packet as TCP recovers (packets into `x` are not lost: netem
    /// acts on egress). On the request's path, `x` sends: the SYN-ACK to the client (each loss
    /// costs the client's SYN retransmission, 1 s then 3 s after the first), HAProxy's SYN to
    /// a server on another node (the same) and its request (a data segment: each loss costs
    /// the retransmission timeout, 200 ms, doubling), and the answer to the client (a data
    /// segment). Not modelled: raft's messages from an etcd leader on `x` (a quorum needs one
    /// of two followers, so a commit waits only when both copies are lost) and traefik's hop
    /// to a pod on `x`.
    fn loss_penalty(&mut self, x: NodeId, srv: NodeId) -> Duration {
        let m = &self.model.machine;
        let (syn, data) = (m.syn_rto, m.data_rto);
        let mut total = self.backoff(x, syn) + self.backoff(x, data);
        if srv != x {
            total += self.backoff(x, syn) + self.backoff(x, data);
        }
        total
    }

    /// The wait for one packet from `x` through its losses.
    fn backoff(&mut self, x: NodeId, rto: Duration) -> Duration {
        let loss = self.nodes[x.index()].loss;
        net::through_loss(&mut self.rngs.packets, loss, rto, net::Recovery::Timeout)
    }
}
