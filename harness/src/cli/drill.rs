//! `drill`, `matrix`, `compare` and `sim explore`: scenarios on the simulation or a lab.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use provisioner::model::{ClusterModel, Profile};

use super::{default_kubeconfig, lab_model};
use crate::drill::{self as run_drill, SimLab};
use crate::lab::{Lab, RealLab};
use crate::record::Service;
use crate::report::{self, DrillReport, ScenarioReport, Summary};
use crate::scenario::{self, Scenario};
use crate::shard::{Shard, ShardFile};
use crate::sim::Sim;
use crate::verdict::Outcome;
use crate::{compare as cmp, explore, matrix as mx};
use provisioner::outdir::{Error as OutError, OutDir};

/// Where scenarios run: the simulation or a lab.
#[derive(Debug, Args)]
pub(super) struct On {
    /// Run on the deterministic simulation.
    #[arg(long, required_unless_present_any = ["lab", "inventory"], conflicts_with = "lab")]
    sim: bool,
    /// Run on a lab made with `hadrill up` (and provisioned).
    #[arg(long)]
    lab: Option<String>,
    /// Profile the simulation models (a lab uses the one it was provisioned with).
    #[arg(long, default_value = "kubernetes")]
    profile: Profile,
    /// With --sim: the simulated cluster from this inventory, with its settings, as `plan`
    /// reads it (default: the seed's cluster). Without: drill the cluster it lists, your own
    /// machines, over SSH (only faults a node can undo by itself).
    #[arg(long, conflicts_with = "lab")]
    inventory: Option<PathBuf>,
    /// Your own cluster (--inventory): let the drill disrupt it; you are asked to type the
    /// cluster's name unless --yes.
    #[arg(long, requires = "inventory", conflicts_with = "sim")]
    allow_disruption: bool,
    /// With --allow-disruption: no question asked (CI).
    #[arg(long, requires = "allow_disruption")]
    yes: bool,
    /// Your own cluster (--inventory): print every command each step would run, on which
    /// host, and run none (roles are read from the cluster).
    #[arg(long, requires = "inventory", conflicts_with = "sim")]
    dry_run: bool,
    /// Your own cluster: seconds after a fault when a node undoes it by itself if hadrill
    /// has not (it died, or lost its SSH session); at least the longest scenario (default:
    /// that plus 120).
    #[arg(
        long,
        value_name = "SECONDS",
        requires = "inventory",
        conflicts_with = "sim"
    )]
    revert_after: Option<u64>,
    /// Your own cluster: where SSH host keys are pinned (default `$HADRILL_HOME/known_hosts`).
    #[arg(long, requires = "inventory", conflicts_with = "sim")]
    known_hosts: Option<PathBuf>,
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
    /// Run only the I-th of N slices of the scenarios (every N-th from the I-th), for N
    /// runners at once; `shard.json` in --out is what `hadrill report merge` joins.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Scenario files.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum ReportCmd {
    /// Join the reports of `drill --shard` runs into one report.json, junit.xml and
    /// report.html, as one drill of every scenario would have written them.
    Merge {
        /// The shards' --out folders, each with its shard.json: every one of the N, once.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Directory for the joined reports.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
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
    /// Runs of each scenario on the lab, 1 to 20 (the median is compared).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(COMPARE_RUNS_MAX)))]
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
        /// Schedules to run, 1 to 100000.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=i64::from(EXPLORE_RUNS_MAX)))]
        runs: u32,
        /// Seed of the schedule generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Profile to simulate.
        #[arg(long, default_value = "kubernetes")]
        profile: Profile,
        /// The simulated cluster from this inventory (default: the seed's).
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// Directory for explore.json (and the shrunk scenario).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
}

