//! The real-VM mode end to end, as CI runs it on a machine without KVM (TCG): the node image,
//! three VMs with an extra disk each, the bare profile provisioned and validated, real faults
//! (kill-vip-holder, move-vip, isolate-node through `compare`, which drills each on the lab and
//! in the simulation), interrupted and killed drills (netem gone at Ctrl-C; a killed drill's
//! partition undone by `heal`, or removed by `down`), a second lab's `up` killed beside the
//! first, and `down`, after which nothing of the lab may remain.
//!
//! Needs libvirtd, nft and debootstrap (.ci/setup); built only with `--features real`.

// Tests on real daemons wait on the wall clock; only the simulation must not.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use provisioner::model::{ClusterModel, Profile};

fn hadrill(home: &Path, args: &[&str]) -> (i32, String, String) {
    let started = std::time::Instant::now();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(args)
        .output()
        .expect("run hadrill");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!(
        "$ hadrill {} ({:.0} s)\n{o}{e}",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    (out.status.code().unwrap_or(-1), o, e)
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
        .display()
        .to_string()
}

/// Removes the lab however the test ends.
struct Lab {
    home: PathBuf,
    name: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = hadrill(&self.home, &["down", "--lab", &self.name]);
        // A failed run keeps its reports (the path is in the output) for a person to read.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}

/// Keeps a figure of the run for the record, in target/ci/vm (a passing test prints nothing;
/// .ci/test shows these at the end).
fn keep(file: &str, text: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ci/vm");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(file), text);
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

/// The longest gap of a service that began while a scenario's first fault was in force (from
/// a probe timeout and a second before the fault, since a probe sent just before it fails too,
/// until its undo).
fn gap_after_fault(report: &serde_json::Value, scenario: &str, svc: &str, timeout: f64) -> f64 {
    let s = report["scenarios"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == scenario))
        .unwrap_or_else(|| panic!("no {scenario} in the report"));
    let at = |kind: &str| {
        s["marks"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["kind"] == kind))
            .and_then(|m| m["at_s"].as_f64())
    };
    let fault = at("fault").unwrap_or_else(|| panic!("{scenario}: no fault mark: {s}"));
    // Until the undo, or the end for a fault that has none (move-vip).
    // A gap in progress at `from` counts from then (as `compare` counts it): CI at 2138ede
    // had the API stalled from 3.6 s before the power-off through the takeover.
    let (from, to) = (fault - timeout - 1.0, at("undo").unwrap_or(f64::INFINITY));
    s["services"][svc]["gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .filter_map(|g| Some((g["start_s"].as_f64()?, g["len_s"].as_f64()?)))
        .filter(|&(start, len)| start < to && start + len > from)
        .map(|(start, len)| start + len - start.max(from))
        .fold(0.0, f64::max)
}

fn service<'a>(
    report: &'a serde_json::Value,
    scenario: &str,
    service: &str,
) -> &'a serde_json::Value {
    report["scenarios"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == scenario))
        .map(|s| &s["services"][service])
        .unwrap_or_else(|| panic!("no {scenario} in the report"))
}

