//! Benchmarks of the cluster's disks, measured on a lab and predicted by the simulation's
//! disk model: `hadrill bench etcd`. What etcd's and fio's outputs mean ([`parse_fio`],
//! [`parse_check_perf`], [`parse_histogram`]), percentiles read as each tool reads them, the
//! verdict with its reason, and the report (`bench.json`, `bench.md`, `bench.svg`).
//!
//! **Boundary:** pure: the lab side (SSH, fio, etcdctl) is `harness::bench`.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::report::esc;

pub mod etcd;

/// etcd's disk histograms' upper bounds, in seconds: `prometheus.ExponentialBuckets(0.001,
/// 2, 14)` (1 ms to 8.192 s) for both the WAL fsync and the backend commit.
pub const ETCD_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192,
];

/// etcd's bar for the WAL fsync's 99th percentile (its hardware guide: under 10 ms), and for
/// fio's fdatasync, which stands for it.
pub const WAL_P99_MAX_MS: f64 = 10.0;
/// OpenShift's looser bar for the same figure, named beside etcd's.
pub const WAL_P99_OPENSHIFT_MS: f64 = 20.0;
/// etcd's bar for the backend commit's 99th percentile (under 25 ms).
pub const COMMIT_P99_MAX_MS: f64 = 25.0;

/// p50, p99 and max of a latency, in seconds. From samples, nearest rank; from a
/// histogram, interpolated as Prometheus does, and `max` is the upper bound of the highest
/// bucket that holds a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The slowest.
    pub max: f64,
}

impl Percentiles {
    /// From every sample (nearest rank); zeros when there are none.
    pub fn exact(samples: &[Duration]) -> Percentiles {
        let mut s: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        let rank = |q: f64| -> f64 {
            if s.is_empty() {
                return 0.0;
            }
            let k = (q * s.len() as f64).ceil() as usize;
            s[k.clamp(1, s.len()) - 1]
        };
        Percentiles {
            p50: rank(0.5),
            p99: rank(0.99),
            max: rank(1.0),
        }
    }

    /// From cumulative bucket counts (upper bound, count), the last `+Inf`.
    pub fn from_histogram(h: &[(f64, u64)]) -> Percentiles {
        let total = h.last().map_or(0, |b| b.1);
        let max = h.iter().find(|b| b.1 == total).map_or(0.0, |b| b.0).min(
            h.iter()
                .map(|b| b.0)
                .filter(|le| le.is_finite())
                .fold(0.0, f64::max),
        );
        Percentiles {
            p50: histogram_quantile(0.5, h).unwrap_or(0.0),
            p99: histogram_quantile(0.99, h).unwrap_or(0.0),
            max: if total == 0 { 0.0 } else { max },
        }
    }

    /// The median in milliseconds.
    pub fn p50_ms(&self) -> f64 {
        self.p50 * 1000.0
    }

    /// The 99th percentile in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        self.p99 * 1000.0
    }

    /// The slowest in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.max * 1000.0
    }
}

/// Prometheus's `histogram_quantile`: the bucket where the `q` rank falls, interpolated
/// linearly from its lower bound (0 for the first) to its upper bound; in the `+Inf` bucket,
/// the highest finite bound. None for an empty histogram.
pub fn histogram_quantile(q: f64, h: &[(f64, u64)]) -> Option<f64> {
    let total = h.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let i = h.iter().position(|b| b.1 as f64 >= rank)?;
    let (lower, below) = if i == 0 { (0.0, 0) } else { h[i - 1] };
    let (upper, count) = h[i];
    if !upper.is_finite() {
        return Some(lower);
    }
    if count == below {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below as f64) / (count - below) as f64)
}