/// Simulation seeds whose median is the prediction and whose range is where one lab run
/// can fall. A simulated run takes milliseconds; eleven seeds saw the advert phase's spread,
/// but a mode one run in ten falls into (both backups taking over, clients left on the one
/// that stepped down for 5 s) is missing from eleven seeds one time in three, and then a lab
/// run in it fails the gate: forty-one miss it about one time in seventy.
const SIM_SEEDS: u64 = 41;
/// Most runs of each scenario `compare` makes on a lab.
pub(super) const COMPARE_RUNS_MAX: u32 = 20;
/// Most schedules one `sim explore` runs (about ten minutes on two cores).
pub(super) const EXPLORE_RUNS_MAX: u32 = 100_000;

impl On {
    /// The user's own cluster: an inventory without --sim.
    fn existing(&self) -> Option<&Path> {
        self.inventory.as_deref().filter(|_| !self.sim)
    }

    /// The cluster the simulation runs: the inventory's, or the seed's.
    fn sim_model(&self) -> Result<ClusterModel> {
        sim_model(self.inventory.as_deref(), self.profile)
    }
}

/// The inventory's cluster for the simulation, or the seed's.
fn sim_model(inventory: Option<&Path>, profile: Profile) -> Result<ClusterModel> {
    match inventory {
        Some(path) => super::load_inventory(path, profile),
        None => Ok(ClusterModel::seed(profile)),
    }
}

/// Reads every scenario first, so that a bad file fails before anything runs.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>> {
    paths
        .iter()
        .map(|p| scenario::load(p).map_err(anyhow::Error::from))
        .collect()
}

/// A lab opened for drilling (through the labs' registry): its model (with the profile it
/// was provisioned with).
fn open_lab(
    name: &str,
    seed: u64,
    kubeconfig: Option<&Path>,
) -> Result<(ClusterModel, Box<dyn RealLab>)> {
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
    let dl = crate::lab::open(
        &crate::home(),
        crate::lab::Site::Made(name),
        model.clone(),
        seed,
        Some(&kc),
    )
    .map_err(anyhow::Error::msg)?;
    Ok((model, dl))
}

fn preflight(lab: &dyn Lab, scenarios: &[Scenario]) -> Result<()> {
    for s in scenarios {
        run_drill::preflight(lab, s).with_context(|| format!("scenario {}", s.name))?;
    }
    Ok(())
}

/// Each scenario on the lab, from a cluster found healthy first; `keep` takes what is needed
/// of each report (a drill keeps summaries, so records do not pile up).
fn on_lab<T>(
    dl: &mut dyn RealLab,
    scenarios: &[Scenario],
    mut keep: impl FnMut(ScenarioReport) -> T,
) -> Vec<T> {
    let mut kept = Vec::new();
    for s in scenarios {
        // A line as each scenario starts and ends: a lab's drill takes minutes a scenario,
        // and a CI log shows these where a terminal's bar would not.
        let start = crate::wall::now();
        eprintln!(
            "hadrill: {}: waiting for a healthy cluster, then its steps",
            s.name
        );
        let report = match dl.wait_healthy() {
            Ok(()) => {
                let ledger = dl.ledger_file();
                let mut report = run_drill::run(dl, s, Some(&ledger));
                let stopped = is_interrupted(report.error.as_deref());
                // A drill that left something behind did not pass, whatever it measured
                // (the checks right after each undo come first). Interrupted, one round of
                // them (no waiting): what Ctrl-C undid is said, and checked.
                let healed = dl.verify_healed();
                if stopped {
                    eprint!("{}", interrupted_cleanup(&report, &healed));
                }
                report.post_checks.extend(healed);
                if report.post_checks.iter().any(|c| !c.ok) {
                    report.outcome = report.outcome.max(Outcome::Failed);
                }
                report
            }
            Err(why) => report::unknown(
                s,
                format!("the cluster was not healthy before the drill: {why}"),
            ),
        };
        eprintln!(
            "hadrill: {}: {} after {:.0} s",
            s.name,
            format!("{:?}", report.outcome).to_lowercase(),
            start.elapsed().as_secs_f64()
        );
        let stop = is_interrupted(report.error.as_deref());
        kept.push(keep(report));
        if stop {
            break;
        }
    }
    kept
}

