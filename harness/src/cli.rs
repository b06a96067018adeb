//! The `hadrill` command line: parse, call the library, map the outcome to an exit code.
//!
//! Exit codes: 0 every expectation held, 1 one failed (or explore found a violation), 2 bad
//! input, 3 a drill could not finish (outcome unknown).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use provisioner::model::{ClusterModel, Profile};

use crate::drill::{self, SimLab};
use crate::report::{self, DrillReport};
use crate::scenario::{self, Scenario};
use crate::sim::Sim;
use crate::verdict::Outcome;
use crate::{explore, matrix};

/// Break a three-node HA-ish cluster on purpose and measure the outage.
#[derive(Debug, Parser)]
#[command(name = "hadrill", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run scenarios on the simulation or a lab and judge them.
    Drill {
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
    },
    /// Every single node powered off, every single node rebooted, every pair powered off.
    Matrix {
        #[command(flatten)]
        on: On,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory for matrix.json and matrix.md.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Render every file and the plan of steps for a cluster, touching no host.
    Plan {
        /// Inventory file, Ansible-style or native (without it, the embedded seed cluster).
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// What to install.
        #[arg(long, default_value = "bare")]
        profile: Profile,
        /// Directory for hosts/HOST/<path> and plan.txt.
        #[arg(long, default_value = "out/plan")]
        out: PathBuf,
    },
    /// The simulation's own commands.
    Sim {
        #[command(subcommand)]
        cmd: SimCmd,
    },
}

#[derive(Debug, Subcommand)]
enum SimCmd {
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

#[derive(Debug, Args)]
struct On {
    /// Run on the deterministic simulation.
    #[arg(long, required_unless_present = "lab", conflicts_with = "lab")]
    sim: bool,
    /// Run on a lab made with `hadrill up`.
    #[arg(long)]
    lab: Option<String>,
    /// Profile the simulation models (a lab uses its own).
    #[arg(long, default_value = "kubernetes")]
    profile: Profile,
}

impl On {
    fn model(&self) -> Result<ClusterModel> {
        if let Some(lab) = &self.lab {
            bail!("lab `{lab}`: no such lab (labs are made with `hadrill up`, which this build does not have yet)");
        }
        Ok(ClusterModel::seed(self.profile))
    }
}

/// Runs the command line; returns the exit code for a finished command.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<u8> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            e.print()?;
            return Ok(0);
        }
        Err(e) => bail!(
            "{}",
            e.to_string()
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ")
        ),
    };
    match cli.cmd {
        Cmd::Drill {
            on,
            seed,
            out,
            scenarios,
        } => drill_cmd(&on, seed, &out, &scenarios),
        Cmd::Matrix { on, seed, out } => {
            let m = matrix::run(&on.model()?, seed);
            write(&out, "matrix.json", &matrix::json(&m))?;
            write(&out, "matrix.md", &matrix::markdown(&m))?;
            print!("{}", matrix::markdown(&m));
            Ok(0)
        }
        Cmd::Sim {
            cmd:
                SimCmd::Explore {
                    runs,
                    seed,
                    profile,
                    out,
                },
        } => explore_cmd(runs, seed, profile, &out),
        Cmd::Plan {
            inventory,
            profile,
            out,
        } => plan_cmd(inventory.as_deref(), profile, &out),
    }
}

fn plan_cmd(inventory: Option<&Path>, profile: Profile, out: &Path) -> Result<u8> {
    let model = match inventory {
        Some(path) => load_inventory(path, profile)?,
        None => ClusterModel::seed(profile),
    };
    provisioner::plan::write_out(&model, out)
        .with_context(|| format!("{}: cannot write the plan", out.display()))?;
    let n = provisioner::plan::plan(&model).len();
    println!(
        "planned {n} steps for {} hosts into {}",
        model.nodes.len(),
        out.display()
    );
    Ok(0)
}

/// Reads an inventory, printing its warnings once each on stderr.
fn load_inventory(path: &Path, profile: Profile) -> Result<ClusterModel> {
    let inv = provisioner::inventory::load(path, profile)?;
    for w in &inv.warnings {
        eprintln!("hadrill: warning: {}: {w}", path.display());
    }
    Ok(inv.model)
}

/// Reads every scenario first, so that a bad file fails before anything runs.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>> {
    paths
        .iter()
        .map(|p| scenario::load(p).map_err(anyhow::Error::from))
        .collect()
}

fn drill_cmd(on: &On, seed: u64, out: &Path, paths: &[PathBuf]) -> Result<u8> {
    let scenarios = load_all(paths)?;
    let model = on.model()?;
    for s in &scenarios {
        let lab = SimLab::new(Sim::new(model.clone(), seed));
        drill::preflight(&lab, s).with_context(|| format!("scenario {}", s.name))?;
    }
    let reports = scenarios
        .iter()
        .map(|s| drill::run(&mut SimLab::new(Sim::new(model.clone(), seed)), s))
        .collect();
    let report = DrillReport {
        substrate: "sim".into(),
        profile: model.profile.as_str().into(),
        seed,
        scenarios: reports,
    };
    report::write_all(&report, out)
        .with_context(|| format!("{}: cannot write the reports", out.display()))?;
    print!("{}", report::terminal(&report));
    let outcome = report.outcome();
    if outcome != Outcome::Passed {
        let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "hadrill: replay with: hadrill drill --sim --profile {} --seed {seed} {}",
            model.profile.as_str(),
            files.join(" ")
        );
    }
    Ok(outcome.exit_code())
}

#[allow(clippy::disallowed_methods)] // runs_per_s is a wall-clock figure by definition
fn explore_cmd(runs: u32, seed: u64, profile: Profile, out: &Path) -> Result<u8> {
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
        eprintln!("hadrill: shrunk schedule in {}; replay with: hadrill drill --sim --profile {} --seed {seed} {}", path.display(), profile.as_str(), path.display());
    }
    write(out, "explore.json", &serde_json::to_string_pretty(&json)?)?;
    println!(
        "explored {} schedules, {violations} violations, {:.0} runs/s",
        found.runs,
        f64::from(found.runs) / secs
    );
    Ok(if violations == 0 { 0 } else { 1 })
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))
}
