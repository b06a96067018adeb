//! Shards: a drill's scenarios cut into N slices that N runners drill at once
//! (`hadrill drill --shard I/N`), and their reports joined into the one report a single drill
//! would have written (`hadrill report merge`).
//!
//! Shard I takes every N-th scenario from the I-th (round-robin, so that long and short
//! scenarios spread over the runners). Beside its own reports it writes `shard.json`: which
//! shard it is, of which drill (substrate, profile, seed, how many scenarios in all), and each
//! of its scenarios' [`Summary`] with its place in the whole list, without loss (durations as
//! serde writes them, in seconds and nanoseconds). The merge checks that the shards are the N
//! slices of one drill, each once, and puts the scenarios back in order: on the simulation,
//! where a scenario's result does not depend on the ones before it, the merged report.json,
//! junit.xml and report.html are byte for byte those of one drill of every scenario.
//!
//! **Boundary:** no IO; the CLI reads and writes the files.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::report::{DrillReport, Summary};

/// Most shards a drill may be cut into.
pub const SHARDS_MAX: u32 = 1000;

/// One slice of a drill: the `index`-th (from 1) of `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, 1 to `of`.
    pub index: u32,
    /// How many slices.
    pub of: u32,
}

impl Shard {
    /// Whether the scenario at `position` (from 0) of the whole list is in this slice.
    pub fn takes(self, position: usize) -> bool {
        position % self.of as usize == (self.index - 1) as usize
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with 1 ≤ I ≤ N ≤ [`SHARDS_MAX`].
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "`{}`: a shard is I/N, the I-th of N slices (1 ≤ I ≤ N ≤ {SHARDS_MAX})",
                s.escape_debug()
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let parse = |x: &str| {
            x.parse::<u32>()
                .ok()
                .filter(|_| x.bytes().all(|b| b.is_ascii_digit()))
        };
        let (index, of) = parse(i).zip(parse(n)).ok_or_else(bad)?;
        if index == 0 || index > of || of > SHARDS_MAX {
            return Err(bad());
        }
        Ok(Shard { index, of })
    }
}

/// `shard.json`: one shard's part of a drill, what [`merge`] joins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Which slice.
    pub shard: Shard,
    /// The drill's substrate (sim, libvirt, ...).
    pub substrate: String,
    /// The drill's profile.
    pub profile: String,
    /// The drill's seed.
    pub seed: u64,
    /// How many scenarios the whole drill has.
    pub total: usize,
    /// Whether every scenario of this slice finished.
    pub complete: bool,
    /// This slice's scenarios, each with its place (from 0) in the whole list.
    pub scenarios: Vec<(usize, Summary)>,
}

impl ShardFile {
    /// A shard's file from its report: `positions[k]` is the place of its k-th scenario.
    pub fn new(shard: Shard, total: usize, positions: &[usize], report: &DrillReport) -> Self {
        ShardFile {
            shard,
            substrate: report.substrate.clone(),
            profile: report.profile.clone(),
            seed: report.seed,
            total,
            complete: report.complete,
            scenarios: positions
                .iter()
                .copied()
                .zip(report.scenarios.iter().cloned())
                .collect(),
        }
    }

    /// The file's text (pretty JSON, a newline at the end).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a shard file serializes") + "\n"
    }
}

