//! etcd on one disk, predicted: the three tests `hadrill bench etcd` runs on a lab, played on
//! the simulation's disk ([`crate::sim::disk`]).
//!
//! - **fio**, as etcd's documentation gives it: `--rw=write --ioengine=sync --fdatasync=1
//!   --size=22m --bs=2300`, one write at a time, each followed by `fdatasync`.
//! - **`etcdctl check perf --load=s`**: 50 clients putting 256-byte keys with 1 KiB values at
//!   150 puts a second (a rate limiter with a burst of one) for 60 s, against one member whose
//!   data directory is on the disk. It passes when the throughput is over 90 % of 150, the
//!   slowest put took at most 0.5 s and the standard deviation is at most 0.1 s (etcdctl's
//!   `check.go`).
//! - **etcd's own histograms** during that load: `etcd_disk_wal_fsync_duration_seconds` and
//!   `etcd_disk_backend_commit_duration_seconds`, whose quantiles are read as Prometheus
//!   reads them, from the buckets ([`super::histogram_quantile`]).
//!
//! How one etcd member uses its disk: its raft loop appends every proposal that arrived while
//! the last WAL write was syncing as one batch, and syncs it (one `fdatasync`: the WAL fsync
//! histogram); a put is answered once its entry is synced and applied to the backend. The
//! backend (bbolt) commits every 100 ms (`--backend-batch-interval`): its dirty pages, copied
//! on write to one run of free pages, then `fdatasync`, then the meta page at the file's start
//! and `fdatasync` again (the backend commit histogram). A commit holds the backend's lock,
//! so puts synced meanwhile wait for it to apply. Both files share the disk and its queue,
//! and on a spinning disk a commit moves the head away from the WAL: the WAL's next append
//! pays a seek back and a random part of a turn. This is why fio can look fine while etcd's
//! own figures do not (etcd issues #10204, #13455): fio's test is the WAL alone.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::{Percentiles, ETCD_BUCKETS};
use crate::sim::disk::{Disk, Mechanics, Region, Write};
use crate::sim::stream;

/// fio's file size in etcd's documented test (22 MiB).
pub const FIO_SIZE: u64 = 22 * 1024 * 1024;
/// fio's block size in etcd's documented test: about one WAL entry.
pub const FIO_BS: u64 = 2300;

/// `check perf --load=s`: puts a second (the rate limiter's).
pub const PERF_RATE: u32 = 150;
/// `check perf`: how long, in seconds.
pub const PERF_SECONDS: u32 = 60;
/// `check perf`: key size.
pub const PERF_KEY: u64 = 256;
/// `check perf`: value size.
pub const PERF_VALUE: u64 = 1024;
/// `check perf` passes above this share of its rate...
pub const PERF_RATE_SHARE: f64 = 0.9;
/// ... with no put slower than this...
pub const PERF_SLOWEST_MAX: Duration = Duration::from_millis(500);
/// ... and a standard deviation no larger than this.
pub const PERF_STDDEV_MAX: Duration = Duration::from_millis(100);

/// etcd's backend commit interval (`--backend-batch-interval`, 100 ms).
pub const BACKEND_INTERVAL: Duration = Duration::from_millis(100);
/// What a put adds to the WAL: its key and value, the raft entry's and the put request's
/// framing (about 60 bytes).
const WAL_PER_PUT: u64 = PERF_KEY + PERF_VALUE + 60;
/// What each WAL sync adds: the raft hard state record.
const WAL_PER_SYNC: u64 = 64;
/// bbolt's page size.
const PAGE: u64 = 4096;
/// Pages a backend commit writes beyond one leaf per put: the branch pages, the root and
/// the freelist.
const COMMIT_EXTRA_PAGES: u64 = 3;

/// The WAL's file. Where the test files lie: the WAL (and fio's file, which stands for it) and the backend's
/// database, in different directories, which ext4 places in different block groups: 0.5 %
/// of a 4 TB disk (20 GB) apart. A guess, stated: it sets the seek between them (about 2 ms
/// on the hdd-7200 model).
pub const WAL: Region = Region {
    start: 0.30,
    len: 0.001,
};
/// The backend's database file (see [`WAL`]).
pub const DB: Region = Region {
    start: 0.305,
    len: 0.000_1,
};

