//! The disk: one node's storage device as a single queue of synchronous writes, each a list
//! of writes followed by a flush (what `fdatasync` asks of the device), served in order.
//!
//! A spinning disk ([`Mechanics::Hdd`]) has a head over a position (a fraction of the
//! stroke) and a platter turning once every `60 / rpm` seconds. A write waits for the head to
//! seek to its position, then for its sector to come round, then for its bytes to pass.
//! Sectors sit at fixed angles: the sector after the last one written to a file is at the
//! angle where that write ended, so a sequential synced append that comes back after the
//! host's turnaround has just missed it and waits almost a whole turn (7200 rpm: 8.3 ms),
//! which is why a spinning disk's `fdatasync` is slow even when nothing else moves the head.
//! A write to a random place waits a uniform part of a turn (on average half: 4.17 ms).
//! Seek time grows with the square root of the distance (the arm accelerates then brakes),
//! from the track-to-track time to a full stroke, scaled so that a seek between two random
//! positions averages the datasheet's `seek_ms` (E√|X−Y| = 8/15 for X, Y uniform).
//!
//! The write cache changes nothing for synced writes as long as flushes are honoured: the
//! flush waits for the media either way. A cache that acknowledges flushes before the media
//! has the data (`lying`: a controller or hypervisor that drops them) costs only the
//! transfer, and loses acknowledged writes on power loss.
//!
//! A solid-state disk ([`Mechanics::Ssd`]) has no positioning: each flush costs
//! `flush_ms`, spread ±25 % by the disk's stream.
//!
//! **Invariant:** time only from the callers' `at`, randomness only from the disk's stream.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// E√|X−Y| for X, Y independent and uniform on [0, 1]: the mean square-root seek distance
/// between two random positions.
const MEAN_SQRT_DISTANCE: f64 = 8.0 / 15.0;

/// How a disk's cache treats a synced write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteCache {
    /// Write-through: each write reaches the media before it completes.
    Off,
    /// Write-back, flushes honoured: the flush waits for the media.
    On,
    /// Write-back, flushes acknowledged at once (unsafe: a power loss loses them).
    Lying,
}

/// What a disk is made of (a disk profile's `model`).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Mechanics {
    /// A spinning disk.
    Hdd {
        /// Spindle speed (revolutions per minute).
        rpm: f64,
        /// Average seek between two random positions (the datasheet's figure), ms.
        seek_ms: f64,
        /// Seek to the next track, ms.
        track_seek_ms: f64,
        /// Sustained media rate, MB/s (10^6 bytes).
        media_mb_s: f64,
        /// The host's time between one request's completion and the next one's start
        /// (system call, block layer, bus), ms.
        turnaround_ms: f64,
        /// The write cache.
        write_cache: WriteCache,
    },
    /// A solid-state disk.
    Ssd {
        /// Mean time of one flush, ms.
        flush_ms: f64,
        /// Sustained write rate, MB/s.
        media_mb_s: f64,
        /// As for a spinning disk.
        turnaround_ms: f64,
        /// The write cache (`lying`: flushes cost nothing).
        write_cache: WriteCache,
    },
}

/// Where on the disk a file lies: its first position (fraction of the stroke) and its
/// length (fraction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    /// First position, in [0, 1).
    pub start: f64,
    /// Length, a fraction of the disk.
    pub len: f64,
}

/// One write of a synced request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Write {
    /// `bytes` appended to the file of slot `file` (its next sectors).
    Append {
        /// Which file (an index into the files the disk was made with).
        file: usize,
        /// How much.
        bytes: u64,
    },
    /// `bytes` at a random place of the file of slot `file` (a database page).
    Random {
        /// Which file.
        file: usize,
        /// How much.
        bytes: u64,
    },
    /// `bytes` at the start of the file of slot `file` (a database's meta page).
    Head {
        /// Which file.
        file: usize,
        /// How much.
        bytes: u64,
    },
}

/// A file's place and where its next append goes.
#[derive(Clone, Debug)]
struct File {
    region: Region,
    /// Position of its next append.
    next: f64,
    /// Angle (fraction of a turn) where its last append ended: its next sector's.
    next_angle: f64,
}

/// One disk: its mechanics, files, head and queue.
#[derive(Clone, Debug)]
pub struct Disk {
    mechanics: Mechanics,
    files: Vec<File>,
    /// Where the head is (fraction of the stroke).
    head: f64,
    /// When the request in service completes: the next starts no earlier.
    free_at: Duration,
    rng: ChaCha8Rng,
}

/// Size the positions are fractions of: a 4 TB disk (the seed's spindles), in bytes.
pub const CAPACITY: f64 = 4.0e12;

fn ms(x: f64) -> Duration {
    Duration::from_secs_f64(x / 1000.0)
}

