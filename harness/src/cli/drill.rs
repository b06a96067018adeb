//! `drill`, `matrix`, `compare` and `sim explore`: scenarios on the simulation or a lab.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use provisioner::model::{ClusterModel, Profile};

use super::{default_kubeconfig, lab_model, write};
use crate::drill::{self as run_drill, SimLab};
use crate::lab::libvirt::drive::LibvirtLab;
use crate::lab::Lab;
use crate::record::Service;
use crate::report::{self, DrillReport, ScenarioReport};
use crate::scenario::{self, Scenario};
use crate::sim::Sim;
use crate::verdict::Outcome;
use crate::{compare as cmp, explore, matrix as mx};

/// Where scenarios run: the simulation or a lab.
#[derive(Debug, Args)]
pub(super) struct On {
    /// Run on the deterministic simulation.
    #[arg(long, required_unless_present = "lab", conflicts_with = "lab")]
    sim: bool,
    /// Run on a lab made with `hadrill up` (and provisioned).
    #[arg(long)]
    lab: Option<String>,
    /// Profile the simulation models (a lab uses the one it was provisioned with).
    #[arg(long, default_value = "kubernetes")]
    profile: Profile,
    /// Kubeconfig for a kubernetes lab's API probe (default `$KUBECONFIG` or `~/.kube/config`).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct DrillArgs {
    #[command(flatten)]
    on: On,
    /// Seed of the simulation (and of `any` targets).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for report.json, junit.xml and report.html.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Scenario files.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct MatrixArgs {
    #[command(flatten)]
    on: On,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for matrix.json and matrix.md.
    #[arg(long, default_value = "out")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// The lab.
    #[arg(long)]
    lab: String,
    /// Runs of each scenario on the lab (the median is compared).
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// First simulation seed (the prediction is the median over this and the next four).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for compare.json, compare.md and both sides' reports.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Kubeconfig for a kubernetes lab.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Scenario files.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum SimCmd {
    /// Random fault schedules checked against invariants; a violation is shrunk to a scenario.
    Explore {
        /// Schedules to run.
        #[arg(long, default_value_t = 200)]
        runs: u32,
        /// Seed of the schedule generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Profile to simulate.
        #[arg(long, default_value = "kubernetes")]
        profile: Profile,
        /// Directory for explore.json (and the shrunk scenario).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
}

/// Simulation seeds whose median is the prediction.
const SIM_SEEDS: u64 = 5;

/// Reads every scenario first, so that a bad file fails before anything runs.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>> {
    paths
        .iter()
        .map(|p| scenario::load(p).map_err(anyhow::Error::from))
        .collect()
}

/// A lab opened for drilling: its model (with the profile it was provisioned with).
fn open_lab(
    name: &str,
    seed: u64,
    kubeconfig: Option<&Path>,
) -> Result<(ClusterModel, LibvirtLab)> {
    let (model, lab) = lab_model(name, None)?;
    let state = lab
        .load()
        .map_err(anyhow::Error::msg)?
        .context("no such lab")?;
    if state.profile.is_none() {
        bail!("lab `{name}` is not provisioned (hadrill provision --lab {name})");
    }
    let kc = kubeconfig
        .map(Path::to_path_buf)
        .unwrap_or_else(default_kubeconfig);
    let dl = LibvirtLab::open(&crate::home(), name, model.clone(), seed, Some(&kc))
        .map_err(anyhow::Error::msg)?;
    Ok((model, dl))
}

fn preflight(lab: &dyn Lab, scenarios: &[Scenario]) -> Result<()> {
    for s in scenarios {
        run_drill::preflight(lab, s).with_context(|| format!("scenario {}", s.name))?;
    }
    Ok(())
}

