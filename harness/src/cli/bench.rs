//! `hadrill bench`: a disk's fitness for etcd, measured on a lab and predicted by the disk
//! model, side by side, with a verdict.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::lab_model;
use crate::bench as lab_bench;
use crate::disk;
use crate::lab::nodes::Nodes;
use crate::lab::state::LabDir;
use hadrill_core::bench::{self, etcd, EtcdBench};
use provisioner::model::{ClusterModel, NodeId};
use provisioner::outdir::OutDir;

/// The benches.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// etcd on a disk: fio's fdatasync test, `etcdctl check perf`, etcd's WAL fsync and
    /// backend commit histograms; a verdict against etcd's bars (exit 1 when one fails).
    Etcd(EtcdArgs),
}

/// `hadrill bench etcd`.
#[derive(Debug, Args)]
pub struct EtcdArgs {
    /// Predict on the simulation's disk model only.
    #[arg(long, required_unless_present_any = ["lab", "inventory"], conflicts_with_all = ["lab", "inventory"])]
    sim: bool,
    /// Measure on a lab made with `hadrill up` (and provisioned), beside the prediction.
    #[arg(long, conflicts_with = "inventory")]
    lab: Option<String>,
    /// Measure on your own cluster (the bare profile's etcd: its binary on the node), over
    /// SSH; it loads the disk etcd uses for about two minutes, so it needs
    /// --allow-disruption.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Your own cluster: let the bench load the disk of its etcd; you are asked to type the
    /// cluster's name unless --yes.
    #[arg(long, requires = "inventory")]
    allow_disruption: bool,
    /// With --allow-disruption: no question asked (CI).
    #[arg(long, requires = "allow_disruption")]
    yes: bool,
    /// Your own cluster: where SSH host keys are pinned (default `$HADRILL_HOME/known_hosts`).
    #[arg(long, requires = "inventory")]
    known_hosts: Option<PathBuf>,
    /// The node to measure on (default: the first control-plane node).
    #[arg(long, conflicts_with = "sim")]
    node: Option<String>,
    /// Disk profile predicted (vm-templates/disk-profiles.yaml): what your disk is, on your
    /// own cluster. Default: `hdd-7200` on the simulation and your own cluster; on a lab,
    /// `unthrottled` (etcd's data is on the node's system disk, which has no caps), and no
    /// other.
    #[arg(long)]
    disk_profile: Option<String>,
    /// Seed of the prediction.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for bench.json, bench.md and bench.svg.
    #[arg(long, default_value = "out")]
    out: PathBuf,
}

/// What the lab's etcd disk is: its system disk, which no profile shapes.
const LAB_ETCD_DISK: &str = "unthrottled";

pub(super) fn run(cmd: &BenchCmd) -> Result<u8> {
    match cmd {
        BenchCmd::Etcd(a) => etcd_bench(a),
    }
}

fn etcd_bench(a: &EtcdArgs) -> Result<u8> {
    let default = if a.lab.is_some() {
        LAB_ETCD_DISK
    } else {
        "hdd-7200"
    };
    let name = a.disk_profile.as_deref().unwrap_or(default);
    let Some(profile) = disk::profile(name) else {
        bail!(
            "--disk-profile {}: unknown (expected {})",
            provisioner::text::shown(name),
            disk::names().join(", ")
        );
    };
    if a.lab.is_some() && name != LAB_ETCD_DISK {
        bail!(
            "--disk-profile {}: on a lab, etcd's data is on the node's system disk, which no \
             profile shapes ({LAB_ETCD_DISK}); use --sim to predict another disk",
            provisioner::text::shown(name)
        );
    }
    // The lab or cluster and its node are checked, and a cluster's owner asked, before
    // anything runs or is written.
    let on_lab = match (&a.lab, &a.inventory) {
        (Some(lab), _) => Some(open(lab, a.node.as_deref())?),
        (None, Some(inv)) => Some(open_own(a, inv, name)?),
        (None, None) => None,
    };
    let predicted = etcd::predict(&profile.mechanics, a.seed);
    let others = disk::names()
        .into_iter()
        .filter(|&n| n != name)
        .map(|n| {
            let m = &disk::profile(n).expect("a listed profile").mechanics;
            (n.to_owned(), etcd::predict(m, a.seed))
        })
        .collect();
    let (measured_on, measured) = match on_lab {
        None => ("the simulation's disk model".to_owned(), None),
        Some(lab) => match measure(lab) {
            Ok((on, figures)) => (on, Some(figures)),
            Err(code) => return Ok(code),
        },
    };
    let b = EtcdBench {
        disk_profile: name.to_owned(),
        measured_on,
        measured,
        predicted,
        others,
    };
    let verdict = b.verdict();
    let md = bench::markdown(&b);
    print!("{md}");
    let mut out = OutDir::open(&a.out)?;
    let written = out
        .write("bench.json", bench::json(&b).as_bytes())
        .and_then(|()| out.write("bench.md", md.as_bytes()))
        .and_then(|()| out.write("bench.svg", bench::svg(&b).as_bytes()))
        .and_then(|()| out.finish(None));
    written.context("cannot write the bench's report")?;
    eprintln!("hadrill: {}", verdict.line);
    Ok(if verdict.ok { 0 } else { 1 })
}