/// A histogram's cumulative buckets from Prometheus's text format: every
/// `NAME_bucket{…le="X"…} COUNT` line, in order of `le` (`+Inf` last).
pub fn parse_histogram(text: &str, name: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{");
    let mut out: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (labels, value) = rest.split_once('}')?;
            let le = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("le="))?;
            let le = le.trim_matches('"');
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count: f64 = value.trim().parse().ok()?;
            Some((le, count as u64))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// What a histogram counted between two readings (the later less the earlier, bucket by
/// bucket); the later alone when the earlier has other buckets (the process restarted).
pub fn histogram_delta(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let same = before.len() == after.len()
        && before
            .iter()
            .zip(after)
            .all(|(a, b)| a.0.total_cmp(&b.0).is_eq() && a.1 <= b.1);
    if !same {
        return after.to_vec();
    }
    before
        .iter()
        .zip(after)
        .map(|(a, b)| (b.0, b.1 - a.1))
        .collect()
}

/// fio's `--output-format=json`: its first job's `fdatasync` latencies (`sync.lat_ns`), or
/// why they are not there.
pub fn parse_fio(text: &str) -> Result<Percentiles, String> {
    // fio may print notes before its JSON.
    let start = text.find('{').ok_or("fio printed no JSON")?;
    let v: Value = serde_json::from_str(&text[start..]).map_err(|e| format!("fio's JSON: {e}"))?;
    let lat = &v["jobs"][0]["sync"]["lat_ns"];
    let pct = |k: &str| lat["percentile"][k].as_f64();
    match (pct("50.000000"), pct("99.000000"), lat["max"].as_f64()) {
        (Some(p50), Some(p99), Some(max)) => Ok(Percentiles {
            p50: p50 / 1e9,
            p99: p99 / 1e9,
            max: max / 1e9,
        }),
        _ => Err("fio's JSON has no fdatasync latencies (jobs[0].sync.lat_ns)".into()),
    }
}

/// `etcdctl check perf`'s output: throughput, slowest, standard deviation.
pub fn parse_check_perf(text: &str) -> Result<etcd::CheckPerf, String> {
    let number_after = |key: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.contains(key))?;
        let rest = &line[line.find(key)? + key.len()..];
        let num: String = rest
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        num.parse().ok()
    };
    let writes = number_after("Throughput is")
        .or_else(|| number_after("Throughput too low"))
        .ok_or("check perf printed no throughput")?;
    let slowest = number_after("Slowest request took too long")
        .or_else(|| number_after("Slowest request took"))
        .ok_or("check perf printed no slowest request")?;
    let stddev = number_after("Stddev too high")
        .or_else(|| number_after("Stddev is"))
        .ok_or("check perf printed no standard deviation")?;
    Ok(etcd::CheckPerf {
        writes_per_s: writes,
        slowest: Duration::from_secs_f64(slowest),
        stddev: Duration::from_secs_f64(stddev),
    })
}

/// Whether etcd is happy on the disk, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Every bar held.
    pub ok: bool,
    /// One line: `etcd on this disk: no — WAL fsync p99 14 ms > 10 ms (etcd's bar; …)`.
    pub line: String,
}

/// The verdict on a set of figures, against etcd's bars.
pub fn verdict(f: &etcd::Figures) -> Verdict {
    let mut bad = Vec::new();
    let mut good = Vec::new();
    let openshift = format!(" (etcd's bar; OpenShift's is {WAL_P99_OPENSHIFT_MS:.0} ms)");
    let mut judge = |ok: bool, text: String| if ok { good.push(text) } else { bad.push(text) };
    for (name, ms, max, note) in [
        (
            "WAL fsync p99",
            f.wal_fsync.p99_ms(),
            WAL_P99_MAX_MS,
            openshift.as_str(),
        ),
        (
            "fio fdatasync p99",
            f.fdatasync.p99_ms(),
            WAL_P99_MAX_MS,
            "",
        ),
        (
            "backend commit p99",
            f.backend_commit.p99_ms(),
            COMMIT_P99_MAX_MS,
            "",
        ),
    ] {
        let ok = ms <= max;
        let sign = if ok { "≤" } else { ">" };
        judge(
            ok,
            format!("{name} {} {sign} {max:.0} ms{note}", fmt_ms(ms)),
        );
    }
    let pass = f.check_perf.pass();
    judge(
        pass,
        format!("check perf {}", if pass { "PASS" } else { "FAIL" }),
    );
    let ok = bad.is_empty();
    let reasons = if ok { good } else { bad };
    Verdict {
        ok,
        line: format!(
            "etcd on this disk: {} — {}",
            if ok { "yes" } else { "no" },
            reasons.join("; ")
        ),
    }
}

/// Milliseconds as the reports print them: two significant places under 10, else whole.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// One `hadrill bench etcd`: the disk it ran on, what was measured there (None on the
/// simulation), what the model predicts for its profile, and the model's figures for the
/// other profiles (what another disk would change).
#[derive(Clone, Debug)]
pub struct EtcdBench {
    /// The disk profile measured (on a lab, the disk's) and predicted.
    pub disk_profile: String,
    /// Where it was measured (`node-1: /var/lib/etcd (…)`), or `simulation`.
    pub measured_on: String,
    /// What the lab measured.
    pub measured: Option<etcd::Figures>,
    /// What the disk model predicts for `disk_profile`.
    pub predicted: etcd::Figures,
    /// What it predicts for each other profile.
    pub others: Vec<(String, etcd::Figures)>,
}

