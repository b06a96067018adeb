//! The simulation's random streams: one per component and one for the probes' answer times,
//! each derived from the one seed (ChaCha8's stream number), so that drawing more or less in
//! one component never moves another's timings.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// keepalived's stream, which it owns (`vrrp::Keepalived`): advert and check-script phases,
/// timer slack, advert transit, GARP lag.
pub(super) const VRRP: u64 = 2;

/// HAProxy's stream, which it owns (`lb::Lb`): round-robin starts and check phases.
pub(super) const LB: u64 = 3;

/// etcd's stream, which it owns (`etcd::Etcd`): election timeouts, disruption delays.
pub(super) const ETCD: u64 = 4;

/// Kubernetes' stream, which it owns (`kube::Kube`): kubelet heartbeat phases.
pub(super) const KUBE: u64 = 6;

/// Ceph's stream, which it owns (`ceph::Ceph`): placement, heartbeat phases, reports,
/// proposals, peering, which group a write hits.
pub(super) const CEPH: u64 = 5;

/// The client's streams, which it owns (`client::Client`): its probes' phase, and what the
/// machines add to each answer, one per service (API, ingress, Ceph), so that one service's
/// outcome never moves another's.
pub(super) const CLIENT_PHASE: u64 = 8;
pub(super) const CLIENT_ANSWERS: [u64; 3] = [1, 10, 11];

/// Stream `n` of `seed`.
pub(crate) fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

/// The streams no component owns: the network's and the scenario's (keepalived, HAProxy,
/// etcd, Ceph, Kubernetes and the client own theirs: [`VRRP`], [`LB`], [`ETCD`], [`CEPH`],
/// [`KUBE`], [`CLIENT_PHASE`], [`CLIENT_ANSWERS`]).
/// Stream numbers are fixed: renumbering one changes every figure drawn from it.
pub(super) struct Rngs {
    /// The network: packet loss, neighbour-cache reachable times (7).
    pub(super) net: ChaCha8Rng,
    /// Which of the probes' packets netem drops on a lossy link (12): apart from VRRP's adverts
    /// on the same link, so probing more or less never moves a takeover.
    pub(super) packets: ChaCha8Rng,
    /// Which of Ceph's messages on the probe's write path netem drops (13).
    pub(super) ceph_packets: ChaCha8Rng,
    /// Scenario targets: the node `any` names (9).
    pub(super) targets: ChaCha8Rng,
}

impl Rngs {
    /// Every stream of `seed`.
    pub(super) fn new(seed: u64) -> Rngs {
        let stream = |n: u64| stream(seed, n);
        Rngs {
            net: stream(7),
            packets: stream(12),
            ceph_packets: stream(13),
            targets: stream(9),
        }
    }
}

/// A random offset in `[0, d)`, to spread periodic timers.
pub(super) fn jitter(rng: &mut ChaCha8Rng, d: std::time::Duration) -> std::time::Duration {
    d.mul_f64(rng.random::<f64>())
}

pub(super) fn any_of<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}