/// Where a bench runs: the lab's or cluster's name, its nodes (opened and claimed), the
/// node, what its disk is (for the report), and your cluster's claim folder, removed once
/// the nodes are closed.
struct Target {
    name: String,
    nodes: Nodes,
    id: NodeId,
    disk: String,
    own: Option<LabDir>,
}

/// Runs the bench on the target's node: where, and the figures; else the exit code (130
/// interrupted, 3 nothing measured), its reason printed.
fn measure(t: Target) -> Result<(String, etcd::Figures), u8> {
    let Target {
        name: lab,
        nodes,
        id,
        disk,
        own,
    } = t;
    let who = nodes.node(id).to_owned();
    let say = |s: &str| eprintln!("hadrill: {lab}: {who}: {s}");
    let measured = lab_bench::measure(&nodes, id, &say);
    // The claim is in the folder: closed first, then the folder goes however the bench ended.
    drop(nodes);
    if let Some(dir) = &own {
        crate::lab::existing::forget_if_clean(dir);
    }
    match measured {
        Ok(f) => Ok((format!("{lab}: {who}: {} ({disk})", lab_bench::DIR), f)),
        Err(e) if e == lab_bench::INTERRUPTED => {
            eprintln!(
                "hadrill: {lab}: {who}: interrupted; the bench's member and files are removed"
            );
            Err(130)
        }
        Err(e) => {
            // Nothing measured: nothing to judge (exit 3, as a drill that could not finish).
            eprintln!("hadrill: {}", provisioner::text::one_line(&e));
            Err(3)
        }
    }
}

/// The lab's nodes, opened (and claimed) for the bench, and the node it runs on.
fn open(lab: &str, node: Option<&str>) -> Result<Target> {
    let (model, dir) = lab_model(lab, None)?;
    let state = dir
        .load()
        .map_err(anyhow::Error::msg)?
        .context("no such lab")?;
    if state.profile.is_none() {
        bail!("lab `{lab}` is not provisioned (hadrill provision --lab {lab})");
    }
    let id = etcd_node(&model, node, &format!("lab `{lab}`"))?;
    let known_hosts = dir.known_hosts();
    let nodes = Nodes::open(dir, &known_hosts, model, 1, None).map_err(anyhow::Error::msg)?;
    Ok(Target {
        name: lab.to_owned(),
        nodes,
        id,
        disk: format!("the system disk, {LAB_ETCD_DISK}"),
        own: None,
    })
}

/// Your own cluster's nodes, once its owner agreed (--allow-disruption, and its name typed
/// or --yes).
fn open_own(a: &EtcdArgs, inventory: &Path, profile: &str) -> Result<Target> {
    let model = super::load_inventory(inventory, provisioner::model::Profile::Bare)?;
    let id = etcd_node(
        &model,
        a.node.as_deref(),
        &format!("cluster `{}`", model.name),
    )?;
    let what = format!(
        "the bench (fio, then 150 etcd puts a second for 60 s, on {}'s etcd disk)",
        model.node(id).name
    );
    super::drill::confirm_disruption(&model, &what, a.allow_disruption, a.yes, "to run it")?;
    let home = crate::home();
    let known_hosts = a
        .known_hosts
        .clone()
        .unwrap_or_else(|| home.join("known_hosts"));
    let name = model.name.clone();
    let own = crate::lab::existing::dir(&home, &name);
    let nodes =
        crate::lab::existing::open_nodes(&home, model, &known_hosts, 1, None).map_err(|e| {
            crate::lab::existing::forget_if_clean(&own);
            anyhow::Error::msg(e)
        })?;
    Ok(Target {
        name,
        nodes,
        id,
        disk: format!("your disk, predicted as {profile}"),
        own: Some(own),
    })
}

/// The node to bench: the one named, which must run etcd, else the first that does.
fn etcd_node(model: &ClusterModel, node: Option<&str>, whose: &str) -> Result<NodeId> {
    let id = match node {
        Some(n) => model.node_by_name(n).with_context(|| {
            format!(
                "--node {}: {whose} has no such node",
                provisioner::text::shown(n)
            )
        })?,
        None => model
            .node_ids()
            .find(|&i| model.node(i).control_plane)
            .context("the lab has no control-plane node (no etcd)")?,
    };
    if !model.node(id).control_plane {
        bail!(
            "--node {}: not a control-plane node (no etcd there)",
            model.node(id).name
        );
    }
    Ok(id)
}
