//! Judging: a finished record and a scenario's expectations in, verdicts and outcomes out.
//!
//! Pure code over the record; it never probes, never waits, never looks at a lab. Every lab's
//! record is judged by these same functions, which is what makes sim and real reports comparable.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::{MarkKind, Record, Sample, Service};
use crate::scenario::Expect;

/// How a service fared, as a user would say it: a word for the longest gap a client saw.
/// Whether that met the scenario's expectation is the separate [`Outcome`]. The words are
/// defined once, here and in docs/reports.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every probe answered.
    Available,
    /// Some probes failed, but no gap reached [`UNAVAILABLE_GAP`]: a client retrying rode it out.
    Degraded,
    /// A gap of [`UNAVAILABLE_GAP`] or longer: clients lost the service for that long.
    Unavailable,
}

impl Verdict {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Available => "available",
            Verdict::Degraded => "degraded",
            Verdict::Unavailable => "unavailable",
        }
    }
}

/// Whether an expectation held. Ordered so that `max()` combines: any failure wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// Nothing can be said: the drill could not finish (a lab error), or the lab was not
    /// steady before the fault (its own gaps already broke the expectation).
    Unknown,
    /// An expectation did not hold.
    Failed,
}

impl Outcome {
    /// The process exit code for this outcome: 0 passed, 1 failed, 3 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed => 1,
            Outcome::Unknown => 3,
        }
    }
}

/// A continuous run of failed probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// First failed probe.
    pub start: Duration,
    /// Length: until the next successful probe (or the end of the record).
    pub len: Duration,
    /// The most frequent failure cause in the run.
    pub cause: String,
}

/// The judgement of one service in one drill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceResult {
    /// Fraction of probes that succeeded.
    pub availability: f64,
    /// Probes sent.
    pub n_probes: usize,
    /// Probes that failed.
    pub n_failed: usize,
    /// The longest gap, if any probe failed.
    pub max_gap: Option<Gap>,
    /// The longest gap among probes answered before the first fault: the lab's own noise.
    pub baseline: Option<Gap>,
    /// Available, degraded or unavailable.
    pub verdict: Verdict,
    /// What was expected, if the scenario said.
    pub expect: Option<Expect>,
    /// Whether the expectation held (passed when nothing was expected).
    pub outcome: Outcome,
    /// One sentence saying why, for the reports.
    pub why: String,
}

impl ServiceResult {
    /// The longest gap in seconds (0 when no probe failed).
    pub fn max_gap_s(&self) -> f64 {
        self.max_gap.as_ref().map_or(0.0, |g| g.len.as_secs_f64())
    }
}

/// The shortest gap that makes a service unavailable rather than degraded. A client's kernel
/// sends a SYN again 1 s and 3 s after the first (Linux's initial RTO, doubled), so a client
/// that retries for a few seconds rides over a shorter gap; a longer one is an outage a user
/// notices.
pub const UNAVAILABLE_GAP: Duration = Duration::from_secs(5);

/// Judges every service of a record against the expectations.
pub fn judge(
    record: &Record,
    expect: &BTreeMap<Service, Expect>,
) -> BTreeMap<Service, ServiceResult> {
    Service::ALL
        .into_iter()
        .filter(|s| !record.of(*s).is_empty() || expect.contains_key(s))
        .map(|s| (s, judge_service(record, s, expect.get(&s).copied())))
        .collect()
}