/// What an interrupted drill undid on its way out (its clean-up marks), and each check of
/// the nodes after it that did not hold: the lines Ctrl-C prints.
fn interrupted_cleanup(report: &ScenarioReport, checks: &[crate::report::PostCheck]) -> String {
    let mut out = String::new();
    for m in report
        .record
        .marks
        .iter()
        .filter_map(|m| m.label.strip_suffix(run_drill::CLEANUP))
    {
        let what = m.trim_end();
        out += &format!("hadrill: interrupted: {what} (undoing a fault in force)\n");
    }
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    if failed.is_empty() {
        out += &format!(
            "hadrill: interrupted: {} checks of the nodes hold\n",
            checks.len()
        );
    }
    for c in failed {
        out += &format!(
            "hadrill: interrupted: {} {}: does not hold: {}\n",
            c.node, c.check, c.detail
        );
    }
    out
}

fn is_interrupted(error: Option<&str>) -> bool {
    error == Some(crate::lab::Error::Interrupted.to_string().as_str())
}

fn interrupted(reports: &[Summary]) -> bool {
    reports.iter().any(|r| is_interrupted(r.error.as_deref()))
}

/// Opens `--out` once the inputs are known to be good (bad input writes nothing).
fn open_out(dir: &Path) -> Result<OutDir> {
    OutDir::open(dir).map_err(anyhow::Error::from)
}

/// Ends a run's output: the exit code of what ran, unless writing failed. A drill that
/// already failed keeps its own code (any non-zero fails CI, and the error says the reports
/// are missing); one that passed exits 2, since its reports are not there to show it.
fn finish_out(out: OutDir, written: Result<(), OutError>, complete: bool, code: u8) -> Result<u8> {
    let why = (!complete).then_some("stopped before every scenario finished");
    match written.and_then(|()| out.finish(why)) {
        Ok(()) => Ok(code),
        Err(e) if code != 0 => {
            eprintln!(
                "hadrill: {}",
                provisioner::text::one_line(&format!("cannot write the reports: {e}"))
            );
            Ok(code)
        }
        Err(e) => Err(anyhow::Error::from(e).context("cannot write the reports")),
    }
}

pub(super) fn drill(a: &DrillArgs) -> Result<u8> {
    let all = load_all(&a.scenarios)?;
    // Every file is read (a bad one fails every shard); a shard runs its slice.
    let positions: Vec<usize> = (0..all.len())
        .filter(|&p| a.shard.is_none_or(|s| s.takes(p)))
        .collect();
    let scenarios: Vec<Scenario> = positions.iter().map(|&p| all[p].clone()).collect();
    let shard = a.shard.map(|s| (s, all.len(), positions));
    if let Some(inventory) = a.on.existing() {
        return on_existing(a, inventory, &scenarios, shard.as_ref());
    }
    match &a.on.lab {
        None => {
            let model = a.on.sim_model()?;
            preflight(&SimLab::new(Sim::new(model.clone(), a.seed)), &scenarios)?;
            let out = open_out(&a.out)?;
            let summaries = scenarios
                .iter()
                .map(|s| {
                    let mut lab = SimLab::new(Sim::new(model.clone(), a.seed));
                    run_drill::run(&mut lab, s, None).summary()
                })
                .collect();
            let report = DrillReport::new("sim", model.profile.as_str(), a.seed, summaries);
            finish_drill(a, out, &report, shard.as_ref())
        }
        Some(name) => {
            let (model, mut dl) = open_lab(name, a.seed, a.on.kubeconfig.as_deref())?;
            preflight(dl.as_ref(), &scenarios)?;
            let out = open_out(&a.out)?;
            let summaries = on_lab(dl.as_mut(), &scenarios, |r| r.summary());
            let substrate = dl.substrate().as_str();
            let report = DrillReport::new(substrate, model.profile.as_str(), a.seed, summaries);
            finish_drill(a, out, &report, shard.as_ref())
        }
    }
}

