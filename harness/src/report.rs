//! Reports: `report.json`, `junit.xml`, `report.html` (with an SVG timeline per scenario) and
//! the terminal summary, all drawn from judged records.
//!
//! Pure functions of a [`DrillReport`] except [`write_all`]; same input, same bytes (no
//! timestamps, ordered maps, fixed number formats).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::record::{MarkKind, Record, Service};
use crate::scenario::Expect;
use crate::verdict::{Outcome, ServiceResult};

/// One scenario's results.
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
}

/// A whole drill's results.
pub struct DrillReport {
    /// sim, libvirt, ...
    pub substrate: String,
    /// kubernetes or bare.
    pub profile: String,
    /// The seed.
    pub seed: u64,
    /// Every scenario.
    pub scenarios: Vec<ScenarioReport>,
}

impl DrillReport {
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
    }
}

/// Percentiles of the answered probes' latencies, in milliseconds (nearest rank), or null
/// when none answered: what a client waited, beside whether it got an answer.
fn latency_ms(samples: &[crate::record::Sample]) -> serde_json::Value {
    let mut ms: Vec<f64> = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    if ms.is_empty() {
        return serde_json::Value::Null;
    }
    ms.sort_by(f64::total_cmp);
    let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    json!({ "p50": r1(rank(0.5)), "p90": r1(rank(0.9)), "p99": r1(rank(0.99)), "max": r1(rank(1.0)) })
}

/// Most gaps listed per service in report.json: the longest ones.
pub const GAPS_SHOWN_MAX: usize = 50;

/// `report.json`.
pub fn json(r: &DrillReport) -> String {
    let scenarios: Vec<_> = r
        .scenarios
        .iter()
        .map(|s| {
            let services: serde_json::Map<String, serde_json::Value> = s
                .services
                .iter()
                .map(|(svc, v)| {
                    let mut gaps = crate::verdict::gaps(s.record.of(*svc), s.record.end);
                    // The longest ones, in time order.
                    gaps.sort_by(|a, b| b.len.cmp(&a.len).then(a.start.cmp(&b.start)));
                    gaps.truncate(GAPS_SHOWN_MAX);
                    gaps.sort_by_key(|g| g.start);
                    let gaps: Vec<_> = gaps
                        .iter()
                        .map(|g| json!({ "start_s": round3(g.start.as_secs_f64()), "len_s": round3(g.len.as_secs_f64()), "cause": g.cause }))
                        .collect();
                    let value = json!({
                        "availability": round3(v.availability),
                        "max_gap_s": round3(v.max_gap_s()),
                        "verdict": v.verdict.as_str(),
                        "passed": v.outcome == Outcome::Passed,
                        "outcome": v.outcome,
                        "baseline_gap_s": v.baseline.as_ref().map(|g| round3(g.len.as_secs_f64())),
                        "n_probes": v.n_probes,
                        "n_failed": v.n_failed,
                        "expect": expect_text(v.expect),
                        "why": v.why,
                        "latency_ms": latency_ms(s.record.of(*svc)),
                        "gaps": gaps,
                    });
                    (svc.as_str().to_owned(), value)
                })
                .collect();
            let marks: Vec<_> = s
                .record
                .marks
                .iter()
                .map(|m| json!({ "at_s": round3(m.at.as_secs_f64()), "kind": m.kind, "label": m.label }))
                .collect();
            json!({ "name": s.name, "passed": s.outcome == Outcome::Passed, "outcome": s.outcome, "error": s.error, "marks": marks, "services": services })
        })
        .collect();
    let doc = json!({ "substrate": r.substrate, "profile": r.profile, "seed": r.seed, "passed": r.outcome() == Outcome::Passed, "outcome": r.outcome(), "scenarios": scenarios });
    serde_json::to_string_pretty(&doc).expect("json values serialize") + "\n"
}