/// What `check perf` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckPerf {
    /// Puts answered a second.
    pub writes_per_s: f64,
    /// The slowest put.
    pub slowest: Duration,
    /// The puts' standard deviation.
    pub stddev: Duration,
}

impl CheckPerf {
    /// etcdctl's three rules.
    pub fn pass(&self) -> bool {
        self.writes_per_s / f64::from(PERF_RATE) > PERF_RATE_SHARE
            && self.slowest <= PERF_SLOWEST_MAX
            && self.stddev <= PERF_STDDEV_MAX
    }
}

/// The figures of an etcd bench, measured or predicted.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// fio's fdatasync latencies.
    pub fdatasync: Percentiles,
    /// etcd's WAL fsync during `check perf` (from the histogram's buckets).
    pub wal_fsync: Percentiles,
    /// etcd's backend commit during `check perf` (from the histogram's buckets).
    pub backend_commit: Percentiles,
    /// What `check perf --load=s` reported.
    pub check_perf: CheckPerf,
}

/// fio's sequential synced writes, one at a time: each write's `fdatasync` latency.
pub fn fio(mechanics: &Mechanics, rng: ChaCha8Rng) -> Vec<Duration> {
    let mut disk = Disk::new(mechanics.clone(), &[WAL], rng);
    let w = [Write::Append {
        file: 0,
        bytes: FIO_BS,
    }];
    let mut t = Duration::ZERO;
    (0..FIO_SIZE / FIO_BS)
        .map(|_| {
            let end = disk.sync(t, &w);
            let took = end - t;
            t = end;
            took
        })
        .collect()
}

/// What one member on the disk does under `check perf --load=s`.
#[derive(Debug, Default)]
pub struct Load {
    /// Each put's latency, in send order.
    pub puts: Vec<Duration>,
    /// Each WAL sync's duration.
    pub wal_fsync: Vec<Duration>,
    /// Each backend commit's duration.
    pub backend_commit: Vec<Duration>,
    /// From the first put sent to the last answered.
    pub total: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// The WAL sync in progress completes (its batch's first and last put).
    WalDone(usize, usize),
    /// A backend commit's pages are synced: its meta page follows.
    Meta,
    /// A backend commit completes (and releases the lock).
    CommitDone,
    /// The backend's commit timer.
    Tick,
    /// Put `k` is sent.
    Put(usize),
}

/// One etcd member on its disk under `check perf`: the raft loop's batch, the backend's
/// commit and its lock, and what it has recorded.
struct Member {
    disk: Disk,
    q: BinaryHeap<Reverse<(Duration, Ev)>>,
    load: Load,
    /// Puts sent and not yet in a WAL batch: from `queued` to `next`.
    queued: usize,
    next: usize,
    wal_busy: bool,
    /// Puts applied since the last commit.
    dirty: u64,
    /// The commit holding the backend's lock: when it started.
    commit: Option<Duration>,
    /// Puts synced while a commit held the lock: answered when it ends.
    blocked: Vec<usize>,
}

/// When put `k` is sent: the limiter's 150 a second, evenly.
fn sent(k: usize) -> Duration {
    Duration::from_secs(1) / PERF_RATE * k as u32
}

impl Member {
    fn answer(&mut self, k: usize, t: Duration) {
        self.load.puts[k] = t - sent(k);
        self.load.total = t;
    }

