//! Reports: `report.json`, `junit.xml`, `report.html` (with an SVG timeline per scenario) and
//! the terminal summary, all drawn from judged records.
//!
//! Pure functions of a [`DrillReport`] except [`write_all`]; same input, same bytes (no
//! timestamps, ordered maps, fixed number formats).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use provisioner::model::Probes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use std::time::Duration;

use crate::record::{Mark, MarkKind, Record, Sample, Service};
use crate::scenario::Expect;
use crate::verdict::{Gap, Outcome, ServiceResult};

/// One scenario's results, as a drill returns them: the judgement and the whole record.
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: String,
    /// Combined outcome.
    pub outcome: Outcome,
    /// Per-service judgement.
    pub services: BTreeMap<Service, ServiceResult>,
    /// What was recorded.
    pub record: Record,
    /// Lab error, if the drill could not finish.
    pub error: Option<String>,
    /// Why a scenario that ran was judged `unknown` as a whole (it names no expectation).
    pub not_judged: Option<String>,
    /// How the client probed (the scenario's `probe:`).
    pub probe: Probes,
    /// What a real lab checked on its nodes after the drill's undos (empty: the simulation).
    pub post_checks: Vec<PostCheck>,
}

/// One post-condition a real lab checked after a drill: that its faults left nothing behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCheck {
    /// The node (or `cluster` for a check across the nodes).
    pub node: String,
    /// What was checked (`no netem qdisc`).
    pub check: String,
    /// Whether it held.
    pub ok: bool,
    /// What was found when it did not.
    pub detail: String,
}

/// What the reports show of one scenario, without its samples: a drill of many scenarios
/// keeps one of these per scenario and drops each record once it is judged, so its memory
/// does not grow with the probes of the scenarios before. Serialized without loss for a
/// shard's `shard.json` (`crate::shard`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: String,
    /// Combined outcome.
    pub outcome: Outcome,
    /// Per-service judgement.
    pub services: BTreeMap<Service, ServiceResult>,
    /// Lab error, if the drill could not finish.
    pub error: Option<String>,
    /// Why a scenario that ran was judged `unknown` as a whole.
    pub not_judged: Option<String>,
    /// How the client probed.
    pub probe: Probes,
    /// Fault, undo and step marks.
    pub marks: Vec<Mark>,
    /// When the drill ended.
    pub end: Duration,
    /// Per service: its longest gaps, latency percentiles and timeline.
    pub lanes: BTreeMap<Service, Lane>,
    /// What a real lab checked after the drill's undos.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_checks: Vec<PostCheck>,
}

/// What the reports show of one service's probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    /// The longest gaps (at most [`GAPS_SHOWN_MAX`]), in time order.
    pub gaps: Vec<Gap>,
    /// Percentiles of the answered probes' latencies; None when none answered.
    pub latency_ms: Option<Percentiles>,
    /// The timeline drawn in the SVG: at most [`TIMELINE_MAX`] stretches.
    pub timeline: Vec<Stretch>,
}

/// Latency percentiles in milliseconds (nearest rank), rounded to 0.1 ms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// A stretch of the timeline where probes were all answered, all failed, or (where more
/// changes fall in one stretch than the picture can show) some of each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    /// From.
    pub start: Duration,
    /// To.
    pub end: Duration,
    /// Answered, failed or mixed.
    pub state: StretchState,
    /// The failure cause of its first failed probe; empty when every probe answered.
    pub cause: String,
}

/// What the probes of a [`Stretch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StretchState {
    /// Every probe answered.
    Answered,
    /// Every probe failed.
    Failed,
    /// Some of each, closer together than the timeline can draw.
    Mixed,
}

/// Most stretches one service's timeline keeps; beyond it, changes are drawn in bins.
pub const TIMELINE_MAX: usize = 1000;

impl ScenarioReport {
    /// What the reports need of this scenario, without the samples.
    pub fn summary(&self) -> Summary {
        let lanes = self
            .services
            .keys()
            .map(|svc| {
                let samples = self.record.of(*svc);
                (*svc, lane(samples, self.record.end))
            })
            .collect();
        Summary {
            name: self.name.clone(),
            description: self.description.clone(),
            outcome: self.outcome,
            services: self.services.clone(),
            error: self.error.clone(),
            not_judged: self.not_judged.clone(),
            probe: self.probe.clone(),
            marks: self.record.marks.clone(),
            end: self.record.end,
            lanes,
            post_checks: self.post_checks.clone(),
        }
    }
}