/// A drill of the user's own cluster: refused before anything runs when a step is beyond
/// what a node can undo by itself, or disrupts without `--allow-disruption` and a confirmation.
fn on_existing(
    a: &DrillArgs,
    inventory: &Path,
    scenarios: &[Scenario],
    shard: Option<&ShardOf>,
) -> Result<u8> {
    let model = super::load_inventory(inventory, a.on.profile)?;
    let home = crate::home();
    let dir = crate::lab::existing::dir(&home, &model.name);
    let code = (|| {
        let longest = scenarios
            .iter()
            .map(Scenario::duration)
            .max()
            .unwrap_or_default();
        let mut dl = existing_lab(&a.on, inventory, model.clone(), a.seed, longest)?;
        preflight(dl.as_ref(), scenarios)?;
        if a.on.dry_run {
            for s in scenarios {
                println!("scenario {}:", s.name);
                let _ = run_drill::run(dl.as_mut(), s, None);
            }
            return Ok(0);
        }
        confirm(&model, scenarios, a.on.allow_disruption, a.on.yes)?;
        let out = open_out(&a.out)?;
        let summaries = on_lab(dl.as_mut(), scenarios, |r| r.summary());
        let report = DrillReport::new(
            crate::lab::existing::SUBSTRATE,
            model.profile.as_str(),
            a.seed,
            summaries,
        );
        finish_drill(a, out, &report, shard)
    })();
    // Nothing is left of a drill that was refused or ended clean (the ledger of one that
    // could not heal stays, for `heal`).
    crate::lab::existing::forget_if_clean(&dir);
    code
}

/// The user's cluster opened for a drill; revert timers outlast the longest scenario.
fn existing_lab(
    on: &On,
    inventory: &Path,
    model: ClusterModel,
    seed: u64,
    longest: std::time::Duration,
) -> Result<Box<dyn RealLab>> {
    let revert_after = match on.revert_after.map(std::time::Duration::from_secs) {
        Some(r) if r < longest => bail!(
            "--revert-after {}: shorter than the longest scenario ({} s): a node would heal \
             itself in the middle of the drill",
            r.as_secs(),
            longest.as_secs_f64().ceil()
        ),
        Some(r) => r,
        None => longest + crate::lab::existing::REVERT_MARGIN,
    };
    let known_hosts = on
        .known_hosts
        .clone()
        .unwrap_or_else(|| crate::home().join("known_hosts"));
    let kc = on.kubeconfig.clone().unwrap_or_else(default_kubeconfig);
    let site = crate::lab::Site::Own {
        known_hosts: &known_hosts,
        revert_after,
        dry: on.dry_run,
    };
    crate::lab::open(&crate::home(), site, model, seed, Some(&kc))
        .map_err(|e| anyhow::anyhow!("{}: {e}", inventory.display()))
}

/// A drill with a fault step on the user's cluster goes on only with `--allow-disruption`
/// and the cluster's name typed on stdin (or `--yes`).
fn confirm(model: &ClusterModel, scenarios: &[Scenario], allow: bool, yes: bool) -> Result<()> {
    let first = scenarios.iter().find_map(|s| {
        s.steps.iter().enumerate().find_map(|(i, step)| match step {
            scenario::Step::Fault(f) => Some(format!("scenario {} step {i} ({f})", s.name)),
            _ => None,
        })
    });
    match first {
        Some(first) => confirm_disruption(
            model,
            &first,
            allow,
            yes,
            "to drill it (or --dry-run to see every command)",
        ),
        None => Ok(()),
    }
}