    fn on(&mut self, t: Duration, ev: Ev) {
        let n = self.load.puts.len();
        match ev {
            Ev::Put(k) => {
                self.next = k + 1;
                if self.next < n {
                    self.q.push(Reverse((sent(self.next), Ev::Put(self.next))));
                }
            }
            Ev::WalDone(a, b) => {
                self.wal_busy = false;
                for k in a..b {
                    if self.commit.is_some() {
                        self.blocked.push(k);
                    } else {
                        self.answer(k, t);
                    }
                    self.dirty += 1;
                }
            }
            Ev::Tick => {
                if self.dirty > 0 && self.commit.is_none() {
                    let bytes = (self.dirty + COMMIT_EXTRA_PAGES) * PAGE;
                    self.dirty = 0;
                    self.commit = Some(t);
                    let end = self.disk.sync(t, &[Write::Random { file: 1, bytes }]);
                    self.q.push(Reverse((end, Ev::Meta)));
                }
                // The timer runs while anything is left to do: puts to send, to sync, to
                // apply or to commit (so the load ends whatever the answers do).
                if self.next < n || self.queued < self.next || self.busy() {
                    self.q.push(Reverse((t + BACKEND_INTERVAL, Ev::Tick)));
                }
            }
            Ev::Meta => {
                let w = [Write::Head {
                    file: 1,
                    bytes: PAGE,
                }];
                let end = self.disk.sync(t, &w);
                self.q.push(Reverse((end, Ev::CommitDone)));
            }
            Ev::CommitDone => {
                let start = self.commit.take().expect("a commit was in progress");
                self.load.backend_commit.push(t - start);
                for k in std::mem::take(&mut self.blocked) {
                    self.answer(k, t);
                }
            }
        }
    }

    /// A WAL sync or a commit in progress, or puts synced and not yet committed.
    fn busy(&self) -> bool {
        self.wal_busy || self.commit.is_some() || self.dirty > 0 || !self.blocked.is_empty()
    }

    /// The raft loop: every put that arrived while the WAL was syncing, as one batch.
    fn raft(&mut self, t: Duration) {
        if self.wal_busy || self.queued >= self.next {
            return;
        }
        let bytes = (self.next - self.queued) as u64 * WAL_PER_PUT + WAL_PER_SYNC;
        let end = self.disk.sync(t, &[Write::Append { file: 0, bytes }]);
        self.load.wal_fsync.push(end - t);
        self.q
            .push(Reverse((end, Ev::WalDone(self.queued, self.next))));
        self.queued = self.next;
        self.wal_busy = true;
    }
}

/// Plays `check perf --load=s` on one member whose WAL and database are on a disk of
/// `mechanics`.
pub fn check_perf(mechanics: &Mechanics, rng: ChaCha8Rng) -> Load {
    let n = (PERF_RATE * PERF_SECONDS) as usize;
    let mut m = Member {
        disk: Disk::new(mechanics.clone(), &[WAL, DB], rng),
        q: BinaryHeap::new(),
        load: Load {
            puts: vec![Duration::ZERO; n],
            ..Load::default()
        },
        queued: 0,
        next: 0,
        wal_busy: false,
        dirty: 0,
        commit: None,
        blocked: Vec::new(),
    };
    m.q.push(Reverse((Duration::ZERO, Ev::Put(0))));
    m.q.push(Reverse((BACKEND_INTERVAL, Ev::Tick)));
    while let Some(Reverse((t, ev))) = m.q.pop() {
        m.on(t, ev);
        m.raft(t);
    }
    m.load
}

impl Load {
    /// What `check perf` prints of it.
    pub fn report(&self) -> CheckPerf {
        let n = self.puts.len().max(1) as f64;
        let secs: Vec<f64> = self.puts.iter().map(Duration::as_secs_f64).collect();
        let mean = secs.iter().sum::<f64>() / n;
        let var = secs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        CheckPerf {
            writes_per_s: n / self.total.as_secs_f64().max(1e-9),
            slowest: self.puts.iter().copied().max().unwrap_or_default(),
            stddev: Duration::from_secs_f64(var.sqrt()),
        }
    }
}

/// Every figure of the bench, predicted for a disk of `mechanics` from `seed`'s streams.
pub fn predict(mechanics: &Mechanics, seed: u64) -> Figures {
    let fdatasync = Percentiles::exact(&fio(mechanics, stream(seed, 0)));
    let load = check_perf(mechanics, stream(seed, 1));
    Figures {
        fdatasync,
        wal_fsync: Percentiles::from_histogram(&histogram_of(&load.wal_fsync)),
        backend_commit: Percentiles::from_histogram(&histogram_of(&load.backend_commit)),
        check_perf: load.report(),
    }
}