/// Judges one service.
pub fn judge_service(record: &Record, service: Service, expect: Option<Expect>) -> ServiceResult {
    let samples = record.of(service);
    let gaps = gaps(samples, record.end);
    let n_failed = samples.iter().filter(|s| !s.ok).count();
    let availability = if samples.is_empty() {
        0.0
    } else {
        1.0 - n_failed as f64 / samples.len() as f64
    };
    let window = fault_window(record);
    let verdict = verdict(&gaps);
    let max_gap = longest(&gaps).cloned();
    let baseline = baseline_gap(record, samples);
    let (outcome, why) = match (samples.is_empty(), expect) {
        (true, _) => (
            Outcome::Unknown,
            "no probe of this service was recorded".to_owned(),
        ),
        (false, None) => (Outcome::Passed, describe(verdict, max_gap.as_ref())),
        (false, Some(Expect::Available { max_gap: allowed })) => {
            check_available(max_gap.as_ref(), baseline.as_ref(), allowed, verdict)
        }
        (false, Some(Expect::Unavailable)) => check_unavailable(samples, window),
    };
    ServiceResult {
        availability,
        n_probes: samples.len(),
        n_failed,
        max_gap,
        baseline,
        verdict,
        expect,
        outcome,
        why,
    }
}

/// The span of the drill under fault: from the first fault mark to the first undo after it
/// (or the end of the record).
pub fn fault_window(record: &Record) -> Option<(Duration, Duration)> {
    let start = record.marks.iter().find(|m| m.kind == MarkKind::Fault)?.at;
    let end = record
        .marks
        .iter()
        .find(|m| m.kind == MarkKind::Undo && m.at >= start)
        .map_or(record.end, |m| m.at);
    Some((start, end))
}

/// The longest gap; of equal ones, the first.
fn longest(gaps: &[Gap]) -> Option<&Gap> {
    gaps.iter()
        .max_by_key(|g| (g.len, std::cmp::Reverse(g.start)))
}

/// The longest failure run among the probes answered before the first fault (the settle
/// step): what the lab does on its own. None without a fault or without such failures.
pub fn baseline_gap(record: &Record, samples: &[Sample]) -> Option<Gap> {
    let fault = record.marks.iter().find(|m| m.kind == MarkKind::Fault)?.at;
    let before: Vec<Sample> = samples
        .iter()
        .filter(|s| s.at + s.latency < fault)
        .cloned()
        .collect();
    longest(&gaps(&before, fault)).cloned()
}

/// The failure runs of a service, in time order.
pub fn gaps(samples: &[Sample], end: Duration) -> Vec<Gap> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < samples.len() {
        if samples[i].ok {
            i += 1;
            continue;
        }
        let j = samples[i..]
            .iter()
            .position(|s| s.ok)
            .map_or(samples.len(), |p| i + p);
        let stop = samples.get(j).map_or(end.max(samples[j - 1].at), |s| s.at);
        out.push(Gap {
            start: samples[i].at,
            len: stop - samples[i].at,
            cause: main_cause(&samples[i..j]),
        });
        i = j;
    }
    out
}

fn main_cause(run: &[Sample]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in run {
        *counts.entry(s.cause.as_ref()).or_default() += 1;
    }
    // Most frequent; ties go to the name first in order, so the result is deterministic.
    let best = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
    best.map_or(String::new(), |(c, _)| (*c).to_owned())
}

fn verdict(gaps: &[Gap]) -> Verdict {
    match longest(gaps) {
        None => Verdict::Available,
        Some(g) if g.len >= UNAVAILABLE_GAP => Verdict::Unavailable,
        Some(_) => Verdict::Degraded,
    }
}

fn describe(verdict: Verdict, gap: Option<&Gap>) -> String {
    match gap {
        None => "every probe answered".to_owned(),
        Some(g) => format!(
            "{}; longest gap {:.1} s from {:.1} s ({})",
            verdict.as_str(),
            g.len.as_secs_f64(),
            g.start.as_secs_f64(),
            g.cause
        ),
    }
}