/// `what` goes on only with `--allow-disruption` and the cluster's name typed on stdin (or
/// `--yes`).
pub(super) fn confirm_disruption(
    model: &ClusterModel,
    first: &str,
    allow: bool,
    yes: bool,
    how: &str,
) -> Result<()> {
    let name = &model.name;
    if !allow {
        bail!(
            "{first} disrupts cluster `{name}`, your own machines: nothing was run; pass \
             --allow-disruption {how}"
        );
    }
    if yes {
        return Ok(());
    }
    // A prompt for a person; a pipe (`echo NAME | hadrill …`) is read as it is.
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!(
            "hadrill: {first} disrupts cluster `{name}` ({} nodes); type its name to go on: ",
            model.nodes.len()
        );
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim() != name {
        bail!(
            "not confirmed (the cluster's name, `{name}`, was not typed; --yes skips the \
             question): nothing was run"
        );
    }
    Ok(())
}

/// A shard, how many scenarios the whole drill has, and the places of the shard's own.
type ShardOf = (Shard, usize, Vec<usize>);

/// Prints the summary, writes the reports (and a shard's shard.json) and says how to replay
/// a drill that did not pass.
fn finish_drill(
    a: &DrillArgs,
    mut out: OutDir,
    report: &DrillReport,
    shard: Option<&ShardOf>,
) -> Result<u8> {
    print!("{}", report::terminal(report));
    let mut written = report::write_all(report, &mut out, Path::new(""));
    if let Some((s, total, positions)) = shard {
        let file = ShardFile::new(*s, *total, positions, report);
        written = written.and_then(|()| out.write("shard.json", file.to_json().as_bytes()));
    }
    let code = if interrupted(&report.scenarios) {
        eprintln!("hadrill: interrupted; the faults in force were undone");
        130
    } else {
        let outcome = report.outcome();
        if outcome != Outcome::Passed {
            eprintln!("hadrill: replay with: {}", replay_line(a));
        }
        outcome.exit_code()
    };
    finish_out(out, written, report.complete, code)
}

/// The command that runs this drill again, every word quoted for the shell.
fn replay_line(a: &DrillArgs) -> String {
    let mut words: Vec<String> = vec!["hadrill".into(), "drill".into()];
    match &a.on.lab {
        None if a.on.existing().is_some() => {
            words.extend([
                "--inventory".into(),
                a.on.inventory
                    .as_deref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                "--profile".into(),
                a.on.profile.as_str().into(),
                "--allow-disruption".into(),
            ]);
        }
        None => {
            words.extend([
                "--sim".into(),
                "--profile".into(),
                a.on.profile.as_str().into(),
            ]);
            if let Some(inv) = &a.on.inventory {
                words.extend(["--inventory".into(), inv.to_string_lossy().into_owned()]);
            }
        }
        Some(lab) => words.extend(["--lab".into(), lab.clone()]),
    }
    words.extend(["--seed".into(), a.seed.to_string()]);
    if let Some(s) = a.shard {
        words.extend(["--shard".into(), s.to_string()]);
    }
    words.extend(a.scenarios.iter().map(|p| p.to_string_lossy().into_owned()));
    provisioner::text::shell_line(words)
}

pub(super) fn matrix(a: &MatrixArgs) -> Result<u8> {
    if let Some(inventory) = a.on.existing() {
        return matrix_existing(a, inventory);
    }
    let rows = match &a.on.lab {
        None => {
            let model = a.on.sim_model()?;
            let out = open_out(&a.out)?;
            (out, mx::run(&model, a.seed))
        }
        Some(name) => {
            let (model, mut dl) = open_lab(name, a.seed, a.on.kubeconfig.as_deref())?;
            let out = open_out(&a.out)?;
            let rows = mx::run_with(&model, |s| {
                on_lab(dl.as_mut(), std::slice::from_ref(s), |r| r).remove(0)
            });
            (out, rows)
        }
    };
    let (mut out, rows) = rows;
    print!("{}", mx::markdown(&rows));
    let written = out
        .write("matrix.json", mx::json(&rows).as_bytes())
        .and_then(|()| out.write("matrix.md", mx::markdown(&rows).as_bytes()));
    finish_out(out, written, true, 0)
}

