//! The bench's readers and verdict, against the tools' own outputs and rules.

use super::*;

/// Prometheus's rule, worked by hand: 100 samples, 10 under 1 ms, 80 more under 2 ms, the
/// last 10 under 4 ms. p50 is rank 50, in the (1, 2] bucket 40 of 80 in: 1 + 1 × 40/80 =
/// 1.5 ms; p99 is rank 99, in (2, 4], 9 of 10 in: 2 + 2 × 9/10 = 3.8 ms.
#[test]
fn quantiles_are_interpolated_in_their_bucket_as_prometheus_does() {
    let h = [(0.001, 10), (0.002, 90), (0.004, 100), (f64::INFINITY, 100)];
    let q = |x| histogram_quantile(x, &h).unwrap();
    assert!((q(0.5) - 0.0015).abs() < 1e-12, "{}", q(0.5));
    assert!((q(0.99) - 0.0038).abs() < 1e-12, "{}", q(0.99));
    // In the first bucket the lower bound is 0: rank 5 of 10 → 0.5 ms.
    assert!((q(0.05) - 0.0005).abs() < 1e-12, "{}", q(0.05));
    // Samples past the last finite bound: the highest finite bound.
    let over = [(0.001, 0), (0.002, 1), (f64::INFINITY, 10)];
    assert_eq!(histogram_quantile(0.99, &over), Some(0.002));
    assert_eq!(
        histogram_quantile(0.5, &[(0.001, 0), (f64::INFINITY, 0)]),
        None
    );
    let p = Percentiles::from_histogram(&h);
    assert_eq!(p.max, 0.004, "max is the highest bucket holding a sample");
}