impl Disk {
    /// An idle disk with `files` at their regions, its head at the first one's start.
    pub fn new(mechanics: Mechanics, files: &[Region], rng: ChaCha8Rng) -> Disk {
        let files: Vec<File> = files
            .iter()
            .map(|&region| File {
                region,
                next: region.start,
                next_angle: 0.0,
            })
            .collect();
        let head = files.first().map_or(0.0, |f| f.region.start);
        Disk {
            mechanics,
            files,
            head,
            free_at: Duration::ZERO,
            rng,
        }
    }

    /// Submits a synced request at `at` (its writes, then a flush); it is served after the
    /// requests before it. Returns when it completes.
    pub fn sync(&mut self, at: Duration, writes: &[Write]) -> Duration {
        let start = at.max(self.free_at);
        let end = match self.mechanics.clone() {
            Mechanics::Hdd {
                rpm,
                seek_ms,
                track_seek_ms,
                media_mb_s,
                turnaround_ms,
                write_cache,
            } => {
                let turn = 60_000.0 / rpm; // ms
                let full = track_seek_ms + (seek_ms - track_seek_ms) / MEAN_SQRT_DISTANCE;
                let mut t = start.as_secs_f64() * 1000.0 + turnaround_ms;
                for w in writes {
                    let (file, bytes) = w.parts();
                    let transfer = bytes as f64 / (media_mb_s * 1000.0);
                    if write_cache == WriteCache::Lying {
                        t += transfer;
                        continue;
                    }
                    let (pos, angle) = self.target(w, file);
                    let d = (pos - self.head).abs();
                    if d > 0.0 {
                        t += track_seek_ms + (full - track_seek_ms) * d.sqrt();
                    }
                    let now_angle = (t / turn).fract();
                    t += (angle - now_angle).rem_euclid(1.0) * turn + transfer;
                    self.head = pos;
                    let f = &mut self.files[file];
                    if matches!(w, Write::Append { .. }) {
                        f.next =
                            (f.next + bytes as f64 / CAPACITY).min(f.region.start + f.region.len);
                        f.next_angle = (t / turn).fract();
                        self.head = f.next;
                    }
                }
                ms(t)
            }
            Mechanics::Ssd {
                flush_ms,
                media_mb_s,
                turnaround_ms,
                write_cache,
            } => {
                let bytes: u64 = writes.iter().map(|w| w.parts().1).sum();
                let mut t = turnaround_ms + bytes as f64 / (media_mb_s * 1000.0);
                if write_cache != WriteCache::Lying {
                    t += flush_ms * (0.75 + 0.5 * self.rng.random::<f64>());
                }
                start + ms(t)
            }
        };
        self.free_at = end;
        end
    }

    /// Where a write goes and at which angle its sector passes under the head.
    fn target(&mut self, w: &Write, file: usize) -> (f64, f64) {
        let f = &self.files[file];
        match w {
            Write::Append { .. } => (f.next, f.next_angle),
            Write::Random { .. } => {
                let pos = f.region.start + f.region.len * self.rng.random::<f64>();
                (pos, self.rng.random::<f64>())
            }
            // The start of a file is one fixed sector.
            Write::Head { .. } => (f.region.start, 0.0),
        }
    }
}