/// A gap over the bound fails the expectation, unless the lab had such a gap before any
/// fault: then the fault's gaps cannot be told from the lab's own noise, and nothing is said.
fn check_available(
    gap: Option<&Gap>,
    baseline: Option<&Gap>,
    allowed: Duration,
    verdict: Verdict,
) -> (Outcome, String) {
    match gap {
        Some(g) if g.len > allowed && baseline.is_some_and(|b| b.len > allowed) => {
            let b = baseline.expect("checked");
            (
                Outcome::Unknown,
                format!(
                    "not judged: before the fault the lab already had a gap of {:.1} s from {:.1} s ({}), over max_gap {:.1} s; the longest gap, {:.1} s from {:.1} s ({}), cannot be told from that noise",
                    b.len.as_secs_f64(),
                    b.start.as_secs_f64(),
                    b.cause,
                    allowed.as_secs_f64(),
                    g.len.as_secs_f64(),
                    g.start.as_secs_f64(),
                    g.cause
                ),
            )
        }
        Some(g) if g.len > allowed => (
            Outcome::Failed,
            format!(
                "gap of {:.1} s from {:.1} s exceeds max_gap {:.1} s: {}",
                g.len.as_secs_f64(),
                g.start.as_secs_f64(),
                allowed.as_secs_f64(),
                g.cause
            ),
        ),
        _ => (Outcome::Passed, describe(verdict, gap)),
    }
}

fn check_unavailable(
    samples: &[Sample],
    window: Option<(Duration, Duration)>,
) -> (Outcome, String) {
    let Some((start, end)) = window else {
        return (
            Outcome::Failed,
            "expected unavailable, but the scenario has no fault".to_owned(),
        );
    };
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= start && s.at < end)
        .collect();
    let Some(first) = during.iter().position(|s| !s.ok) else {
        return (
            Outcome::Failed,
            "expected unavailable, but every probe answered during the fault".to_owned(),
        );
    };
    match during[first..].iter().find(|s| s.ok) {
        Some(s) => (
            Outcome::Failed,
            format!(
                "expected unavailable, but a probe answered at {:.1} s during the fault",
                s.at.as_secs_f64()
            ),
        ),
        None => (
            Outcome::Passed,
            format!(
                "unavailable as expected from {:.1} s until the fault was undone at {:.1} s ({})",
                during[first].at.as_secs_f64(),
                end.as_secs_f64(),
                main_cause(&samples_from(samples, during[first].at, end))
            ),
        ),
    }
}