/// etcd's /metrics text: the bucket lines of one histogram, in order, `+Inf` last; other
/// metrics and the `_sum`/`_count` lines are not read.
#[test]
fn a_histogram_is_read_from_the_metrics_text() {
    let text = "\
# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 0
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 3
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 7
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 9
etcd_disk_wal_fsync_duration_seconds_sum 0.05
etcd_disk_wal_fsync_duration_seconds_count 9
etcd_disk_backend_commit_duration_seconds_bucket{le=\"0.001\"} 5
";
    let h = parse_histogram(text, "etcd_disk_wal_fsync_duration_seconds");
    assert_eq!(h, [(0.001, 0), (0.002, 3), (0.004, 7), (f64::INFINITY, 9)]);
    let c = parse_histogram(text, "etcd_disk_backend_commit_duration_seconds");
    assert_eq!(c, [(0.001, 5)]);
    assert!(parse_histogram(text, "etcd_nothing").is_empty());
}

/// A reading less the one before it, bucket by bucket; after a restart (counts went down)
/// the later reading alone.
#[test]
fn what_a_histogram_counted_between_two_readings() {
    let a = [(0.001, 2), (f64::INFINITY, 5)];
    let b = [(0.001, 3), (f64::INFINITY, 9)];
    assert_eq!(histogram_delta(&a, &b), [(0.001, 1), (f64::INFINITY, 4)]);
    let restarted = [(0.001, 0), (f64::INFINITY, 1)];
    assert_eq!(histogram_delta(&b, &restarted), restarted);
}

/// fio 3.33's JSON (Debian 12), cut to what is read: `sync.lat_ns` in nanoseconds.
#[test]
fn fio_json_gives_the_fdatasync_latencies() {
    let text = r#"note: both iodepth >= 1 and synchronous I/O engine are selected
{
  "fio version" : "fio-3.33",
  "jobs" : [ { "jobname" : "etcd",
      "sync" : { "total_ios" : 10029,
        "lat_ns" : { "min" : 7000000, "max" : 31000000, "mean" : 8400000.0,
          "percentile" : { "1.000000" : 8200000, "50.000000" : 8355840, "99.000000" : 9109504 } } } } ]
}"#;
    let p = parse_fio(text).unwrap();
    assert!((p.p50_ms() - 8.35584).abs() < 1e-9);
    assert!((p.p99_ms() - 9.109504).abs() < 1e-9);
    assert!((p.max_ms() - 31.0).abs() < 1e-9);
    let e = parse_fio(r#"{"jobs": [{"write": {}}]}"#).unwrap_err();
    assert!(e.contains("sync.lat_ns"), "{e}");
    assert!(parse_fio("fio: file not found").is_err());
}

/// `etcdctl check perf`'s lines, passing and failing (etcdctl's check.go prints them).
#[test]
fn check_perf_output_is_read_pass_or_fail() {
    let pass = " 60 / 60 Boooo! 100.00%1m0s\nPASS: Throughput is 151 writes/s\nPASS: Slowest request took 0.468174s\nPASS: Stddev is 0.028241s\nPASS\n";
    let c = parse_check_perf(pass).unwrap();
    assert_eq!(c.writes_per_s, 151.0);
    assert!((c.slowest.as_secs_f64() - 0.468174).abs() < 1e-9);
    assert!(c.pass());
    let fail = "FAIL: Throughput too low: 64 writes/s\nSlowest request took too long: 0.786915s\nStddev too high: 0.163215s\nFAIL\n";
    let c = parse_check_perf(fail).unwrap();
    assert_eq!(c.writes_per_s, 64.0);
    assert!((c.slowest.as_secs_f64() - 0.786915).abs() < 1e-9);
    assert!((c.stddev.as_secs_f64() - 0.163215).abs() < 1e-9);
    assert!(!c.pass());
    assert!(parse_check_perf("Error: context deadline exceeded").is_err());
}

fn figures(wal_p99_ms: f64, commit_p99_ms: f64, pass: bool) -> etcd::Figures {
    let p = |ms: f64| Percentiles {
        p50: ms / 2000.0,
        p99: ms / 1000.0,
        max: ms / 1000.0,
    };
    etcd::Figures {
        fdatasync: p(8.4),
        wal_fsync: p(wal_p99_ms),
        backend_commit: p(commit_p99_ms),
        check_perf: etcd::CheckPerf {
            writes_per_s: if pass { 150.0 } else { 100.0 },
            slowest: Duration::from_millis(100),
            stddev: Duration::from_millis(10),
        },
    }
}

/// The verdict names each bar that failed, with the figure; a pass names them all.
#[test]
fn the_verdict_says_why() {
    let no = verdict(&figures(14.0, 12.0, true));
    assert!(!no.ok);
    assert_eq!(
        no.line,
        "etcd on this disk: no — WAL fsync p99 14 ms > 10 ms (etcd's bar; OpenShift's is 20 ms)"
    );
    let no = verdict(&figures(9.0, 30.0, false));
    assert_eq!(
        no.line,
        "etcd on this disk: no — backend commit p99 30 ms > 25 ms; check perf FAIL"
    );
    let yes = verdict(&figures(9.0, 20.0, true));
    assert!(yes.ok);
    assert!(
        yes.line
            .starts_with("etcd on this disk: yes — WAL fsync p99 9.0 ms ≤ 10 ms"),
        "{}",
        yes.line
    );
}

/// bench.json's contract: kind, disk_profile, measured (null on the simulation), predicted
/// with the named figures, the verdict.
#[test]
fn bench_json_keeps_its_contract() {
    let b = EtcdBench {
        disk_profile: "hdd-7200".into(),
        measured_on: "simulation".into(),
        measured: None,
        predicted: figures(14.0, 12.0, true),
        others: vec![("ssd".into(), figures(1.0, 2.0, true))],
    };
    let v: Value = serde_json::from_str(&json(&b)).unwrap();
    assert_eq!(v["kind"], "etcd");
    assert_eq!(v["disk_profile"], "hdd-7200");
    assert!(v["measured"].is_null());
    for k in [
        "fdatasync_p99_ms",
        "wal_fsync_p99_ms",
        "backend_commit_p99_ms",
    ] {
        assert!(v["predicted"][k].is_number(), "{k}");
    }
    assert_eq!(v["predicted"]["wal_fsync_p99_ms"], 14.0);
    assert_eq!(v["predicted"]["check_perf"], "PASS");
    assert_eq!(v["verdict"]["ok"], false);
    assert_eq!(
        v["other_profiles_predicted"]["ssd"]["wal_fsync_p99_ms"],
        1.0
    );
    let md = markdown(&b);
    assert!(md.contains("**etcd on this disk: no"), "{md}");
    assert!(
        md.contains("| ssd | 8.4 ms | 1.0 ms | 2.0 ms | PASS | yes |"),
        "{md}"
    );
    assert!(
        md.contains("| check perf slowest put | – | 100 ms | ≤ 500 ms |"),
        "{md}"
    );
    let svg = svg(&b);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<circle").count(),
        3 * 2,
        "p50 dots: 3 figures × 2 series"
    );
}

/// Milliseconds: one decimal under 10, whole from 10 on (the bars are 10 and 25 ms).
#[test]
fn milliseconds_print_one_decimal_under_ten() {
    assert_eq!(fmt_ms(2.54), "2.5 ms");
    assert_eq!(fmt_ms(10.0), "10 ms");
    assert_eq!(fmt_ms(62.4), "62 ms");
}

/// check perf's throughput rule is etcdctl's `RPS / limit <= 0.9` fails: exactly 135 of 150
/// a second fails.
#[test]
fn check_perf_fails_at_exactly_ninety_percent() {
    let at = |w: f64| etcd::CheckPerf {
        writes_per_s: w,
        slowest: Duration::from_millis(100),
        stddev: Duration::from_millis(10),
    };
    assert!(!at(135.0).pass());
    assert!(at(135.1).pass());
}

/// The picture's geometry, worked out by hand: a log scale from 0.1 ms (x 190) to 1 s
/// (x 700), so 1 ms at 190 + 510 / 4 = 317.5 and 10 ms at 445; three series (measured,
/// predicted, one other profile) under each of three figures, 16 px a row and a header row
/// each: 66 + 3 × 4 × 16 = 258 px high; names escaped.
#[test]
fn the_bench_picture_places_each_figure_on_the_log_scale() {
    let b = EtcdBench {
        disk_profile: "hdd<7200".into(),
        measured_on: "lab".into(),
        measured: Some(figures(14.0, 12.0, true)),
        predicted: figures(14.0, 12.0, true),
        others: vec![("ssd".into(), figures(1.0, 2.0, true))],
    };
    let svg = svg(&b);
    for want in [
        r#"height="258""#,
        // The 1 ms gridline, down to 22 px above the bottom.
        r#"<line x1="317.5" y1="20" x2="317.5" y2="236.0""#,
        r#"<text x="4" y="40.0" font-weight="bold">fio fdatasync</text>"#,
        // fio's 10 ms bar over its header and three rows (30 → 94).
        r#"<line x1="445.0" y1="30.0" x2="445.0" y2="94.0""#,
        // The backend commit's 25 ms bar, its header at 158: x = 190 + (log10 25 + 1) / 4 × 510.
        r#"<line x1="495.7" y1="158.0" x2="495.7" y2="222.0""#,
        // The first row: fio measured, p50 4.2 ms at 397.0, p99 8.4 ms at 435.3 (its mark 2 px left).
        r#"<circle cx="397.0" cy="52.0""#,
        r#"<rect x="433.3" y="48.0""#,
        "hdd&lt;7200 measured",
        r##"<text x="4" y="254.0" fill="#555">dot: p50"##,
    ] {
        assert!(svg.contains(want), "{want}\n{svg}");
    }
}