impl EtcdBench {
    /// The verdict: on what was measured when there is a measurement.
    pub fn verdict(&self) -> Verdict {
        verdict(self.measured.as_ref().unwrap_or(&self.predicted))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn figures_json(f: &etcd::Figures) -> Value {
    let mut m = serde_json::Map::new();
    for (name, p) in [
        ("fdatasync", &f.fdatasync),
        ("wal_fsync", &f.wal_fsync),
        ("backend_commit", &f.backend_commit),
    ] {
        m.insert(format!("{name}_p50_ms"), json!(round2(p.p50_ms())));
        m.insert(format!("{name}_p99_ms"), json!(round2(p.p99_ms())));
        m.insert(format!("{name}_max_ms"), json!(round2(p.max_ms())));
    }
    let c = &f.check_perf;
    m.insert(
        "check_perf".into(),
        json!(if c.pass() { "PASS" } else { "FAIL" }),
    );
    m.insert(
        "check_perf_writes_per_s".into(),
        json!(round2(c.writes_per_s)),
    );
    m.insert(
        "check_perf_slowest_ms".into(),
        json!(round2(c.slowest.as_secs_f64() * 1000.0)),
    );
    m.insert(
        "check_perf_stddev_ms".into(),
        json!(round2(c.stddev.as_secs_f64() * 1000.0)),
    );
    Value::Object(m)
}

/// `bench.json`.
pub fn json(b: &EtcdBench) -> String {
    let v = b.verdict();
    let others: serde_json::Map<String, Value> = b
        .others
        .iter()
        .map(|(name, f)| (name.clone(), figures_json(f)))
        .collect();
    let doc = json!({
        "kind": "etcd",
        "disk_profile": b.disk_profile,
        "measured_on": b.measured_on,
        "measured": b.measured.as_ref().map(figures_json),
        "predicted": figures_json(&b.predicted),
        "other_profiles_predicted": others,
        "verdict": {"ok": v.ok, "line": v.line},
    });
    serde_json::to_string_pretty(&doc).expect("json values serialize") + "\n"
}

/// One cell of bench.md's table, from a set of figures.
type Cell = fn(&etcd::Figures) -> String;
/// One latency of a set of figures.
type Pick = fn(&etcd::Figures) -> Percentiles;

/// `bench.md`: the verdict, measured beside predicted, and what the other profiles give.
pub fn markdown(b: &EtcdBench) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# etcd on the `{}` disk\n", b.disk_profile);
    let _ = writeln!(o, "**{}**\n", b.verdict().line);
    let _ = writeln!(o, "Measured on: {}.\n", b.measured_on);
    let _ = writeln!(o, "| figure | measured | predicted | bar |");
    let _ = writeln!(o, "| --- | --- | --- | --- |");
    let cell = |f: Option<&etcd::Figures>, g: Cell| f.map_or_else(|| "–".to_owned(), g);
    let rows: [(&str, Cell, &str); 10] = [
        ("fio fdatasync p50", |f| fmt_ms(f.fdatasync.p50_ms()), ""),
        (
            "fio fdatasync p99",
            |f| fmt_ms(f.fdatasync.p99_ms()),
            "≤ 10 ms",
        ),
        ("fio fdatasync max", |f| fmt_ms(f.fdatasync.max_ms()), ""),
        ("WAL fsync p50", |f| fmt_ms(f.wal_fsync.p50_ms()), ""),
        (
            "WAL fsync p99",
            |f| fmt_ms(f.wal_fsync.p99_ms()),
            "≤ 10 ms (OpenShift: 20 ms)",
        ),
        (
            "backend commit p50",
            |f| fmt_ms(f.backend_commit.p50_ms()),
            "",
        ),
        (
            "backend commit p99",
            |f| fmt_ms(f.backend_commit.p99_ms()),
            "≤ 25 ms",
        ),
        (
            "check perf (load s)",
            |f| (if f.check_perf.pass() { "PASS" } else { "FAIL" }).to_owned(),
            "PASS",
        ),
        (
            "check perf throughput",
            |f| format!("{:.0} writes/s", f.check_perf.writes_per_s),
            "> 135 writes/s",
        ),
        (
            "check perf slowest put",
            |f| fmt_ms(f.check_perf.slowest.as_secs_f64() * 1000.0),
            "≤ 500 ms",
        ),
    ];
    for (name, g, bar) in rows {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {bar} |",
            cell(b.measured.as_ref(), g),
            g(&b.predicted)
        );
    }
    others_table(&mut o, &b.others);
    let _ = writeln!(
        o,
        "\nPercentiles of fio are its own; those of the WAL fsync and backend commit are read \
         from etcd's histograms as Prometheus reads them (buckets of 1, 2, 4, 8, 16, 32 ms …), \
         in the prediction too. How the disk is modelled: docs/benchmarks.md."
    );
    o
}