/// Each scenario on the lab, from a cluster found healthy first.
fn on_lab(dl: &mut LibvirtLab, scenarios: &[Scenario]) -> Vec<ScenarioReport> {
    let mut reports = Vec::new();
    for s in scenarios {
        let report = match dl.wait_healthy() {
            Ok(()) => {
                let ledger = dl.ledger_file();
                run_drill::run(dl, s, Some(&ledger))
            }
            Err(why) => report::unknown(
                s,
                format!("the cluster was not healthy before the drill: {why}"),
            ),
        };
        let stop = report.error.as_deref() == Some("interrupted");
        reports.push(report);
        if stop {
            break;
        }
    }
    reports
}

fn interrupted(reports: &[ScenarioReport]) -> bool {
    reports
        .iter()
        .any(|r| r.error.as_deref() == Some("interrupted"))
}

pub(super) fn drill(a: &DrillArgs) -> Result<u8> {
    let scenarios = load_all(&a.scenarios)?;
    let (substrate, profile, reports) = match &a.on.lab {
        None => {
            let model = ClusterModel::seed(a.on.profile);
            preflight(&SimLab::new(Sim::new(model.clone(), a.seed)), &scenarios)?;
            let reports = scenarios
                .iter()
                .map(|s| run_drill::run(&mut SimLab::new(Sim::new(model.clone(), a.seed)), s, None))
                .collect();
            ("sim", model.profile, reports)
        }
        Some(name) => {
            let (model, mut dl) = open_lab(name, a.seed, a.on.kubeconfig.as_deref())?;
            preflight(&dl, &scenarios)?;
            ("libvirt", model.profile, on_lab(&mut dl, &scenarios))
        }
    };
    let report = DrillReport {
        substrate: substrate.into(),
        profile: profile.as_str().into(),
        seed: a.seed,
        scenarios: reports,
    };
    report::write_all(&report, &a.out)
        .with_context(|| format!("{}: cannot write the reports", a.out.display()))?;
    print!("{}", report::terminal(&report));
    if interrupted(&report.scenarios) {
        eprintln!("hadrill: interrupted; the faults in force were undone");
        return Ok(130);
    }
    let outcome = report.outcome();
    if outcome != Outcome::Passed {
        let files: Vec<String> = a
            .scenarios
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let on = a.on.lab.as_ref().map_or_else(
            || format!("--sim --profile {}", profile.as_str()),
            |l| format!("--lab {l}"),
        );
        eprintln!(
            "hadrill: replay with: hadrill drill {on} --seed {} {}",
            a.seed,
            files.join(" ")
        );
    }
    Ok(outcome.exit_code())
}

pub(super) fn matrix(a: &MatrixArgs) -> Result<u8> {
    let rows = match &a.on.lab {
        None => mx::run(&ClusterModel::seed(a.on.profile), a.seed),
        Some(name) => {
            let (model, mut dl) = open_lab(name, a.seed, a.on.kubeconfig.as_deref())?;
            mx::run_with(&model, |s| {
                on_lab(&mut dl, std::slice::from_ref(s)).remove(0)
            })
        }
    };
    write(&a.out, "matrix.json", &mx::json(&rows))?;
    write(&a.out, "matrix.md", &mx::markdown(&rows))?;
    print!("{}", mx::markdown(&rows));
    Ok(0)
}