#[test]
fn three_vms_provisioned_broken_measured_and_removed() {
    let home = std::env::temp_dir().join(format!("hadrill-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let name = format!("ci{}", std::process::id() % 100_000);
    let lab = Lab {
        home: home.clone(),
        name: name.clone(),
    };
    let (code, out, _) = hadrill(&home, &["up", "--lab", &name]);
    assert_eq!(code, 0, "up");
    assert!(out.contains("3 nodes up"), "{out}");
    let emulated = out.contains("(qemu)");
    keep("up.txt", &out);
    let (code, _, _) = hadrill(&home, &["provision", "--lab", &name, "--profile", "bare"]);
    assert_eq!(code, 0, "provision");
    // Up to 3 min to settle after provisioning: the clean-clone CI of 8a5e84d had SSH ready
    // after 111 s (TCG) and, 60 s after provision, HAProxy still refusing the VIP's etcd port
    // while all three members were healthy (every other check ok).
    let (code, out, _) = hadrill(&home, &["validate", "--lab", &name, "--wait", "180"]);
    assert_eq!(
        (code, out.lines().filter(|l| l.starts_with("ok ")).count()),
        (0, 11),
        "validate: {out}"
    );
    // The seed's priorities with HAProxy running everywhere: 101 + 2 and 100 + 2.
    assert!(out.contains("node-1 103, node-2 102, node-3 102"), "{out}");

    measured_gaps(&home, &name, emulated);
    interrupted_netem_heals(&home, &name);
    killed_drill_is_healed_by_heal(&home, &name);
    killed_up_beside_a_lab_is_removed_by_down(&home, &name, &format!("{name}k"));
    killed_drill_is_removed_by_down(&home, &name);

    drop(lab);
    nothing_left(&home, &name);
}

/// A drill killed outright with its partition in force, and no `heal`: `status` names the
/// drill and the fault, and `down` removes the lab with the partition's nftables table (the
/// caller's `nothing_left` checks that nothing of it remains).
fn killed_drill_is_removed_by_down(home: &Path, name: &str) {
    let mut child = partition_drill(home, name, "killed-then-down");
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(partitioned(name), "a killed drill cannot heal");
    let (_, out, _) = hadrill(home, &["status"]);
    assert!(out.contains("owner gone: `hadrill drill`"), "{out}");
    assert!(out.contains("faults in force: isolate node-3"), "{out}");
    let (code, out, _) = hadrill(home, &["down", "--lab", name]);
    assert_eq!(code, 0, "down after kill -9 of a drill: {out}");
    assert!(out.contains("removed"), "{out}");
}

/// compare drills the three scenarios for real and beside the simulation; the measured gaps
/// must be what the protocols allow.
fn measured_gaps(home: &Path, name: &str, emulated: bool) {
    let out = home.join("compare");
    let o = out.display().to_string();
    let (code, table, _) = hadrill(
        home,
        &[
            "compare",
            "--lab",
            name,
            "--out",
            &o,
            &scenario("move-vip.yaml"),
            &scenario("kill-vip-holder.yaml"),
            &scenario("isolate-node.yaml"),
        ],
    );
    // 1: a prediction outside the published 25 % (or a failed expectation); the gate below
    // holds each row to CI's own window. 3 (a drill that could not finish) is a failure.
    assert!(code == 0 || code == 1, "compare exited {code}");
    // Three scenarios, three services, two phases each (all three undo their fault).
    assert_eq!(
        table.lines().filter(|l| l.starts_with("| ")).count(),
        2 + 18,
        "{table}"
    );
    keep("compare.md", &table);
    let c = json(&out.join("compare.json"));
    assert_eq!(c["rows"].as_array().map(Vec::len), Some(18));
    // Kept before the gate, so that a run it fails leaves the per-probe record in target/ci/vm.
    let text = std::fs::read_to_string(out.join("lab/report.json")).expect("lab report");
    keep("lab-report.json", &text);
    fidelity_gate(&c, emulated);
    let api_judged = judged(&c, "kill-vip-holder", "api");
    let lab: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(lab["substrate"], "libvirt");
    for s in lab["scenarios"].as_array().expect("scenarios") {
        assert!(s["error"].is_null(), "the drill could not finish: {s}");
    }
    let m = ClusterModel::seed(Profile::Bare);
    let gap = |s: &str, svc: &str| service(&lab, s, svc)["max_gap_s"].as_f64().expect("gap");
    // Powering off the VIP holder: no answer until a backup's master-down timer runs out
    // (3 × advert_int + skew), then HAProxy on the new holder still sends connections to the
    // silent node until its checks mark it DOWN (10–12 s, FACTS.md); a second of slack. The
    // target is the gap after the power-off; what the power-on costs is reported, not bounded
    // here (the rows of the return in compare's table).
    let bound = m.vip_loss_api_bound().as_secs_f64();
    let api = gap_after_fault(
        &lab,
        "kill-vip-holder",
        "api",
        m.probes.timeout.as_secs_f64(),
    );
    // A backup takes over 3 × advert_int + skew after the last advert it heard, and no keepalived
    // node's skew is shorter than the highest priority's (the holder's own included, which only
    // lowers the floor). That advert went out up to one advert_int before the power-off, and
    // on starved emulated guests it can be late (the VIP once moved 2.2 s after the power-off:
    // the last advert heard was 1.4 s older). A probe's SYN sent into the gap is sent again
    // syn_rto later and reaches the new holder if it has taken over by then, so the client
    // sees syn_rto less. A shorter gap would mean the VIP moved sooner than VRRP lets it, or
    // the power-off missed.
    let fastest = m
        .node_ids()
        .filter(|&i| m.node(i).proxy)
        .map(|i| m.vrrp_priority(i, true))
        .max()
        .expect("a node");
    let late = m.keepalived.advert_int / 2;
    let floor = (m.vrrp_master_down(fastest) - m.keepalived.advert_int - late - m.machine.syn_rto)
        .as_secs_f64();
    // A lab too slow to judge the API (compare's rule) still holds the floor: slowness can
    // lengthen a gap, never shorten it.
    assert!(
        api >= floor && (api <= bound || !api_judged),
        "kill-vip-holder api gap after the power-off {api} s (floor {floor} s, bound {bound} s)"
    );
    if judged(&c, "move-vip", "api") {
        planned_move_gap(&lab, &m);
    }
    // A node cut off: Ceph writes stall until its OSD is marked down (grace 20 s and the
    // peers' reports), then go on degraded.
    heal_checked_on_the_host(&lab);
    let ceph = gap("isolate-node", "ceph");
    let grace = m.ceph.osd_heartbeat_grace.as_secs_f64();
    assert!(
        ceph >= grace * 0.75 && ceph <= 45.0,
        "isolate-node ceph gap {ceph} s"
    );
}

/// isolate-node's heal was checked at once on the host (node-3's tap out of the partition
/// set), and every set empty at the end.
fn heal_checked_on_the_host(lab: &serde_json::Value) {
    let iso = lab["scenarios"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "isolate-node"))
        .expect("isolate-node");
    let held = |check: &str| {
        iso["post_checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["check"] == check && c["ok"] == true))
    };
    assert!(held("the lab's isolated set empty"), "{iso}");
    let healed = ["node-1", "node-2", "node-3"]
        .iter()
        .any(|n| held(&format!("{n} not in the lab's isolated set, after heal")));
    assert!(healed, "{iso}");
}

/// CI's fidelity gate on one run of each scenario: every row's measured gap within
/// [`CI_TOLERANCE`] (or [`CI_SLACK`]) of the predicted median, or within the range the
/// simulation's seeds drew, widened by two probe intervals (`compare::SLACK`). The published
/// claim (docs/fidelity.md: 25 % or 0.4 s, `compare::TOLERANCE`) is on medians of `--runs 3`;
/// one run on emulated guests sharing two host cores strays further from its median, as
/// measured (docs/fidelity.md's table, one run against the median of three): kill-vip-holder
/// api 3.4 s against 2.6 s (+31 %), isolate-node ceph 34.8 s against 29.0 s (+20 %), move-vip
/// api 0.8 s against 0.4 s (+0.4 s). And one run is one draw of the moment of the power-off
/// against the VRRP adverts, which moves the takeover by a whole second: CI at 37539d9
/// measured kill-vip-holder api 2.2 s against a 5-seed median of 3.2 s (+45 %), where the
/// simulation with lab-like answer times spreads over 2.0–3.6 s (60 seeds, median 2.8 s) and
/// the lab's runs so far over 2.2–3.4 s. A window is widened only with a measured reason in
/// the commit. CI at 15625f9 failed it on mechanisms, not load (docs/fidelity.md): API 1.8 s
/// against seeds 2.8–3.8 s (every backup's HAProxy rotation started at the dead node-1), and
/// isolate-node's Ceph return 0.4 s against 1.4–1.6 s (every placement group peered for the
/// same 1.5 s); the simulation was mended, the window kept. CI at 710d0f6 failed it on
/// kill-vip-holder, 6.8 s (API) and 7.0 s (ingress) against seeds 2.0–3.6 s: both backups had
/// taken over and clients followed the one that stepped down until the second GARP burst,
/// which the simulation now models (in some seeds), and `compare` draws 41 seeds so that the
/// range holds such a mode; the window kept.
///
/// Rows of the return (gaps from the first undo on) are held to one side only: the simulation
/// must not predict a longer gap than the lab's beyond that window. Three CI runs of one each
/// failed the two-sided gate there, each at a busy moment of starved guests that the
/// simulation does not model (docs/fidelity.md): kill-vip-holder api 6.0 s, ~100 s after the
/// power-on (the fault's own gap 2.8 s); isolate-node api 3.6 s, 2.6 s after the heal, probe
/// timeouts after 0.8 s of "etcd /health not true" (the fault's own gap under 1 s; predicted
/// 0.6–1.0 s for the whole drill). The fault's rows keep the two-sided gate.
///
/// Rows that `compare` leaves unjudged (the lab's answers before the fault over half the probe
/// deadline: `compare::ANSWER_MAX`) are left out here too. The clean-clone CI of 7fddc8a and a
/// local run the same day failed this gate on API rows only (move-vip 4.4 s against 1.8 s,
/// kill-vip-holder 12.6 s against 5.4 s) with the lab's API answers taking 1.2–2.4 s (median)
/// before any fault, against 0.35–0.6 s on a lab that keeps up; the Ceph fault rows, whose
/// gaps are the protocols' tens of seconds, must always be judged, or the lab was too slow for
/// this test to mean anything.
///
/// On emulated guests (TCG) the API's fault rows are held one-sided too: the simulation must
/// not predict a longer gap than measured beyond the window. Each of the clean-clone CI runs
/// of this day failed the two-sided gate on an API row at a busy moment of the starved guests,
/// which the simulation does not model (it has no CPU contention): 7fddc8a move-vip 4.4 s
/// against 1.8 s (answers of 1.2–2.1 s before the fault); eac9e99 isolate-node 3.8 s against
/// 0.8 s (seeds 0.6–1.2 s), the stall 29 s after the cut, as Ceph marked the cut OSD down and
/// re-peered, with 0.9 s answers before the cut. The API's protocol bounds on the lab are
/// still asserted two-sided below (kill-vip-holder: the VRRP floor and HAProxy's bound), the
/// simulation's own API gaps are pinned by tests/tests/golden.rs and gap_bands.rs, and under
/// KVM the rows are two-sided.
const CI_TOLERANCE: f64 = 0.40;
/// ... or within this many seconds: four probe intervals (move-vip's measured single-run spread
/// was two intervals each side of its median).
const CI_SLACK: f64 = 0.8;

/// Whether `compare` judged a scenario's fault row of a service.
fn judged(c: &serde_json::Value, scenario: &str, service: &str) -> bool {
    let rows = c["rows"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["scenario"] == scenario && r["service"] == service && r["phase"] == "fault")
        .unwrap_or_else(|| panic!("no {scenario} {service} row"));
    row["not_judged"].is_null()
}

fn fidelity_gate(c: &serde_json::Value, emulated: bool) {
    for scenario in ["kill-vip-holder", "isolate-node"] {
        assert!(
            judged(c, scenario, "ceph"),
            "the lab was too slow to judge even {scenario}'s Ceph: {c}"
        );
    }
    let rows = c["rows"].as_array().expect("rows");
    let unjudged: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r["not_judged"]
                .as_str()
                .map(|w| format!("{} {} {}: {w}", r["scenario"], r["service"], r["phase"]))
        })
        .collect();
    eprintln!(
        "{} of {} rows judged; not: {unjudged:?}",
        rows.len() - unjudged.len(),
        rows.len()
    );
    let outside: Vec<String> = rows
        .iter()
        .filter(|r| r["not_judged"].is_null())
        .filter_map(|r| {
            let m = r["measured_median_s"].as_f64().expect("measured");
            let p = r["predicted_median_s"].as_f64().expect("predicted");
            let range = &r["predicted_range_s"];
            let (lo, hi) = (
                range[0].as_f64().expect("lo"),
                range[1].as_f64().expect("hi"),
            );
            assert!(
                lo <= p && p <= hi,
                "the median {p} s is outside the range {lo}–{hi} s"
            );
            let near_median = (p - m).abs() <= (CI_TOLERANCE * m).max(CI_SLACK) + 1e-6;
            let in_range = r["in_predicted_range"].as_bool().expect("in range");
            // After the undo, or after a lab that stalled a whole deadline before the fault,
            // the simulation is a floor (`compare`'s rule).
            let stalled = r["stalled_before"].as_bool().expect("stalled");
            let starved = emulated && r["service"] == "api";
            let floor = (r["phase"] == "return" || stalled || starved) && p < m;
            assert!(r["phase"] == "return" || r["phase"] == "fault", "{r}");
            (!near_median && !in_range && !floor).then(|| {
                format!(
                    "{} {} {}: measured {m} s, predicted {p} s (seeds {lo}–{hi} s)",
                    r["scenario"], r["service"], r["phase"]
                )
            })
        })
        .collect();
    assert!(
        outside.is_empty(),
        "the simulation is outside CI's tolerance ({}% or {} s of the median, or the seeds' \
         range ± {} s): {outside:?}",
        CI_TOLERANCE * 100.0,
        CI_SLACK,
        harness::compare::SLACK
    );
}