/// The matrix on the user's own cluster: its reboot rows; the power-off rows are reported
/// not run, with the reason (no power switch).
fn matrix_existing(a: &MatrixArgs, inventory: &Path) -> Result<u8> {
    let model = super::load_inventory(inventory, a.on.profile)?;
    let dir = crate::lab::existing::dir(&crate::home(), &model.name);
    let longest = mx::FAULT_SPAN + std::time::Duration::from_secs(60);
    let code = (|| {
        let mut dl = existing_lab(&a.on, inventory, model.clone(), a.seed, longest)?;
        if !a.on.dry_run {
            confirm_disruption(
                &model,
                "the matrix (reboots every node in turn)",
                a.on.allow_disruption,
                a.on.yes,
                "to drill it (or --dry-run to see every command)",
            )?;
        }
        let out = if a.on.dry_run {
            None
        } else {
            Some(open_out(&a.out)?)
        };
        let rows = mx::run_with(&model, |s| {
            if let Err(e) = run_drill::preflight(dl.as_ref(), s) {
                if a.on.dry_run {
                    println!("scenario {}: not run: {e}", s.name);
                }
                return report::unknown(s, format!("not run: {e}"));
            }
            if a.on.dry_run {
                println!("scenario {}:", s.name);
                return run_drill::run(dl.as_mut(), s, None);
            }
            on_lab(dl.as_mut(), std::slice::from_ref(s), |r| r).remove(0)
        });
        Ok::<_, anyhow::Error>((out, rows))
    })();
    crate::lab::existing::forget_if_clean(&dir);
    let (out, rows) = code?;
    let Some(mut out) = out else { return Ok(0) };
    print!("{}", mx::markdown(&rows));
    let written = out
        .write("matrix.json", mx::json(&rows).as_bytes())
        .and_then(|()| out.write("matrix.md", mx::markdown(&rows).as_bytes()));
    finish_out(out, written, true, 0)
}