fn lane(samples: &[Sample], end: Duration) -> Lane {
    let mut gaps = crate::verdict::gaps(samples, end);
    // The longest ones, in time order.
    gaps.sort_by(|a, b| b.len.cmp(&a.len).then(a.start.cmp(&b.start)));
    gaps.truncate(GAPS_SHOWN_MAX);
    gaps.sort_by_key(|g| g.start);
    Lane {
        gaps,
        latency_ms: latency_ms(samples),
        timeline: timeline(samples, end),
    }
}

/// Runs of equal probe results; when there are more than [`TIMELINE_MAX`], the drill is cut
/// into that many equal bins, each answered, failed or mixed, and equal neighbours merged.
fn timeline(samples: &[Sample], end: Duration) -> Vec<Stretch> {
    let mut runs: Vec<Stretch> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let until = samples.get(i + 1).map_or(end.max(s.at), |n| n.at);
        let state = if s.ok {
            StretchState::Answered
        } else {
            StretchState::Failed
        };
        push_stretch(&mut runs, s.at, until, state, &s.cause);
    }
    if runs.len() <= TIMELINE_MAX {
        return runs;
    }
    let bin = end.max(Duration::from_millis(1)) / u32::try_from(TIMELINE_MAX).expect("small");
    let mut binned: Vec<Stretch> = Vec::new();
    let mut k = 0;
    for b in 0..TIMELINE_MAX {
        let (from, to) = (bin * b as u32, bin * (b as u32 + 1));
        let first = k;
        while k < samples.len() && samples[k].at < to {
            k += 1;
        }
        let inside = &samples[first..k];
        let Some(state) = bin_state(inside) else {
            // No probe sent in this bin: the state before it goes on.
            if let Some(last) = binned.last_mut() {
                last.end = to;
            }
            continue;
        };
        let cause = inside.iter().find(|s| !s.ok).map_or("", |s| &s.cause);
        push_stretch(&mut binned, from, to, state, cause);
    }
    binned
}

fn bin_state(samples: &[Sample]) -> Option<StretchState> {
    let n_ok = samples.iter().filter(|s| s.ok).count();
    match (samples.len(), n_ok) {
        (0, _) => None,
        (n, k) if k == n => Some(StretchState::Answered),
        (_, 0) => Some(StretchState::Failed),
        _ => Some(StretchState::Mixed),
    }
}

fn push_stretch(
    out: &mut Vec<Stretch>,
    start: Duration,
    end: Duration,
    state: StretchState,
    cause: &str,
) {
    match out.last_mut() {
        Some(last) if last.state == state => last.end = end,
        _ => out.push(Stretch {
            start,
            end,
            state,
            cause: if state == StretchState::Answered {
                String::new()
            } else {
                cause.to_owned()
            },
        }),
    }
}

/// A whole drill's results.
pub struct DrillReport {
    /// sim, libvirt, ...
    pub substrate: String,
    /// kubernetes or bare.
    pub profile: String,
    /// The seed.
    pub seed: u64,
    /// False when the drill stopped before every scenario ran (interrupted), or a scenario
    /// could not finish: then these reports are not a whole run's.
    pub complete: bool,
    /// Every scenario that ran.
    pub scenarios: Vec<Summary>,
}

impl DrillReport {
    /// A report of these scenarios; complete when none had an error.
    pub fn new(substrate: &str, profile: &str, seed: u64, scenarios: Vec<Summary>) -> Self {
        DrillReport {
            substrate: substrate.into(),
            profile: profile.into(),
            seed,
            complete: scenarios.iter().all(|s| s.error.is_none()),
            scenarios,
        }
    }