/// move-vip: what the planned move cost is bounded by the probe deadline, and its outcome says
/// what the gap was (or that the lab was not steady enough before it to judge).
fn planned_move_gap(lab: &serde_json::Value, m: &ClusterModel) {
    // Moving the VIP on purpose: clients follow the gratuitous ARP at once (seen: the host's
    // neighbour entry changes within a millisecond of it), but requests in flight on the old
    // holder when keepalived removes the VIP get no answer and wait for the client's timeout.
    // So what the move costs is the requests' latency at that moment, bounded by the probe
    // deadline; on emulated guests that can pass the scenario's 2 s (its outcome then says
    // failed: a finding in docs/findings.md). Three emulated guests on two cores can also miss 2 s
    // of probes before the move; hadrill must then say it could not judge.
    let mv = service(lab, "move-vip", "api");
    let noise = mv["baseline_gap_s"].as_f64().unwrap_or(0.0);
    let moved = gap_after_fault(lab, "move-vip", "api", m.probes.timeout.as_secs_f64());
    let deadline = m.probes.timeout.as_secs_f64() + 1.0;
    if noise <= 2.0 {
        assert!(moved <= deadline, "move-vip api gap {moved} s: {mv}");
        let max = mv["max_gap_s"].as_f64().expect("gap");
        let judged = if max <= 2.0 { "passed" } else { "failed" };
        assert_eq!(mv["outcome"], judged, "{mv}");
    } else {
        eprintln!("move-vip api not judged: baseline gap {noise} s");
        assert_eq!(mv["outcome"], "unknown", "{mv}");
        assert!(
            mv["why"]
                .as_str()
                .is_some_and(|w| w.starts_with("not judged: before the fault")),
            "{mv}"
        );
    }
}

