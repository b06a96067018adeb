//! `hadrill bench`: a disk's fitness for etcd, measured on a lab and predicted by the disk
//! model, side by side, with a verdict.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::lab_model;
use crate::bench as lab_bench;
use crate::disk;
use crate::lab::nodes::Nodes;
use hadrill_core::bench::{self, etcd, EtcdBench};
use provisioner::model::NodeId;
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
    #[arg(long, required_unless_present = "lab", conflicts_with = "lab")]
    sim: bool,
    /// Measure on a lab made with `hadrill up` (and provisioned), beside the prediction.
    #[arg(long)]
    lab: Option<String>,
    /// The node to measure on (default: the lab's first control-plane node).
    #[arg(long, requires = "lab")]
    node: Option<String>,
    /// Disk profile predicted (vm-templates/disk-profiles.yaml). Default: `hdd-7200` on the
    /// simulation; on a lab, `unthrottled` (etcd's data is on the node's system disk, which
    /// has no caps), and no other.
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
    // The lab and its node are checked before anything is written.
    let on_lab = a
        .lab
        .as_deref()
        .map(|lab| open(lab, a.node.as_deref()))
        .transpose()?;
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
    print!("{}", bench::markdown(&b));
    let mut out = OutDir::open(&a.out)?;
    let written = out
        .write("bench.json", bench::json(&b).as_bytes())
        .and_then(|()| out.write("bench.md", bench::markdown(&b).as_bytes()))
        .and_then(|()| out.write("bench.svg", bench::svg(&b).as_bytes()))
        .and_then(|()| out.finish(None));
    written.context("cannot write the bench's report")?;
    eprintln!("hadrill: {}", verdict.line);
    Ok(if verdict.ok { 0 } else { 1 })
}

/// Runs the bench on the lab's node: where, and the figures; else the exit code (130
/// interrupted, 3 nothing measured), its reason printed.
fn measure((lab, nodes, id): (String, Nodes, NodeId)) -> Result<(String, etcd::Figures), u8> {
    let who = nodes.node(id).to_owned();
    let say = |s: &str| eprintln!("hadrill: {lab}: {who}: {s}");
    match lab_bench::measure(&nodes, id, &say) {
        Ok(f) => Ok((
            format!(
                "{lab}: {who}: {} (the system disk, {LAB_ETCD_DISK})",
                lab_bench::DIR
            ),
            f,
        )),
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
fn open(lab: &str, node: Option<&str>) -> Result<(String, Nodes, NodeId)> {
    let (model, dir) = lab_model(lab, None)?;
    let state = dir
        .load()
        .map_err(anyhow::Error::msg)?
        .context("no such lab")?;
    if state.profile.is_none() {
        bail!("lab `{lab}` is not provisioned (hadrill provision --lab {lab})");
    }
    let id = match node {
        Some(n) => model.node_by_name(n).with_context(|| {
            format!(
                "--node {}: lab `{lab}` has no such node",
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
    let known_hosts = dir.known_hosts();
    let nodes = Nodes::open(dir, &known_hosts, model, 1, None).map_err(anyhow::Error::msg)?;
    Ok((lab.to_owned(), nodes, id))
}