    /// The worst outcome of all scenarios.
    pub fn outcome(&self) -> Outcome {
        self.scenarios
            .iter()
            .map(|s| s.outcome)
            .max()
            .unwrap_or(Outcome::Passed)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn expect_text(e: Option<Expect>) -> Option<String> {
    e.map(|e| match e {
        Expect::Available { max_gap } => {
            format!("available max_gap {}", humantime::format_duration(max_gap))
        }
        Expect::Unavailable => "unavailable".to_owned(),
    })
}

/// The report of a scenario that could not run (nothing recorded, outcome unknown).
pub fn unknown(s: &crate::scenario::Scenario, why: String) -> ScenarioReport {
    let record = crate::record::Record::default();
    ScenarioReport {
        name: s.name.clone(),
        description: s.description.clone(),
        outcome: Outcome::Unknown,
        services: crate::verdict::judge(&record, &s.expect),
        record,
        error: Some(why),
        not_judged: None,
        probe: s.probe.clone(),
        post_checks: Vec::new(),
    }
}

/// Percentiles of the answered probes' latencies, in milliseconds (nearest rank), or None
/// when none answered: what a client waited, beside whether it got an answer.
fn latency_ms(samples: &[Sample]) -> Option<Percentiles> {
    let mut ms: Vec<f64> = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    Some(Percentiles {
        p50: r1(rank(0.5)),
        p90: r1(rank(0.9)),
        p99: r1(rank(0.99)),
        max: r1(rank(1.0)),
    })
}

/// Most gaps listed per service in report.json: the longest ones.
pub const GAPS_SHOWN_MAX: usize = 50;

/// `report.json`.
pub fn json(r: &DrillReport) -> String {
    let scenarios: Vec<_> = r.scenarios.iter().map(scenario_json).collect();
    let doc = json!({ "substrate": r.substrate, "profile": r.profile, "seed": r.seed, "complete": r.complete, "passed": r.outcome() == Outcome::Passed, "outcome": r.outcome(), "scenarios": scenarios });
    serde_json::to_string_pretty(&doc).expect("json values serialize") + "\n"
}

fn scenario_json(s: &Summary) -> serde_json::Value {
    let services: serde_json::Map<String, serde_json::Value> = s
        .services
        .iter()
        .map(|(svc, v)| {
            let lane = &s.lanes[svc];
            let gaps: Vec<_> = lane
                .gaps
                .iter()
                .map(|g| json!({ "start_s": round3(g.start.as_secs_f64()), "len_s": round3(g.len.as_secs_f64()), "cause": g.cause }))
                .collect();
            let latency = lane.latency_ms.map(|p| json!({ "p50": p.p50, "p90": p.p90, "p99": p.p99, "max": p.max }));
            let value = json!({
                "availability": round3(v.availability),
                "max_gap_s": round3(v.max_gap_s()),
                "verdict": v.verdict.as_str(),
                "outcome": v.outcome,
                "baseline_gap_s": v.baseline.as_ref().map(|g| round3(g.len.as_secs_f64())),
                "n_probes": v.n_probes,
                "n_failed": v.n_failed,
                "expect": expect_text(v.expect),
                "why": v.why,
                "latency_ms": latency,
                "gaps": gaps,
            });
            (svc.as_str().to_owned(), value)
        })
        .collect();
    let marks: Vec<_> = s
        .marks
        .iter()
        .map(|m| json!({ "at_s": round3(m.at.as_secs_f64()), "kind": m.kind, "label": m.label }))
        .collect();
    let probe = json!({ "interval_ms": s.probe.interval.as_millis(), "timeout_ms": s.probe.timeout.as_millis() });
    let mut v = json!({ "name": s.name, "outcome": s.outcome, "error": s.error, "not_judged": s.not_judged, "probe": probe, "marks": marks, "services": services });
    // Real labs only: the simulation's reports stay as they were.
    if !s.post_checks.is_empty() {
        v["post_checks"] = json!(s.post_checks);
    }
    v
}

/// `junit.xml`: one testcase per scenario × service.
pub fn junit(r: &DrillReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("hadrill");
    let mut suite = TestSuite::new(format!("hadrill-{}", r.substrate));
    for s in &r.scenarios {
        for (svc, v) in &s.services {
            let status = match v.outcome {
                // The scenario judges nothing: each of its services is skipped, with why.
                _ if s.not_judged.is_some() => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(s.not_judged.clone().unwrap_or_default());
                    st
                }
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(v.why.clone());
                    st
                }
                // Not judged (the lab was not steady before the fault): skipped, with why.
                Outcome::Unknown if s.error.is_none() => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(v.why.clone());
                    st
                }
                Outcome::Unknown => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(s.error.clone().unwrap_or_else(|| v.why.clone()));
                    st
                }
            };
            let mut case = TestCase::new(format!("{}.{}", s.name, svc), status);
            case.set_classname(format!("hadrill.{}", r.substrate));
            case.set_time(s.end);
            suite.add_test_case(case);
        }
        if !s.post_checks.is_empty() {
            let failed = failed_post_checks(s);
            let status = if failed.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!("left after the drill: {}", failed.join("; ")));
                st
            };
            let mut case = TestCase::new(format!("{}.post-conditions", s.name), status);
            case.set_classname(format!("hadrill.{}", r.substrate));
            suite.add_test_case(case);
        }
    }
    report.add_test_suite(suite);
    report.to_string().expect("junit serializes")
}