/// Starts a drill that partitions node-3 and then waits; returns once the partition is in
/// force (the ledger names it and a few seconds passed).
fn partition_drill(home: &Path, name: &str, out: &str) -> std::process::Child {
    fault_drill(home, name, out, "{isolate: node-3}", "isolate")
}

/// Starts a drill that makes `fault` on node-3 and then waits; returns once the ledger names
/// `kind` and a few seconds passed.
fn fault_drill(home: &Path, name: &str, out: &str, fault: &str, kind: &str) -> std::process::Child {
    let file = home.join(format!("{kind}-then-wait.yaml"));
    std::fs::write(
        &file,
        format!("steps:\n  - settle: 5s\n  - fault: {fault}\n  - observe: 300s\n  - fault: {{heal: node-3}}\n"),
    )
    .expect("scenario");
    let child = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(["drill", "--lab", name, "--out"])
        .arg(home.join(out))
        .arg(&file)
        .spawn()
        .expect("drill");
    let ledger = home.join("labs").join(name).join("faults.json");
    let start = Instant::now();
    while !std::fs::read_to_string(&ledger).is_ok_and(|t| t.contains(kind)) {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the fault never came"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    child
}

/// Ctrl-C while netem is in force inside node-3: the qdisc is gone when the drill exits 130.
fn interrupted_netem_heals(home: &Path, name: &str) {
    let netem = "tc qdisc show | grep -c netem || true";
    let mut child = fault_drill(
        home,
        name,
        "netem",
        "{netem: {node: node-3, delay: 100ms, loss: 0%}}",
        "netem",
    );
    let (_, out, _) = hadrill(home, &["ssh", name, "node-3", "--", netem]);
    assert_eq!(out.trim(), "1", "netem in force");
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    let (_, out, _) = hadrill(home, &["ssh", name, "node-3", "--", netem]);
    assert_eq!(out.trim(), "0", "the qdisc is gone");
}

/// A second lab made beside the first and hadrill killed (SIGKILL) in the middle of its
/// `up`: the first lab is untouched, `status` names the killed command, and `down` removes
/// everything the second one recorded.
fn killed_up_beside_a_lab_is_removed_by_down(home: &Path, first: &str, second: &str) {
    /// The second lab removed however this ends (the first has its own guard).
    struct Down<'a>(&'a Path, &'a str);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = hadrill(self.0, &["down", "--lab", self.1]);
        }
    }
    let _down = Down(home, second);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(["up", "--lab", second])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("up");
    let lab_json = home.join("labs").join(second).join("lab.json");
    let start = Instant::now();
    while !std::fs::read_to_string(&lab_json).is_ok_and(|t| t.contains("\"kind\": \"domain\"")) {
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "no domain was ever recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let (_, out, _) = hadrill(home, &["status"]);
    assert!(
        out.contains(&format!("owner gone: `hadrill up` (pid {})", child.id())),
        "{out}"
    );
    let (code, out, _) = hadrill(home, &["down", "--lab", second]);
    assert_eq!(code, 0, "down after kill -9: {out}");
    nothing_left(home, second);
    let (code, out, _) = hadrill(home, &["validate", "--lab", first]);
    assert_eq!(code, 0, "the first lab is untouched: {out}");
}