fn samples_from(samples: &[Sample], from: Duration, to: Duration) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::MarkKind;

    /// A record of one service from a pattern: `.` success, `x` failure, one char per 200 ms;
    /// `F` marks a fault and `U` an undo at that position (they take no probe slot).
    fn record(pattern: &str) -> Record {
        let mut rec = Record::default();
        let mut t = Duration::ZERO;
        for c in pattern.chars() {
            match c {
                'F' => rec.mark(t, MarkKind::Fault, "fault"),
                'U' => rec.mark(t, MarkKind::Undo, "undo"),
                c => {
                    let ok = c == '.';
                    let cause = if ok { "" } else { "down" };
                    rec.push(
                        Service::Api,
                        Sample {
                            at: t,
                            ok,
                            latency: Duration::ZERO,
                            cause: cause.into(),
                        },
                    );
                    t += Duration::from_millis(200);
                }
            }
        }
        rec
    }

    fn check(pattern: &str, expect: Option<Expect>) -> ServiceResult {
        judge_service(&record(pattern), Service::Api, expect)
    }

    #[test]
    fn the_verdict_follows_the_longest_gap() {
        // 200 ms a probe: 24 failed probes are a 4.8 s gap, 25 are 5 s (UNAVAILABLE_GAP).
        let short = format!("....F{}.....U..", "x".repeat(24));
        let long = format!("....F{}.....U..", "x".repeat(25));
        let cases = [
            ("....F..............U..", Verdict::Available),
            ("....F....x.........U..", Verdict::Degraded),
            ("....F.x..x..x..x...U..", Verdict::Degraded),
            (short.as_str(), Verdict::Degraded),
            (long.as_str(), Verdict::Unavailable),
            // A 5 s gap in a long fault is unavailable too: the word is about the gap.
            (
                &format!("F{}{}U", "x".repeat(25), ".".repeat(500)),
                Verdict::Unavailable,
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(check(pattern, None).verdict, want, "{pattern}");
        }
        assert_eq!(check(&short, None).max_gap_s(), 4.8);
    }

    #[test]
    fn lost_for_the_fault_is_unavailable() {
        let r = check(
            "...Fxxxxxxxxxxxxxxxxxxxxxxxx...U....",
            Some(Expect::Unavailable),
        );
        // A 4.8 s gap is degraded, whatever was expected; the expectation is the outcome.
        assert_eq!(r.verdict, Verdict::Degraded);
        assert_eq!(r.outcome, Outcome::Failed, "{}", r.why);
        let r = check(
            "...FxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxUx..",
            Some(Expect::Unavailable),
        );
        assert_eq!(r.outcome, Outcome::Passed, "{}", r.why);
    }

    #[test]
    fn max_gap_is_a_bound() {
        let gap = |s| {
            Some(Expect::Available {
                max_gap: Duration::from_millis(s),
            })
        };
        assert_eq!(check("..Fxxxxx...U", gap(1000)).outcome, Outcome::Passed);
        let r = check("..Fxxxxxx..U", gap(1000));
        assert_eq!(r.outcome, Outcome::Failed);
        assert!(
            r.why
                .starts_with("gap of 1.2 s from 0.4 s exceeds max_gap 1.0 s: down"),
            "{}",
            r.why
        );
    }

    #[test]
    fn a_lab_already_over_the_bound_before_the_fault_is_not_judged() {
        let gap = Some(Expect::Available {
            max_gap: Duration::from_millis(1000),
        });
        // Noise of 1.4 s before the fault, 1.6 s after it: nothing can be said.
        let r = check(".xxxxxxx......Fxxxxxxxx..U", gap);
        assert_eq!(
            r.baseline.as_ref().map(|g| g.len),
            Some(Duration::from_millis(1400))
        );
        assert_eq!(r.outcome, Outcome::Unknown, "{}", r.why);
        assert!(r.why.starts_with("not judged: before the fault the lab already had a gap of 1.4 s from 0.2 s (down), over max_gap 1.0 s; the longest gap, 1.6 s"), "{}", r.why);
        // Noise under the bound does not excuse a gap over it.
        let r = check(".xx...........Fxxxxxxxx..U", gap);
        assert_eq!(r.outcome, Outcome::Failed, "{}", r.why);
        // Noise over the bound is the longest gap: the lab, not the fault, broke it.
        let r = check(".xxxxxxx......Fxx.......U", gap);
        assert_eq!(r.outcome, Outcome::Unknown, "{}", r.why);
        let r = check("..............Fxx.......U", gap);
        assert_eq!((r.outcome, r.baseline), (Outcome::Passed, None));
    }

    #[test]
    fn a_probe_answered_after_the_fault_is_not_baseline() {
        // Sent before the fault mark but failing after it: the fault's, not the lab's.
        let mut rec = record("....F....");
        rec.push(
            Service::Ceph,
            Sample {
                at: Duration::from_millis(600),
                ok: false,
                latency: Duration::from_secs(2),
                cause: "timeout".into(),
            },
        );
        assert_eq!(baseline_gap(&rec, rec.of(Service::Ceph)), None);
    }

    #[test]
    fn gap_running_to_the_end_counts_to_the_end() {
        let rec = record("..Fxxx");
        assert_eq!(
            gaps(rec.of(Service::Api), Duration::from_secs(2))[0].len,
            Duration::from_millis(1600)
        );
    }

    #[test]
    fn outcomes_combine_with_max() {
        assert_eq!(Outcome::Passed.max(Outcome::Failed), Outcome::Failed);
        assert_eq!(Outcome::Passed.max(Outcome::Unknown), Outcome::Unknown);
    }
}