/// The terminal summary: one row per scenario × service, then the failed expectations.
pub fn terminal(r: &DrillReport) -> String {
    let mut out = format!(
        "{:<30} {:<8} {:<12} {:>9} {:>7}  outcome\n",
        "scenario", "service", "verdict", "max gap", "avail"
    );
    for s in &r.scenarios {
        for (svc, v) in &s.services {
            let o = format!("{:?}", v.outcome).to_lowercase();
            let _ = writeln!(
                out,
                "{:<30} {:<8} {:<12} {:>7.1} s {:>6.1}%  {o}",
                s.name,
                svc.as_str(),
                v.verdict.as_str(),
                v.max_gap_s(),
                v.availability * 100.0
            );
        }
    }
    for s in &r.scenarios {
        if let Some(e) = &s.error {
            let e = provisioner::text::one_line(e);
            let _ = writeln!(out, "{}: could not finish: {e}", s.name);
        }
        if let Some(why) = &s.not_judged {
            let _ = writeln!(out, "{}: not judged: {why}", s.name);
        }
        for (svc, v) in s
            .services
            .iter()
            .filter(|(_, v)| v.outcome != Outcome::Passed && s.error.is_none())
        {
            let _ = writeln!(
                out,
                "{} {svc}: {}",
                s.name,
                provisioner::text::one_line(&v.why)
            );
        }
    }
    for s in r.scenarios.iter().filter(|s| !s.post_checks.is_empty()) {
        let failed = failed_post_checks(s);
        let n = s.post_checks.len();
        if failed.is_empty() {
            let _ = writeln!(out, "{}: after the drill, {n} post-conditions held", s.name);
        } else {
            let _ = writeln!(
                out,
                "{}: left after the drill ({} of {n} post-conditions): {}",
                s.name,
                failed.len(),
                provisioner::text::one_line(&failed.join("; "))
            );
        }
    }
    if !r.complete {
        out += "incomplete: the drill stopped before every scenario finished\n";
    }
    out
}

/// The post-conditions that did not hold, as `node-2: no netem qdisc: netem on eth0`.
fn failed_post_checks(s: &Summary) -> Vec<String> {
    s.post_checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}: {}", c.node, c.check, c.detail))
        .collect()
}

/// Text made safe for HTML and SVG (text and attribute values).
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const LANE_H: f64 = 22.0;
const LEFT: f64 = 70.0;
const WIDTH: f64 = 900.0;