/// bench.md's table of the other profiles' predictions.
fn others_table(o: &mut String, others: &[(String, etcd::Figures)]) {
    if !others.is_empty() {
        let _ = writeln!(o, "\n## The same bench on other disks (predicted)\n");
        let _ = writeln!(
            o,
            "| disk profile | fio p99 | WAL fsync p99 | backend commit p99 | check perf | etcd |"
        );
        let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
        for (name, f) in others {
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} |",
                fmt_ms(f.fdatasync.p99_ms()),
                fmt_ms(f.wal_fsync.p99_ms()),
                fmt_ms(f.backend_commit.p99_ms()),
                if f.check_perf.pass() { "PASS" } else { "FAIL" },
                if verdict(f).ok { "yes" } else { "no" },
            );
        }
    }
}

/// `bench.svg`: p50, p99 and max of each latency, measured and predicted, on a log scale,
/// with etcd's bars; then the other profiles' p99s.
pub fn svg(b: &EtcdBench) -> String {
    const W: f64 = 720.0;
    const LEFT: f64 = 190.0;
    const ROW: f64 = 16.0;
    // Log scale from 0.1 ms to 1 s.
    let x = |ms: f64| LEFT + (ms.max(0.1).log10() + 1.0) / 4.0 * (W - LEFT - 20.0);
    let mut series: Vec<(String, &'static str, &etcd::Figures)> = Vec::new();
    if let Some(m) = &b.measured {
        series.push((format!("{} measured", b.disk_profile), "#c33", m));
    }
    series.push((
        format!("{} predicted", b.disk_profile),
        "#36c",
        &b.predicted,
    ));
    for (name, f) in &b.others {
        series.push((format!("{name} predicted"), "#999", f));
    }
    let figures: [(&str, Pick); 3] = [
        ("fio fdatasync", |f| f.fdatasync),
        ("WAL fsync", |f| f.wal_fsync),
        ("backend commit", |f| f.backend_commit),
    ];
    let h = 66.0 + (figures.len() * (series.len() + 1)) as f64 * ROW;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    for ms in [0.1, 1.0, 10.0, 100.0, 1000.0] {
        let _ = write!(o, "<line x1=\"{0:.1}\" y1=\"20\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/><text x=\"{0:.1}\" y=\"14\" text-anchor=\"middle\">{ms} ms</text>", x(ms), h - 22.0);
    }
    let mut y = 30.0;
    for (name, get) in figures {
        let _ = write!(
            o,
            "<text x=\"4\" y=\"{:.1}\" font-weight=\"bold\">{name}</text>",
            y + 10.0
        );
        let bar = if name == "backend commit" {
            COMMIT_P99_MAX_MS
        } else {
            WAL_P99_MAX_MS
        };
        let _ = write!(o, "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#a00\" stroke-dasharray=\"4 3\"><title>etcd's bar for p99: {bar} ms</title></line>", x(bar), y, y + ROW * (series.len() + 1) as f64);
        y += ROW;
        for (label, colour, f) in &series {
            let p = get(f);
            let (a, c) = (x(p.p50_ms()), x(p.max_ms()));
            let _ = write!(
                o,
                "<text x=\"14\" y=\"{:.1}\">{}</text><line x1=\"{a:.1}\" y1=\"{2:.1}\" x2=\"{c:.1}\" y2=\"{2:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/><circle cx=\"{a:.1}\" cy=\"{2:.1}\" r=\"3\" fill=\"{colour}\"><title>p50 {3}</title></circle><rect x=\"{4:.1}\" y=\"{5:.1}\" width=\"4\" height=\"8\" fill=\"{colour}\"><title>p99 {6}</title></rect><title>max {7}</title>",
                y + 10.0,
                esc(label),
                y + 6.0,
                fmt_ms(p.p50_ms()),
                x(p.p99_ms()) - 2.0,
                y + 2.0,
                fmt_ms(p.p99_ms()),
                fmt_ms(p.max_ms()),
            );
            y += ROW;
        }
    }
    let _ = write!(
        o,
        "<text x=\"4\" y=\"{:.1}\" fill=\"#555\">dot: p50 · bar: p99 · line: to the slowest · dashed: etcd's bar for p99 (10 ms; backend commit 25 ms) · log scale</text>",
        h - 4.0
    );
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests;