/// Whether node-3's tap is in the lab's partition set.
fn partitioned(name: &str) -> bool {
    let table = format!("hadrill_{}", name.replace('-', "_"));
    sh(&format!("nft list set bridge {table} isolated")).contains("n3")
}

/// A drill killed outright (no chance to clean up) leaves its partition and its ledger;
/// `hadrill heal` undoes what the ledger names.
fn killed_drill_is_healed_by_heal(home: &Path, name: &str) {
    let mut child = partition_drill(home, name, "killed");
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(partitioned(name), "a killed drill cannot heal");
    let (code, out, _) = hadrill(home, &["heal", "--lab", name]);
    assert_eq!(code, 0);
    assert!(out.contains("heal node-3: undone"), "{out}");
    assert!(!partitioned(name), "healed");
    assert!(!home.join("labs").join(name).join("faults.json").exists());
}

/// Nothing of the lab remains: domains, network, nftables table, folder.
fn nothing_left(home: &Path, name: &str) {
    let (code, out, _) = hadrill(home, &["down", "--lab", name]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to remove"), "a second down: {out}");
    let prefix = format!("hadrill-{name}");
    assert!(!sh("virsh -c qemu:///system list --all --name").contains(&prefix));
    assert!(!sh("virsh -c qemu:///system net-list --all --name").contains(&prefix));
    assert!(!sh("nft list tables").contains(&format!("hadrill_{name}")));
    assert!(!home.join("labs").join(name).exists());
}