/// The SVG timeline of one scenario: a lane per service, green where probes answered, red
/// where they failed; dashed lines at faults (red) and undos (green).
pub fn svg(s: &Summary) -> String {
    let end = s.end.as_secs_f64().max(1.0);
    let x = |t: f64| LEFT + t / end * (WIDTH - LEFT - 10.0);
    let services: Vec<Service> = s.services.keys().copied().collect();
    let h = 40.0 + LANE_H * services.len() as f64;
    let mut o = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">");
    for (lane, svc) in services.iter().enumerate() {
        let y = 20.0 + LANE_H * lane as f64;
        let _ = write!(o, "<text x=\"4\" y=\"{:.1}\">{svc}</text>", y + 14.0);
        for st in &s.lanes[svc].timeline {
            let (t0, t1) = (st.start.as_secs_f64(), st.end.as_secs_f64());
            let (colour, title) = match st.state {
                StretchState::Answered => ("#3a3", "answered".to_owned()),
                StretchState::Failed => ("#d33", esc(&st.cause)),
                StretchState::Mixed => ("#e90", format!("some failed: {}", esc(&st.cause))),
            };
            let _ = write!(o, "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{:.1}–{:.1} s: {title}</title></rect>", x(t0), (x(t1) - x(t0)).max(0.5), LANE_H - 4.0, t0, t1);
        }
    }
    for m in &s.marks {
        let colour = match m.kind {
            MarkKind::Fault => "#a00",
            MarkKind::Undo => "#070",
            MarkKind::Step => continue,
        };
        let mx = x(m.at.as_secs_f64());
        let _ = write!(o, "<line x1=\"{mx:.1}\" y1=\"12\" x2=\"{mx:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"><title>{}</title></line><text x=\"{:.1}\" y=\"10\" fill=\"{colour}\">{}</text>", h - 16.0, esc(&m.label), mx + 2.0, esc(&m.label));
    }
    let step = [10.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| end / s <= 12.0)
        .unwrap_or(1800.0);
    let mut t = 0.0;
    while t <= end {
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{t:.0}s</text>",
            x(t),
            h - 4.0
        );
        t += step;
    }
    o + "</svg>"
}

/// `report.html`: one self-contained page, no scripts, no external resources.
pub fn html(r: &DrillReport) -> String {
    let mut o = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>hadrill report</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.passed{color:#070}.failed{color:#a00}.unknown{color:#a60}</style></head><body>");
    let _ = write!(
        o,
        "<h1>hadrill drill: {}</h1><p>substrate {}, profile {}, seed {}</p>",
        format!("{:?}", r.outcome()).to_lowercase(),
        esc(&r.substrate),
        esc(&r.profile),
        r.seed
    );
    if !r.complete {
        o += "<p class=\"unknown\">incomplete: the drill stopped before every scenario finished; what is here is what ran</p>";
    }
    o += "<table><tr><th>scenario</th><th>service</th><th>verdict</th><th>max gap</th><th>availability</th><th>expected</th><th>outcome</th><th>why</th></tr>";
    for s in &r.scenarios {
        for (svc, v) in &s.services {
            let oc = format!("{:?}", v.outcome).to_lowercase();
            let _ = write!(o, "<tr><td>{}</td><td>{svc}</td><td>{}</td><td>{:.1} s</td><td>{:.1}%</td><td>{}</td><td class=\"{oc}\">{oc}</td><td>{}</td></tr>", esc(&s.name), v.verdict.as_str(), v.max_gap_s(), v.availability * 100.0, esc(&expect_text(v.expect).unwrap_or_default()), esc(&v.why));
        }
    }
    o += "</table>";
    for s in &r.scenarios {
        let _ = write!(
            o,
            "<h2>{}</h2><p>{}</p>{}",
            esc(&s.name),
            esc(&s.description),
            svg(s)
        );
        if let Some(e) = &s.error {
            let _ = write!(o, "<p class=\"unknown\">could not finish: {}</p>", esc(e));
        }
        if !s.post_checks.is_empty() {
            o += "<table><tr><th>node</th><th>after the drill</th><th>held</th><th>found</th></tr>";
            for c in &s.post_checks {
                let (class, word) = if c.ok {
                    ("passed", "yes")
                } else {
                    ("failed", "no")
                };
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{word}</td><td>{}</td></tr>",
                    esc(&c.node),
                    esc(&c.check),
                    esc(&c.detail)
                );
            }
            o += "</table>";
        }
    }
    o + "</body></html>\n"
}

