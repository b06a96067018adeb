//! Simulation fidelity: the same scenarios measured on a lab and predicted by the simulation
//! with the lab's settings, side by side, per service.
//!
//! Pure: it reads finished reports and writes nothing (the CLI writes `compare.json` and
//! `compare.md`). The measured figure is the median over the lab's runs; the prediction is
//! the median over several simulation seeds. A prediction holds when it is within
//! [`TOLERANCE`] of the measurement, or within [`SLACK`] when the gaps are too short for a
//! ratio to mean anything.

use std::fmt::Write as _;

use serde_json::json;

use crate::record::Service;
use crate::report::ScenarioReport;

/// A prediction is good within this fraction of the measured median.
pub const TOLERANCE: f64 = 0.25;
/// ... or within this many seconds (two probe intervals at the default 200 ms).
pub const SLACK: f64 = 0.4;

/// One service of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// The service.
    pub service: Service,
    /// Measured longest gap of each lab run, seconds.
    pub measured: Vec<f64>,
    /// Predicted longest gap of each simulation seed, seconds.
    pub predicted: Vec<f64>,
    /// Verdict on the lab (of the median run).
    pub measured_verdict: String,
    /// Verdict in the simulation (of the median seed).
    pub predicted_verdict: String,
    /// Outcome of the expectation on the lab, worst run.
    pub measured_outcome: String,
}

/// The median of a non-empty list.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0, "median of nothing");
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Row {
    /// Measured median.
    pub fn measured_s(&self) -> f64 {
        median(&self.measured)
    }
    /// Predicted median.
    pub fn predicted_s(&self) -> f64 {
        median(&self.predicted)
    }
    /// (predicted − measured) / measured, None when nothing was measured.
    pub fn error(&self) -> Option<f64> {
        let m = self.measured_s();
        (m > 0.0).then(|| (self.predicted_s() - m) / m)
    }
    /// Whether the prediction holds.
    pub fn within(&self) -> bool {
        let (m, p) = (self.measured_s(), self.predicted_s());
        // A hair of tolerance for gaps that are whole probe intervals in floating point.
        (p - m).abs() <= (TOLERANCE * m).max(SLACK) + 1e-6
    }
}

fn verdict_of(r: &ScenarioReport, s: Service) -> String {
    r.services
        .get(&s)
        .map_or("not probed".to_owned(), |x| x.verdict.as_str().to_owned())
}

fn gap_of(r: &ScenarioReport, s: Service) -> f64 {
    r.services.get(&s).map_or(0.0, |x| x.max_gap_s())
}

/// The run whose gap is the median one (the lower middle for an even count).
fn middle(runs: &[ScenarioReport], s: Service) -> &ScenarioReport {
    let mut idx: Vec<usize> = (0..runs.len()).collect();
    idx.sort_by(|&a, &b| gap_of(&runs[a], s).total_cmp(&gap_of(&runs[b], s)));
    &runs[idx[(idx.len() - 1) / 2]]
}

/// Rows for one scenario from its lab runs and its simulation runs.
pub fn rows(lab: &[ScenarioReport], sim: &[ScenarioReport]) -> Vec<Row> {
    assert!(!lab.is_empty() && !sim.is_empty(), "runs on both sides");
    Service::ALL
        .into_iter()
        .filter(|s| lab.iter().any(|r| r.services.contains_key(s)))
        .map(|s| Row {
            scenario: lab[0].name.clone(),
            service: s,
            measured: lab.iter().map(|r| gap_of(r, s)).collect(),
            predicted: sim.iter().map(|r| gap_of(r, s)).collect(),
            measured_verdict: verdict_of(middle(lab, s), s),
            predicted_verdict: verdict_of(middle(sim, s), s),
            measured_outcome: lab
                .iter()
                .filter_map(|r| r.services.get(&s).map(|x| x.outcome))
                .max()
                .map_or("unknown".to_owned(), |o| format!("{o:?}").to_lowercase()),
        })
        .collect()
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// compare.json.
pub fn json(rows: &[Row]) -> String {
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "scenario": r.scenario,
                "service": r.service.as_str(),
                "measured_max_gap_s": r.measured.iter().map(|x| r3(*x)).collect::<Vec<_>>(),
                "measured_median_s": r3(r.measured_s()),
                "predicted_max_gap_s": r.predicted.iter().map(|x| r3(*x)).collect::<Vec<_>>(),
                "predicted_median_s": r3(r.predicted_s()),
                "error": r.error().map(r3),
                "within_tolerance": r.within(),
                "measured_verdict": r.measured_verdict,
                "predicted_verdict": r.predicted_verdict,
                "measured_outcome": r.measured_outcome,
            })
        })
        .collect();
    let doc = json!({
        "tolerance": TOLERANCE,
        "slack_s": SLACK,
        "all_within": rows.iter().all(Row::within),
        "rows": items,
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

/// compare.md: one table, a line per scenario and service.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| scenario | service | measured max gap (median) | predicted | error | verdict lab / sim | within 25 % |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let err = r
            .error()
            .map_or("–".to_owned(), |e| format!("{:+.0} %", e * 100.0));
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} s (n={}) | {:.2} s | {} | {} / {} | {} |",
            r.scenario,
            r.service,
            r.measured_s(),
            r.measured.len(),
            r.predicted_s(),
            err,
            r.measured_verdict,
            r.predicted_verdict,
            if r.within() { "yes" } else { "**no**" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(measured: &[f64], predicted: &[f64]) -> Row {
        Row {
            scenario: "s".into(),
            service: Service::Api,
            measured: measured.to_vec(),
            predicted: predicted.to_vec(),
            measured_verdict: "available".into(),
            predicted_verdict: "available".into(),
            measured_outcome: "passed".into(),
        }
    }

    #[test]
    fn medians_and_tolerance() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(row(&[4.0], &[4.9]).within());
        assert!(!row(&[4.0], &[5.1]).within());
        // Short gaps: absolute slack.
        assert!(row(&[0.2], &[0.0]).within());
        assert!(!row(&[0.0], &[1.0]).within());
        assert_eq!(row(&[0.0], &[0.0]).error(), None);
    }

    #[test]
    fn table_says_no_plainly() {
        let md = markdown(&[row(&[10.0], &[3.0])]);
        assert!(
            md.contains(
                "| s | api | 10.00 s (n=1) | 3.00 s | -70 % | available / available | **no** |"
            ),
            "{md}"
        );
    }
}