pub(super) fn compare(a: &CompareArgs) -> Result<u8> {
    let scenarios = load_all(&a.scenarios)?;
    if !(1..=20).contains(&a.runs) {
        bail!("--runs {}: 1 to 20", a.runs);
    }
    let (model, mut dl) = open_lab(&a.lab, a.seed, a.kubeconfig.as_deref())?;
    preflight(&dl, &scenarios)?;
    let mut lab_reports = Vec::new();
    let mut sim_reports = Vec::new();
    let mut rows = Vec::new();
    for s in &scenarios {
        let mut lab_runs = Vec::new();
        for _ in 0..a.runs {
            lab_runs.extend(on_lab(&mut dl, std::slice::from_ref(s)));
            if interrupted(&lab_runs) {
                break;
            }
        }
        let sim_run = |m: &ClusterModel, seed| {
            run_drill::run(&mut SimLab::new(Sim::new(m.clone(), seed)), s, None)
        };
        // The lab's answers take longer than the model's: the simulation draws the difference.
        let own = sim_run(&model, a.seed);
        let mut m = model.clone();
        let timeout = model.probes.timeout;
        m.machine.api_overhead = cmp::overhead(&lab_runs, &own, Service::Api, timeout);
        m.machine.ingress_overhead = cmp::overhead(&lab_runs, &own, Service::Ingress, timeout);
        let sim_runs: Vec<ScenarioReport> = (a.seed..a.seed + SIM_SEEDS)
            .map(|seed| sim_run(&m, seed))
            .collect();
        rows.extend(cmp::rows(&lab_runs, &sim_runs, &m.machine));
        let stop = interrupted(&lab_runs);
        lab_reports.extend(lab_runs);
        sim_reports.push(sim_runs.into_iter().next().expect("SIM_SEEDS > 0"));
        if stop {
            break;
        }
    }
    let side = |substrate: &str, scenarios: Vec<ScenarioReport>| DrillReport {
        substrate: substrate.into(),
        profile: model.profile.as_str().into(),
        seed: a.seed,
        scenarios,
    };
    let (lab_report, sim_report) = (side("libvirt", lab_reports), side("sim", sim_reports));
    report::write_all(&lab_report, &a.out.join("lab"))?;
    report::write_all(&sim_report, &a.out.join("sim"))?;
    write(&a.out, "compare.json", &cmp::json(&rows))?;
    write(&a.out, "compare.md", &cmp::markdown(&rows))?;
    print!("{}", cmp::markdown(&rows));
    if interrupted(&lab_report.scenarios) {
        return Ok(130);
    }
    // A drill that could not finish; a lab that was not steady is in the table's outcomes.
    if lab_report.scenarios.iter().any(|r| r.error.is_some()) {
        return Ok(3);
    }
    Ok(if rows.iter().all(cmp::Row::within) {
        0
    } else {
        1
    })
}

pub(super) fn sim(cmd: &SimCmd) -> Result<u8> {
    let SimCmd::Explore {
        runs,
        seed,
        profile,
        out,
    } = cmd;
    explore(*runs, *seed, *profile, out)
}

#[allow(clippy::disallowed_methods)] // runs_per_s is a wall-clock figure by definition
fn explore(runs: u32, seed: u64, profile: Profile, out: &Path) -> Result<u8> {
    let model = ClusterModel::seed(profile);
    let start = std::time::Instant::now();
    let found = explore::explore(&model, runs, seed);
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let violations = u32::from(found.violation.is_some());
    let mut json = serde_json::json!({ "runs": found.runs, "violations": violations, "runs_per_s": (f64::from(found.runs) / secs).round(), "seed": seed, "profile": profile.as_str() });
    let stale = out.join("violation.yaml");
    if found.violation.is_none() && stale.exists() {
        std::fs::remove_file(&stale)
            .with_context(|| format!("{}: cannot remove the old violation", stale.display()))?;
    }
    if let Some((scenario, why)) = &found.violation {
        let path = out.join("violation.yaml");
        write(out, "violation.yaml", &scenario.to_yaml())?;
        json["violation"] =
            serde_json::json!({ "why": why, "scenario": path.display().to_string() });
        eprintln!("hadrill: explore found a violation: {why}");
        eprintln!(
            "hadrill: shrunk schedule in {}; replay with: hadrill drill --sim --profile {} --seed {seed} {}",
            path.display(),
            profile.as_str(),
            path.display()
        );
    }
    write(out, "explore.json", &serde_json::to_string_pretty(&json)?)?;
    println!(
        "explored {} schedules, {violations} violations, {:.0} runs/s",
        found.runs,
        f64::from(found.runs) / secs
    );
    Ok(u8::from(violations != 0))
}