/// Writes report.json, junit.xml and report.html into `dir` (a folder of the output folder,
/// or its root when empty).
pub fn write_all(
    r: &DrillReport,
    out: &mut provisioner::outdir::OutDir,
    dir: &Path,
) -> Result<(), provisioner::outdir::Error> {
    out.write(dir.join("report.json"), json(r).as_bytes())?;
    out.write(dir.join("junit.xml"), junit(r).as_bytes())?;
    out.write(dir.join("report.html"), html(r).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Sample;
    use crate::verdict;
    use std::time::Duration;

    fn report() -> DrillReport {
        report_with_fault_at(Duration::from_millis(1000))
    }

    fn report_with_fault_at(fault: Duration) -> DrillReport {
        let mut rec = Record::default();
        for i in 0..20u64 {
            let ok = !(5..9).contains(&i);
            let s = Sample {
                at: Duration::from_millis(200 * i),
                ok,
                latency: Duration::ZERO,
                cause: if ok { "".into() } else { "vip <gone>".into() },
            };
            rec.push(Service::Api, s);
        }
        rec.mark(fault, MarkKind::Fault, "power-off <node-1>");
        rec.mark(
            Duration::from_millis(3000),
            MarkKind::Undo,
            "power-on node-1",
        );
        let expect = [(
            Service::Api,
            Expect::Available {
                max_gap: Duration::from_millis(500),
            },
        )]
        .into();
        let services = verdict::judge(&rec, &expect);
        let outcome = services.values().map(|s| s.outcome).max().unwrap();
        let s = ScenarioReport {
            name: "t".into(),
            description: "d".into(),
            outcome,
            services,
            record: rec,
            error: None,
            not_judged: None,
            probe: crate::scenario::Scenario::default_probes(),
            post_checks: Vec::new(),
        };
        DrillReport::new("sim", "bare", 7, vec![s.summary()])
    }

    #[test]
    fn json_has_the_contract_fields() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["substrate"], "sim");
        assert_eq!(v["seed"], 7);
        assert_eq!(v["passed"], false);
        assert_eq!(v["complete"], true);
        let api = &v["scenarios"][0]["services"]["api"];
        assert_eq!(api["max_gap_s"], 0.8);
        assert_eq!(api["availability"], 0.8);
        assert_eq!(api["outcome"], "failed");
        assert_eq!(api["verdict"], "degraded");
    }

    #[test]
    fn post_conditions_show_in_every_report_only_when_a_lab_checked_them() {
        let plain = report();
        let v: serde_json::Value = serde_json::from_str(&json(&plain)).unwrap();
        assert!(
            v["scenarios"][0].get("post_checks").is_none(),
            "the simulation's reports stay as they were"
        );
        assert!(!junit(&plain).contains("post-conditions"));
        let mut r = report();
        r.scenarios[0].post_checks = vec![
            PostCheck {
                node: "node-1".into(),
                check: "no netem qdisc".into(),
                ok: true,
                detail: String::new(),
            },
            PostCheck {
                node: "node-2".into(),
                check: "every service unit active".into(),
                ok: false,
                detail: "etcd.service inactive/dead".into(),
            },
        ];
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        let checks = &v["scenarios"][0]["post_checks"];
        assert_eq!(checks.as_array().map(Vec::len), Some(2), "{checks}");
        assert_eq!(checks[1]["ok"], false);
        assert_eq!(checks[1]["detail"], "etcd.service inactive/dead");
        let t = terminal(&r);
        assert!(t.contains("t: left after the drill (1 of 2 post-conditions): node-2: every service unit active: etcd.service inactive/dead"), "{t}");
        let j = junit(&r);
        assert!(j.contains("t.post-conditions"), "{j}");
        assert!(j.contains("left after the drill: node-2"), "{j}");
        let h = html(&r);
        assert!(
            h.contains("<td>every service unit active</td><td class=\"failed\">no</td>"),
            "{h}"
        );
        r.scenarios[0].post_checks[1].ok = true;
        assert!(terminal(&r).contains("t: after the drill, 2 post-conditions held"));
    }

    #[test]
    fn latency_percentiles_are_of_answered_probes_only() {
        let at = |i: u64| Duration::from_millis(200 * i);
        let samples: Vec<Sample> = (1..=100u64)
            .map(|i| Sample {
                at: at(i),
                ok: i != 100,
                latency: Duration::from_millis(if i == 100 { 2000 } else { i }),
                cause: "".into(),
            })
            .collect();
        let l = latency_ms(&samples).unwrap();
        // 99 answered probes of 1..=99 ms; the timed-out one is not a latency.
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 99.0));
        assert!(latency_ms(&samples[99..]).is_none());
    }

    #[test]
    fn junit_names_cases_and_failures() {
        let x = junit(&report());
        assert!(x.contains("name=\"t.api\""), "{x}");
        assert!(x.contains("<failure"), "{x}");
    }

    #[test]
    fn a_lab_not_steady_before_the_fault_is_reported_not_judged() {
        // The 0.8 s gap (over max_gap 0.5 s) ends before the fault at 2 s: the lab's own.
        let r = report_with_fault_at(Duration::from_millis(2000));
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        let api = &v["scenarios"][0]["services"]["api"];
        assert_eq!(api["outcome"], "unknown", "{api}");
        assert_eq!(api["baseline_gap_s"], 0.8, "{api}");
        let x = junit(&r);
        assert!(x.contains("<skipped") && !x.contains("<failure"), "{x}");
        let t = terminal(&r);
        assert!(t.contains("t api: not judged: before the fault"), "{t}");
        assert_eq!(r.outcome().exit_code(), 3);
    }

    #[test]
    fn a_long_flapping_timeline_is_drawn_in_bins() {
        let samples: Vec<Sample> = (0..20_000u64)
            .map(|i| Sample {
                at: Duration::from_millis(200 * i),
                ok: i % 2 == 0 || i > 15_000,
                latency: Duration::ZERO,
                cause: "flap".into(),
            })
            .collect();
        let end = Duration::from_secs(4000);
        let t = timeline(&samples, end);
        assert!(t.len() <= TIMELINE_MAX, "{}", t.len());
        // Flapping until 3000 s, then answered: one mixed stretch, then one answered.
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].state, StretchState::Mixed);
        assert_eq!((t[1].state, t[1].end), (StretchState::Answered, end));
        let few = timeline(&samples[15_001..], end);
        assert_eq!(few.len(), 1, "no flap: one stretch, not binned");
    }

    fn sample(ms: u64, ok: bool) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            ok,
            latency: Duration::ZERO,
            cause: if ok { "".into() } else { "lost".into() },
        }
    }

    fn stretch(from_s: u64, to_s: u64, state: StretchState, cause: &str) -> Stretch {
        Stretch {
            start: Duration::from_secs(from_s),
            end: Duration::from_secs(to_s),
            state,
            cause: cause.into(),
        }
    }

    /// Each stretch runs from its first probe to the next stretch's first probe (the last to
    /// the drill's end); a failed one keeps its first failure's cause, an answered one none.
    #[test]
    fn a_short_timeline_is_the_runs_of_equal_probes() {
        let samples: Vec<Sample> = [true, true, false, false, true]
            .iter()
            .enumerate()
            .map(|(i, &ok)| sample(1000 * i as u64, ok))
            .collect();
        let t = timeline(&samples, Duration::from_secs(6));
        use StretchState::*;
        assert_eq!(
            t,
            [
                stretch(0, 2, Answered, ""),
                stretch(2, 4, Failed, "lost"),
                stretch(4, 6, Answered, ""),
            ]
        );
    }

    /// Past TIMELINE_MAX runs, one-second bins over 1,000 s: a probe exactly on a bin's edge
    /// belongs to the bin it starts; a bin of failures alone is failed; a bin with no probe
    /// carries the state before it on; a mixed bin names a failed probe's cause.
    #[test]
    fn binned_timelines_place_each_probe_in_its_own_bin() {
        let mut samples = Vec::new();
        for i in 0..10_000u64 {
            let ms = 100 * i;
            let ok = match ms {
                // Flapping: more runs than the timeline keeps.
                0..500_000 => i % 2 == 0,
                // All failed for ten seconds, then no probe for ten.
                800_000..810_000 => false,
                810_000..820_000 => continue,
                // One failure exactly on the 700 s edge.
                _ => ms != 700_000,
            };
            samples.push(sample(ms, ok));
        }
        let t = timeline(&samples, Duration::from_secs(1000));
        use StretchState::*;
        assert_eq!(
            t,
            [
                stretch(0, 500, Mixed, "lost"),
                stretch(500, 700, Answered, ""),
                stretch(700, 701, Mixed, "lost"),
                stretch(701, 800, Answered, ""),
                stretch(800, 820, Failed, "lost"),
                stretch(820, 1000, Answered, ""),
            ]
        );
    }

    /// The picture's geometry: time 0 at the left margin, the drill's end 10 px from the right.
    #[test]
    fn the_svg_places_stretches_and_marks_on_the_time_axis() {
        let mut s = report().scenarios.remove(0);
        s.end = Duration::from_secs(10);
        s.lanes.get_mut(&Service::Api).unwrap().timeline = vec![
            stretch(0, 5, StretchState::Answered, ""),
            stretch(5, 10, StretchState::Failed, "lost"),
        ];
        s.marks = vec![Mark {
            at: Duration::from_millis(2500),
            kind: MarkKind::Fault,
            label: "f".into(),
        }];
        let svg = svg(&s);
        assert!(
            svg.contains(r##"<rect x="70.0" y="20.0" width="410.0" height="18.0" fill="#3a3">"##),
            "{svg}"
        );
        assert!(
            svg.contains(r##"<rect x="480.0" y="20.0" width="410.0" height="18.0" fill="#d33">"##),
            "{svg}"
        );
        assert!(
            svg.contains(r#"<line x1="275.0" y1="12" x2="275.0""#),
            "{svg}"
        );
        assert!(
            svg.contains(r##"<text x="890.0" y="58.0" fill="#555">10s</text>"##),
            "{svg}"
        );
    }

    /// Three lanes one under the other, 22 px apart, in a picture tall enough for them and
    /// its time axis (40 px + 22 a lane); a 200 s drill ticked every 30 s: the first of 10,
    /// 30, 60 … seconds that gives at most 12 ticks (200 / 10 = 20 would be too many).
    #[test]
    fn the_svg_stacks_its_lanes_and_ticks_a_long_drill() {
        let mut s = report().scenarios.remove(0);
        s.end = Duration::from_secs(200);
        let (lane, verdict) = (
            s.lanes[&Service::Api].clone(),
            s.services[&Service::Api].clone(),
        );
        for svc in [Service::Ingress, Service::Ceph] {
            s.lanes.insert(svc, lane.clone());
            s.services.insert(svc, verdict.clone());
        }
        let svg = svg(&s);
        assert!(svg.contains(r#"height="106""#), "{svg}");
        for y in ["20.0", "42.0", "64.0"] {
            assert!(
                svg.contains(&format!(r#" y="{y}" width="#)),
                "lane at {y}: {svg}"
            );
        }
        let ticks: Vec<&str> = svg
            .split("fill=\"#555\">")
            .skip(1)
            .map(|t| t.split('<').next().unwrap_or(""))
            .collect();
        assert_eq!(
            ticks,
            ["0s", "30s", "60s", "90s", "120s", "150s", "180s"],
            "{svg}"
        );
    }

    /// A scenario the lab could not finish is a JUnit error with the lab's message, and the
    /// terminal says so; a passed service gets no line of why; only an incomplete drill says
    /// it is incomplete.
    #[test]
    fn junit_and_terminal_tell_an_error_from_a_failure() {
        let mut r = report();
        assert!(!terminal(&r).contains("incomplete"));
        let mut s = r.scenarios.remove(0);
        s.error = Some("the lab broke".into());
        for v in s.services.values_mut() {
            v.outcome = Outcome::Unknown;
        }
        let mut ok = report().scenarios.remove(0);
        ok.name = "fine".into();
        for v in ok.services.values_mut() {
            v.outcome = Outcome::Passed;
            v.why = "within max_gap".into();
        }
        let r = DrillReport::new("sim", "bare", 7, vec![s, ok]);
        let x = junit(&r);
        assert!(x.contains("<error") && x.contains("the lab broke"), "{x}");
        assert!(!x.contains("<skipped"), "{x}");
        let t = terminal(&r);
        assert!(t.contains("t: could not finish: the lab broke"), "{t}");
        assert!(!t.contains("fine api:"), "{t}");
        assert!(t.contains("incomplete"), "{t}");
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let h = html(&report());
        assert!(h.contains("<svg"));
        assert!(h.contains("power-off &lt;node-1&gt;"));
        assert!(h.contains("<td>available max_gap 500ms</td>"), "{h}");
        assert!(!h.contains("<node-1>"));
        assert_eq!(h.matches("http").count(), 1, "only the SVG namespace");
        assert_eq!(h, html(&report()));
        // Only a drill that stopped early says it is incomplete.
        assert!(!h.contains("incomplete"), "{h}");
        let mut r = report();
        r.complete = false;
        assert!(html(&r).contains("incomplete: the drill stopped"));
    }
}