/// Samples counted into etcd's buckets, as its histograms hold them (cumulative counts per
/// upper bound, the last `+Inf`).
pub fn histogram_of(samples: &[Duration]) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = ETCD_BUCKETS
        .iter()
        .map(|&le| {
            let c = samples.iter().filter(|d| d.as_secs_f64() <= le).count();
            (le, c as u64)
        })
        .collect();
    out.push((f64::INFINITY, samples.len() as u64));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn profile(name: &str) -> Mechanics {
        crate::disk::profile(name).unwrap().mechanics.clone()
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    /// fio's test writes 22 MiB in 2300-byte writes: 10,029 of them (fio rounds the size
    /// down to whole blocks). On the 7200 rpm model each waits one turn (8.33 ms).
    #[test]
    fn fio_on_a_7200_rpm_disk_waits_a_turn_per_write() {
        let lat = fio(&profile("hdd-7200"), rng());
        assert_eq!(lat.len(), 23_068_672 / 2300);
        let p = Percentiles::exact(&lat);
        assert!((8.3..8.5).contains(&p.p50_ms()), "{p:?}");
        assert!((8.3..8.5).contains(&p.p99_ms()), "{p:?}");
    }

    /// The same load on an SSD profile: the flush figure (0.8 ms ±25 %) and the rest.
    #[test]
    fn fio_on_an_ssd_is_its_flush() {
        let p = Percentiles::exact(&fio(&profile("ssd"), rng()));
        assert!((0.6..1.1).contains(&p.p50_ms()), "{p:?}");
        assert!(p.max_ms() <= 1.1, "{p:?}");
    }

    /// check perf on the 7200 rpm model: 9,000 puts, 150 a second, all answered; the WAL
    /// syncs batch the puts that came during the last sync (one turn of 8.3 ms holds 1–2 of
    /// them at 6.7 ms apart), so fewer syncs than puts; commits every 100 ms (600 in 60 s,
    /// give or take the last).
    #[test]
    fn check_perf_on_a_7200_rpm_disk_batches_and_commits() {
        let load = check_perf(&profile("hdd-7200"), rng());
        assert_eq!(load.puts.len(), 9000);
        assert!(load.puts.iter().all(|d| !d.is_zero()));
        assert!(
            load.wal_fsync.len() < 9000 && load.wal_fsync.len() > 3000,
            "{}",
            load.wal_fsync.len()
        );
        assert!(
            (595..=601).contains(&load.backend_commit.len()),
            "{}",
            load.backend_commit.len()
        );
        let r = load.report();
        assert!(r.writes_per_s > 145.0 && r.writes_per_s < 151.0, "{r:?}");
        assert!(r.pass(), "{r:?}");
    }

    /// The commit moves the head: WAL syncs after it pay a seek back and part of a turn, and
    /// those queued behind it wait for it. etcd's own WAL figure is worse than fio's on the
    /// same disk, the gap users meet (fio fine, etcd slow).
    #[test]
    fn the_backend_commit_makes_the_wal_slower_than_fio() {
        let m = profile("hdd-7200");
        let fio = Percentiles::exact(&fio(&m, rng()));
        let load = check_perf(&m, rng());
        let wal = Percentiles::exact(&load.wal_fsync);
        assert!(wal.p99_ms() > fio.p99_ms() + 2.0, "wal {wal:?} fio {fio:?}");
        // Two positioned writes (each a short seek and up to a turn) and the transfer.
        let commit = Percentiles::exact(&load.backend_commit);
        assert!((4.0..30.0).contains(&commit.p50_ms()), "{commit:?}");
    }

    /// A disk too slow for the load fails check perf: an HDD whose every flush takes a
    /// tenth of a second (a 600 rpm spindle) answers puts later than 0.5 s.
    #[test]
    fn a_disk_too_slow_fails_check_perf() {
        let Mechanics::Hdd {
            seek_ms,
            track_seek_ms,
            media_mb_s,
            turnaround_ms,
            write_cache,
            ..
        } = profile("hdd-7200")
        else {
            panic!("hdd-7200 is a spinning disk")
        };
        let slow = Mechanics::Hdd {
            rpm: 600.0,
            seek_ms,
            track_seek_ms,
            media_mb_s,
            turnaround_ms,
            write_cache,
        };
        let r = check_perf(&slow, rng()).report();
        assert!(!r.pass(), "{r:?}");
    }

    /// Same seed, same figures.
    #[test]
    fn a_prediction_is_the_same_for_the_same_seed() {
        let m = profile("hdd-7200");
        assert_eq!(predict(&m, 3), predict(&m, 3));
    }
}