/// `junit.xml`: one testcase per scenario × service.
pub fn junit(r: &DrillReport) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("hadrill");
    let mut suite = TestSuite::new(format!("hadrill-{}", r.substrate));
    for s in &r.scenarios {
        for (svc, v) in &s.services {
            let status = match v.outcome {
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
            case.set_time(s.record.end);
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
                svc,
                v.verdict.as_str(),
                v.max_gap_s(),
                v.availability * 100.0
            );
        }
    }
    for s in &r.scenarios {
        if let Some(e) = &s.error {
            let _ = writeln!(out, "{}: could not finish: {e}", s.name);
        }
        for (svc, v) in s
            .services
            .iter()
            .filter(|(_, v)| v.outcome != Outcome::Passed && s.error.is_none())
        {
            let _ = writeln!(out, "{} {svc}: {}", s.name, v.why);
        }
    }
    out
}

fn esc(s: &str) -> String {
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
pub fn svg(s: &ScenarioReport) -> String {
    let end = s.record.end.as_secs_f64().max(1.0);
    let x = |t: f64| LEFT + t / end * (WIDTH - LEFT - 10.0);
    let services: Vec<Service> = s.services.keys().copied().collect();
    let h = 40.0 + LANE_H * services.len() as f64;
    let mut o = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">");
    for (lane, svc) in services.iter().enumerate() {
        let y = 20.0 + LANE_H * lane as f64;
        let _ = write!(o, "<text x=\"4\" y=\"{:.1}\">{svc}</text>", y + 14.0);
        let samples = s.record.of(*svc);
        let mut i = 0;
        while i < samples.len() {
            let ok = samples[i].ok;
            let j = samples[i..]
                .iter()
                .position(|p| p.ok != ok)
                .map_or(samples.len(), |p| i + p);
            let t0 = samples[i].at.as_secs_f64();
            let t1 = samples.get(j).map_or(end, |p| p.at.as_secs_f64());
            let colour = if ok { "#3a3" } else { "#d33" };
            let title = if ok {
                "answered".to_owned()
            } else {
                esc(&samples[i].cause)
            };
            let _ = write!(o, "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{:.1}–{:.1} s: {title}</title></rect>", x(t0), (x(t1) - x(t0)).max(0.5), LANE_H - 4.0, t0, t1);
            i = j;
        }
    }
    for m in &s.record.marks {
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
    }
    o + "</body></html>\n"
}

/// Writes report.json, junit.xml and report.html into `dir`.
pub fn write_all(r: &DrillReport, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.json"), json(r))?;
    std::fs::write(dir.join("junit.xml"), junit(r))?;
    std::fs::write(dir.join("report.html"), html(r))
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
        DrillReport {
            substrate: "sim".into(),
            profile: "bare".into(),
            seed: 7,
            scenarios: vec![ScenarioReport {
                name: "t".into(),
                description: "d".into(),
                outcome,
                services,
                record: rec,
                error: None,
            }],
        }
    }

    #[test]
    fn json_has_the_contract_fields() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["substrate"], "sim");
        assert_eq!(v["seed"], 7);
        assert_eq!(v["passed"], false);
        let api = &v["scenarios"][0]["services"]["api"];
        assert_eq!(api["max_gap_s"], 0.8);
        assert_eq!(api["availability"], 0.8);
        assert_eq!(api["passed"], false);
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
        let l = latency_ms(&samples);
        // 99 answered probes of 1..=99 ms; the timed-out one is not a latency.
        assert_eq!(l["p50"], 50.0, "{l}");
        assert_eq!(l["p90"], 90.0, "{l}");
        assert_eq!(l["p99"], 99.0, "{l}");
        assert_eq!(l["max"], 99.0, "{l}");
        assert!(latency_ms(&samples[99..]).is_null());
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
    fn html_is_self_contained_and_escaped() {
        let h = html(&report());
        assert!(h.contains("<svg"));
        assert!(h.contains("power-off &lt;node-1&gt;"));
        assert!(!h.contains("<node-1>"));
        assert_eq!(h.matches("http").count(), 1, "only the SVG namespace");
        assert_eq!(h, html(&report()));
    }
}