/// Why shards could not be joined, one printable line (the CLI adds the file).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// No shard given.
    #[error("no shard to merge")]
    Empty,
    /// Two files are the same slice.
    #[error("shard {shard} is given twice ({first} and {second})")]
    Twice {
        /// The slice.
        shard: Shard,
        /// The first file's folder.
        first: String,
        /// The second's.
        second: String,
    },
    /// A slice is missing.
    #[error("shard {index}/{of} is missing: every one of the {of} is needed")]
    Missing {
        /// Which.
        index: u32,
        /// Of how many.
        of: u32,
    },
    /// A file is a shard of another drill.
    #[error("{dir}: a shard of another drill ({what}: {theirs}, not {ours} as in {first})")]
    Mismatch {
        /// Its folder.
        dir: String,
        /// What differs.
        what: &'static str,
        /// Its value.
        theirs: String,
        /// The first file's value.
        ours: String,
        /// The first file's folder.
        first: String,
    },
    /// A file's scenarios are not the slice it says it is.
    #[error("{dir}: shard {shard} holds a scenario at place {position}, which is not its own")]
    Misplaced {
        /// Its folder.
        dir: String,
        /// The slice.
        shard: Shard,
        /// The place.
        position: usize,
    },
}

/// Joins the shards (each with the folder it was read from) into one drill's report: the
/// scenarios in their places, complete when every shard was.
pub fn merge(shards: Vec<(String, ShardFile)>) -> Result<DrillReport, MergeError> {
    let (first_dir, first) = shards.first().ok_or(MergeError::Empty)?;
    let (first_dir, first) = (first_dir.clone(), first.clone());
    let mut seen: Vec<Option<String>> = vec![None; first.shard.of as usize];
    let mut scenarios: Vec<(usize, Summary)> = Vec::new();
    let mut complete = true;
    for (dir, file) in shards {
        let checks: [(&'static str, String, String); 5] = [
            ("substrate", file.substrate.clone(), first.substrate.clone()),
            ("profile", file.profile.clone(), first.profile.clone()),
            ("seed", file.seed.to_string(), first.seed.to_string()),
            (
                "scenarios in all",
                file.total.to_string(),
                first.total.to_string(),
            ),
            (
                "shards",
                file.shard.of.to_string(),
                first.shard.of.to_string(),
            ),
        ];
        if let Some((what, theirs, ours)) = checks.into_iter().find(|(_, a, b)| a != b) {
            return Err(MergeError::Mismatch {
                dir,
                what,
                theirs,
                ours,
                first: first_dir,
            });
        }
        let slot = &mut seen[(file.shard.index - 1) as usize];
        if let Some(earlier) = slot {
            return Err(MergeError::Twice {
                shard: file.shard,
                first: earlier.clone(),
                second: dir,
            });
        }
        *slot = Some(dir.clone());
        if let Some((position, _)) = file
            .scenarios
            .iter()
            .find(|(p, _)| *p >= file.total || !file.shard.takes(*p))
        {
            return Err(MergeError::Misplaced {
                dir,
                shard: file.shard,
                position: *position,
            });
        }
        complete &= file.complete;
        scenarios.extend(file.scenarios);
    }
    if let Some(i) = seen.iter().position(Option::is_none) {
        return Err(MergeError::Missing {
            index: i as u32 + 1,
            of: first.shard.of,
        });
    }
    scenarios.sort_by_key(|(p, _)| *p);
    let mut report = DrillReport::new(
        &first.substrate,
        &first.profile,
        first.seed,
        scenarios.into_iter().map(|(_, s)| s).collect(),
    );
    report.complete &= complete;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_i_of_n() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, of: 4 }));
        // The last shard, and the most shards.
        assert_eq!("4/4".parse(), Ok(Shard { index: 4, of: 4 }));
        assert_eq!(
            "1/1000".parse(),
            Ok(Shard {
                index: 1,
                of: SHARDS_MAX
            })
        );
        for bad in [
            "0/4", "5/4", "1/1001", "a/4", "2", "2/4/1", "+2/4", "2/ 4", "",
        ] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("a shard is I/N"), "{bad}: {e}");
        }
    }

    /// A shard file of `of` with one scenario (not run) at each of `positions`.
    fn file(index: u32, of: u32, seed: u64, positions: &[usize]) -> ShardFile {
        let text = "name: t\nsteps: [{observe: 1s}]\nexpect: {api: {available: {max_gap: 1s}}}\n";
        let scenario = crate::scenario::parse(std::path::Path::new("t.yaml"), text).unwrap();
        let summaries = positions
            .iter()
            .map(|p| {
                let mut r = crate::report::unknown(&scenario, format!("place {p}"));
                r.name = format!("s{p}");
                r.summary()
            })
            .collect();
        let report = DrillReport::new("sim", "bare", seed, summaries);
        ShardFile::new(Shard { index, of }, 5, positions, &report)
    }

    #[test]
    fn shards_join_in_their_places_or_say_why_not() {
        let dir = |d: &str| d.to_owned();
        let joined = merge(vec![
            (dir("b"), file(2, 2, 1, &[1, 3])),
            (dir("a"), file(1, 2, 1, &[0, 2, 4])),
        ])
        .unwrap();
        let names: Vec<&str> = joined.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"]);
        // Not run: incomplete, as one drill of them would be.
        assert!(!joined.complete);
        // A shard file reads back as it was written.
        let f = file(1, 2, 1, &[0, 2, 4]);
        assert_eq!(serde_json::from_str::<ShardFile>(&f.to_json()).unwrap(), f);
        let cases = [
            (vec![], MergeError::Empty),
            (
                vec![
                    (dir("a"), file(1, 2, 1, &[0])),
                    (dir("b"), file(1, 2, 1, &[0])),
                ],
                MergeError::Twice {
                    shard: Shard { index: 1, of: 2 },
                    first: dir("a"),
                    second: dir("b"),
                },
            ),
            (
                vec![(dir("a"), file(1, 2, 1, &[0]))],
                MergeError::Missing { index: 2, of: 2 },
            ),
            (
                vec![
                    (dir("a"), file(1, 2, 1, &[0])),
                    (dir("b"), file(2, 2, 7, &[1])),
                ],
                MergeError::Mismatch {
                    dir: dir("b"),
                    what: "seed",
                    theirs: "7".into(),
                    ours: "1".into(),
                    first: dir("a"),
                },
            ),
            (
                vec![(dir("a"), file(1, 2, 1, &[1]))],
                MergeError::Misplaced {
                    dir: dir("a"),
                    shard: Shard { index: 1, of: 2 },
                    position: 1,
                },
            ),
            (
                vec![(dir("a"), file(1, 2, 1, &[6]))],
                MergeError::Misplaced {
                    dir: dir("a"),
                    shard: Shard { index: 1, of: 2 },
                    position: 6,
                },
            ),
        ];
        for (shards, want) in cases {
            assert_eq!(merge(shards).map(|_| ()).unwrap_err(), want);
        }
    }

    /// The merge is complete only when every shard was: a shard stopped before its slice's
    /// end (interrupted) leaves the whole incomplete, though each summary it has is whole.
    #[test]
    fn one_incomplete_shard_makes_the_merge_incomplete() {
        let whole = |index, positions: &[usize]| {
            let mut f = file(index, 2, 1, positions);
            for (_, s) in &mut f.scenarios {
                s.error = None;
            }
            f.complete = true;
            f
        };
        let both = || {
            vec![
                ("a".to_owned(), whole(1, &[0])),
                ("b".to_owned(), whole(2, &[1])),
            ]
        };
        assert!(merge(both()).unwrap().complete);
        let mut stopped = both();
        stopped[1].1.complete = false;
        assert!(!merge(stopped).unwrap().complete);
    }

    #[test]
    fn every_place_is_in_exactly_one_shard() {
        for of in 1..=7 {
            for position in 0..50 {
                let n = (1..=of)
                    .filter(|&index| Shard { index, of }.takes(position))
                    .count();
                assert_eq!(n, 1, "{position} of {of}");
            }
        }
        // Round-robin: the second of three takes places 1, 4, 7.
        let s = Shard { index: 2, of: 3 };
        let taken: Vec<usize> = (0..9).filter(|&p| s.takes(p)).collect();
        assert_eq!(taken, [1, 4, 7]);
    }
}