pub(super) fn compare(a: &CompareArgs) -> Result<u8> {
    let scenarios = load_all(&a.scenarios)?;
    let (model, mut dl) = open_lab(&a.lab, a.seed, a.kubeconfig.as_deref())?;
    preflight(dl.as_ref(), &scenarios)?;
    let mut out = open_out(&a.out)?;
    let mut lab_summaries = Vec::new();
    let mut sim_summaries = Vec::new();
    let mut rows = Vec::new();
    for s in &scenarios {
        let mut lab_runs = Vec::new();
        for _ in 0..a.runs {
            lab_runs.extend(on_lab(dl.as_mut(), std::slice::from_ref(s), |r| r));
            if lab_runs.iter().any(|r| is_interrupted(r.error.as_deref())) {
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
        m.machine.ceph_overhead = cmp::overhead(&lab_runs, &own, Service::Ceph, timeout);
        let sim_runs: Vec<ScenarioReport> = (a.seed..a.seed + SIM_SEEDS)
            .map(|seed| sim_run(&m, seed))
            .collect();
        rows.extend(cmp::rows(&lab_runs, &sim_runs, &m.machine));
        lab_summaries.extend(lab_runs.iter().map(ScenarioReport::summary));
        sim_summaries.push(sim_runs[0].summary());
        if interrupted(&lab_summaries) {
            break;
        }
    }
    let profile = model.profile.as_str();
    let lab_report = DrillReport::new(dl.substrate().as_str(), profile, a.seed, lab_summaries);
    let sim_report = DrillReport::new("sim", profile, a.seed, sim_summaries);
    print!("{}", cmp::markdown(&rows));
    let judged = cmp::judged(&rows);
    if judged < rows.len() {
        eprintln!(
            "hadrill: {} of {} rows not judged: the lab's answers before the fault took over {:.0} % \
             of the probe deadline (the table says which)",
            rows.len() - judged,
            rows.len(),
            cmp::ANSWER_MAX * 100.0
        );
    }
    let written = report::write_all(&lab_report, &mut out, Path::new("lab"))
        .and_then(|()| report::write_all(&sim_report, &mut out, Path::new("sim")))
        .and_then(|()| out.write("compare.json", cmp::json(&rows).as_bytes()))
        .and_then(|()| out.write("compare.md", cmp::markdown(&rows).as_bytes()));
    let code = if interrupted(&lab_report.scenarios) {
        130
    } else if !lab_report.complete {
        3 // a drill that could not finish; a lab that was not steady is in the outcomes
    } else if rows.iter().all(cmp::Row::passes) {
        0
    } else {
        1
    };
    finish_out(out, written, lab_report.complete, code)
}

pub(super) fn sim(cmd: &SimCmd) -> Result<u8> {
    let SimCmd::Explore {
        runs,
        seed,
        profile,
        inventory,
        out,
    } = cmd;
    let model = sim_model(inventory.as_deref(), *profile)?;
    explore(*runs, *seed, &model, inventory.as_deref(), out)
}

#[allow(clippy::disallowed_methods)] // runs_per_s is a wall-clock figure by definition
fn explore(
    runs: u32,
    seed: u64,
    model: &ClusterModel,
    inventory: Option<&Path>,
    out: &Path,
) -> Result<u8> {
    let profile = model.profile;
    let mut dir = open_out(out)?;
    let start = std::time::Instant::now();
    let found = explore::explore(model, runs, seed);
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let violations = u32::from(found.violation.is_some());
    let mut json = serde_json::json!({ "runs": found.runs, "violations": violations, "runs_per_s": (f64::from(found.runs) / secs).round(), "seed": seed, "profile": profile.as_str() });
    let mut written = Ok(());
    if let Some((scenario, why, sim_seed)) = &found.violation {
        let path = out.join("violation.yaml");
        written = dir.write("violation.yaml", scenario.to_yaml().as_bytes());
        json["violation"] = serde_json::json!({ "why": why, "scenario": path.display().to_string(), "sim_seed": sim_seed });
        let mut words: Vec<String> = ["hadrill", "drill", "--sim", "--profile", profile.as_str()]
            .map(String::from)
            .to_vec();
        if let Some(inv) = inventory {
            words.extend(["--inventory".into(), inv.to_string_lossy().into_owned()]);
        }
        words.extend([
            "--seed".into(),
            sim_seed.to_string(),
            path.to_string_lossy().into_owned(),
        ]);
        let replay = provisioner::text::shell_line(words);
        eprintln!(
            "hadrill: explore found a violation: {}",
            provisioner::text::one_line(why)
        );
        eprintln!(
            "hadrill: shrunk schedule in {}; replay with: {replay}",
            provisioner::text::shell_path(&path)
        );
    }
    let text = serde_json::to_string_pretty(&json)?;
    let written = written.and_then(|()| dir.write("explore.json", text.as_bytes()));
    println!(
        "explored {} schedules, {violations} violations, {:.0} runs/s",
        found.runs,
        f64::from(found.runs) / secs
    );
    finish_out(dir, written, true, u8::from(violations != 0))
}

pub(super) fn report(cmd: &ReportCmd) -> Result<u8> {
    let ReportCmd::Merge { dirs, out } = cmd;
    let mut shards = Vec::new();
    for dir in dirs {
        let path = dir.join("shard.json");
        let shown = provisioner::text::one_line(&path.to_string_lossy());
        let text = provisioner::text::read_capped(&path, SHARD_FILE_MAX)
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        let file: ShardFile = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{shown}: not a shard.json of hadrill drill --shard: {e}")
        })?;
        shards.push((provisioner::text::one_line(&dir.to_string_lossy()), file));
    }
    let report = crate::shard::merge(shards)?;
    let mut o = open_out(out)?;
    print!("{}", report::terminal(&report));
    let written = report::write_all(&report, &mut o, Path::new(""));
    let code = if interrupted(&report.scenarios) {
        130
    } else {
        report.outcome().exit_code()
    };
    finish_out(o, written, report.complete, code)
}

/// Largest shard.json read (a drill's summaries are bounded: far below this).
const SHARD_FILE_MAX: usize = 512 * 1024 * 1024;