impl Write {
    fn parts(&self) -> (usize, u64) {
        match *self {
            Write::Append { file, bytes }
            | Write::Random { file, bytes }
            | Write::Head { file, bytes } => (file, bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn hdd(write_cache: WriteCache) -> Mechanics {
        Mechanics::Hdd {
            rpm: 7200.0,
            seek_ms: 8.5,
            track_seek_ms: 1.0,
            media_mb_s: 160.0,
            turnaround_ms: 0.1,
            write_cache,
        }
    }

    fn disk(m: Mechanics) -> Disk {
        let files = [
            Region {
                start: 0.30,
                len: 0.001,
            },
            Region {
                start: 0.305,
                len: 0.001,
            },
        ];
        Disk::new(m, &files, ChaCha8Rng::seed_from_u64(1))
    }

    fn ms_of(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    /// A sequential synced append at 7200 rpm, each sent when the last completes: its sector
    /// is where the last one ended, just passed when the host's turnaround is over, so it
    /// waits the rest of a turn: turnaround + (turn − turnaround) + transfer = one turn
    /// (60 000 / 7200 = 8.333 ms) and the transfer (2300 B at 160 MB/s = 0.014 ms).
    #[test]
    fn a_sequential_synced_append_waits_one_turn() {
        let mut d = disk(hdd(WriteCache::On));
        let w = [Write::Append {
            file: 0,
            bytes: 2300,
        }];
        let mut t = d.sync(Duration::ZERO, &w);
        for _ in 0..100 {
            let end = d.sync(t, &w);
            let took = ms_of(end - t);
            assert!((took - (8.3333 + 0.0144)).abs() < 0.001, "{took} ms");
            t = end;
        }
    }

    /// Writes to random places of a file wait half a turn on average (4.17 ms) plus a short
    /// seek within the file; none waits longer than a seek across it and a whole turn.
    #[test]
    fn random_writes_wait_half_a_turn_on_average() {
        let mut d = disk(hdd(WriteCache::Off));
        // The first moves the head from the other file.
        let mut t = d.sync(
            Duration::ZERO,
            &[Write::Random {
                file: 1,
                bytes: 4096,
            }],
        );
        let mut sum = 0.0;
        let n = 2000;
        for _ in 0..n {
            let end = d.sync(
                t,
                &[Write::Random {
                    file: 1,
                    bytes: 4096,
                }],
            );
            let took = ms_of(end - t);
            // A seek within 0.1 % of the stroke: at most 1 + 14.06 × √0.001 = 1.44 ms.
            assert!(took <= 0.1 + 1.45 + 8.334 + 0.03, "{took} ms");
            sum += took;
            t = end;
        }
        let mean = sum / f64::from(n);
        // 0.1 turnaround + ~1.3 seek + 4.17 rotation: between 5 and 6.5 ms.
        assert!((5.0..6.5).contains(&mean), "mean {mean} ms");
    }

    /// A long seek costs the datasheet's figures: from the first file to a position 60 %
    /// of the stroke away, 1 + (8.5 − 1) / (8/15) × √0.6 = 11.9 ms before the rotation.
    #[test]
    fn a_long_seek_follows_the_square_root_curve() {
        let files = [
            Region {
                start: 0.1,
                len: 0.0,
            },
            Region {
                start: 0.7,
                len: 0.0,
            },
        ];
        let mut d = Disk::new(hdd(WriteCache::On), &files, ChaCha8Rng::seed_from_u64(3));
        let end = d.sync(Duration::ZERO, &[Write::Head { file: 1, bytes: 0 }]);
        // The head sector is at angle 0: after 0.1 + 11.89 ms the platter is at
        // 11.99 / 8.333 = 1.439 turns, so it waits 0.561 turn = 4.68 ms more.
        let want = 0.1 + 1.0 + 7.5 / (8.0 / 15.0) * 0.6_f64.sqrt();
        let turn = 60_000.0 / 7200.0;
        let want = want + (1.0 - (want / turn).fract()) * turn;
        assert!(
            (ms_of(end) - want).abs() < 0.001,
            "{} vs {want}",
            ms_of(end)
        );
    }

    /// Requests are served one at a time: one submitted while another is in service waits
    /// for it.
    #[test]
    fn a_request_waits_for_the_one_in_service() {
        let mut d = disk(hdd(WriteCache::On));
        let w = [Write::Append {
            file: 0,
            bytes: 2300,
        }];
        let first = d.sync(Duration::ZERO, &w);
        let second = d.sync(Duration::ZERO, &w);
        assert!(second >= first + ms(8.3), "{second:?} after {first:?}");
    }

    /// Off and on give one figure for synced writes (the flush waits for the media either
    /// way); a lying cache costs only the turnaround and the transfer.
    #[test]
    fn only_a_lying_cache_makes_synced_writes_fast() {
        let w = [Write::Append {
            file: 0,
            bytes: 2300,
        }];
        let run = |c| {
            let mut d = disk(hdd(c));
            let mut t = Duration::ZERO;
            for _ in 0..50 {
                t = d.sync(t, &w);
            }
            ms_of(t)
        };
        let (off, on, lying) = (
            run(WriteCache::Off),
            run(WriteCache::On),
            run(WriteCache::Lying),
        );
        assert!((off - on).abs() < 1e-9, "{off} vs {on}");
        assert!(
            (lying - 50.0 * (0.1 + 2300.0 / 160_000.0)).abs() < 1e-6,
            "{lying}"
        );
    }

    /// A solid-state disk's flush is its `flush_ms` ±25 %, plus turnaround and transfer.
    #[test]
    fn an_ssd_flush_is_its_figure_within_a_quarter() {
        let m = Mechanics::Ssd {
            flush_ms: 0.8,
            media_mb_s: 500.0,
            turnaround_ms: 0.05,
            write_cache: WriteCache::On,
        };
        let mut d = disk(m);
        let mut t = Duration::ZERO;
        for _ in 0..500 {
            let end = d.sync(
                t,
                &[Write::Append {
                    file: 0,
                    bytes: 2300,
                }],
            );
            let took = ms_of(end - t) - 0.05 - 2300.0 / 500_000.0;
            assert!((0.6 - 1e-6..=1.0 + 1e-6).contains(&took), "{took} ms");
            t = end;
        }
    }
}
