//! The event queue and the simulation's limits: timers in time order (ties in the order
//! they were set), and the error that stops a simulation at a named limit.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

use super::{Event, NODES_MAX};

/// Most timers the queue may hold at once. What fills it is faults: each sets timers (an
/// election timer per etcd member, a mark-down per OSD, ...) and a timer made stale by a later
/// one stays queued until it is due, so many faults at one instant pile up. A scenario is
/// refused when its faults could pass this (`scenario::ACTIONS_MAX`, from
/// [`TIMERS_PER_FAULT_MAX`] and [`STEADY_TIMERS_MAX`]); 100 000 timers are a few megabytes and
/// leave room for a thousand faults on a cluster of [`NODES_MAX`](super::NODES_MAX).
pub const QUEUE_LEN_MAX: usize = 100_000;

/// Most timers a cluster of [`NODES_MAX`](super::NODES_MAX) keeps queued on its own: its periodic timers (VRRP,
/// a health check per HAProxy, backend and frontend, kubelet heartbeats, probes and their SYN
/// retries) and the churn of an election without faults being added. Measured: 622 for 16
/// nodes, 37 for the seed's 3 (a test keeps it under this).
pub const STEADY_TIMERS_MAX: usize = QUEUE_LEN_MAX / 10;

/// Most timers one fault on one node sets on a cluster of [`NODES_MAX`](super::NODES_MAX) nodes, counting those
/// its power-on sets later when the node has booted: the fault itself (a clean stop's
/// priority 0 makes each VRRP peer set its master-down timer, and a reboot its power-on:
/// `NODES_MAX`), re-examining etcd (an election timer per member and a step-down:
/// `NODES_MAX + 1`) and Ceph (a mark-down or mark-up per OSD: `NODES_MAX`), and the boot
/// (a master-down timer, etcd and Ceph again: `2 × NODES_MAX + 2`).
pub const TIMERS_PER_FAULT_MAX: usize = 5 * NODES_MAX + 3;

/// Most events one simulation may process. A scenario probes for at most a day (so that its
/// record holds its samples: `scenario::probing_max`), and a cluster of [`NODES_MAX`](super::NODES_MAX) handles
/// about 300 events per simulated second (26 million a day; the seed's 3 nodes about 20), a few
/// more per second while it has lost quorum (a test checks the margin): out of reach.
pub const EVENTS_MAX: u64 = 50_000_000;

/// Latest simulated time a simulation may reach: a quarter past the longest probing a
/// scenario may ask for (its longest probe interval, once per sample a record holds: 50
/// days), which leaves the minute a drill runs on after its last heal. Far below the 584
/// years of nanoseconds a queued timer's key holds.
pub const SIM_TIME_MAX: Duration =
    crate::scenario::PROBE_INTERVAL_MAX.saturating_mul(SAMPLES_MAX_U32 + SAMPLES_MAX_U32 / 4);

const SAMPLES_MAX_U32: u32 = {
    assert!(crate::record::SAMPLES_MAX <= u32::MAX as usize);
    crate::record::SAMPLES_MAX as u32
};

/// The simulation could not go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A limit was reached: the run stops there, and every later call returns this error.
    #[error("the simulation at {:.3} s: limit {name} ({max}) reached", at.as_secs_f64())]
    Limit {
        /// The limit's name (`QUEUE_LEN_MAX`).
        name: &'static str,
        /// Its value.
        max: u64,
        /// The simulated time it was reached.
        at: Duration,
    },
}

/// A queued timer: its event, and one key that orders by due time, then by the order timers
/// were set (the time's nanoseconds above, the sequence number below: one integer compare,
/// where a tuple of a `Duration` and a number compares three fields).
pub(super) struct Timer {
    key: u128,
    ev: Event,
}

impl Timer {
    fn at(&self) -> Duration {
        let nanos = (self.key >> 64) as u64;
        Duration::from_nanos(nanos)
    }
}

impl PartialEq for Timer {
    fn eq(&self, other: &Timer) -> bool {
        self.key == other.key
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Timer) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Timer) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// The event queue: timers in time order (ties in the order they were set), within its limits.
pub(super) struct Queue {
    pub(super) heap: BinaryHeap<Reverse<Timer>>,
    pub(super) seq: u64,
    pub(super) n_events: u64,
    /// The most timers it held at once (for tests of the limits).
    pub(super) high: usize,
}

impl Queue {
    pub(super) fn new() -> Queue {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
            n_events: 0,
            high: 0,
        }
    }

    /// Sets a timer for `at`; refused (with the limit's name) when [`QUEUE_LEN_MAX`] wait.
    pub(super) fn push(&mut self, at: Duration, ev: Event) -> Result<(), Error> {
        if self.heap.len() >= QUEUE_LEN_MAX {
            return Err(Error::Limit {
                name: "QUEUE_LEN_MAX",
                max: QUEUE_LEN_MAX as u64,
                at,
            });
        }
        self.seq += 1;
        // A timer past 2^64 ns (584 years, far past `SIM_TIME_MAX`) is never due: the last key.
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        let key = (u128::from(nanos) << 64) | u128::from(self.seq);
        self.heap.push(Reverse(Timer { key, ev }));
        self.high = self.high.max(self.heap.len());
        Ok(())
    }

    /// The next event due by `until`, counted against [`EVENTS_MAX`].
    pub(super) fn pop_until(
        &mut self,
        until: Duration,
    ) -> Result<Option<(Duration, Event)>, Error> {
        match self.heap.peek() {
            Some(Reverse(timer)) if timer.at() <= until => {}
            _ => return Ok(None),
        }
        let Reverse(timer) = self.heap.pop().expect("peeked");
        let (t, ev) = (timer.at(), timer.ev);
        if self.n_events >= EVENTS_MAX {
            return Err(Error::Limit {
                name: "EVENTS_MAX",
                max: EVENTS_MAX,
                at: t,
            });
        }
        self.n_events += 1;
        Ok(Some((t, ev)))
    }
}
