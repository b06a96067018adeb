//! The `hadrill` command line: parse, call the library, map the outcome to an exit code.
//!
//! Exit codes: 0 every expectation (check, step) held, 1 one did not (or explore found a
//! violation), 2 bad input, 3 nothing could be judged (a drill could not finish, or the lab
//! was not steady before its fault: outcome unknown), 130 interrupted
//! (after its faults were healed). Errors are printed once, on one line, by `main`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use provisioner::model::{ClusterModel, Profile};

use crate::lab::state::LabDir;

mod bench;
mod cluster;
mod drill;
mod lab;

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
    Drill(drill::DrillArgs),
    /// Every single node powered off, every single node rebooted, every pair powered off.
    Matrix(drill::MatrixArgs),
    /// Run scenarios on a lab and in the simulation with the lab's settings; compare the gaps.
    Compare(drill::CompareArgs),
    /// Render every file and the plan of steps for a cluster, touching no host.
    Plan(cluster::PlanArgs),
    /// Run the plan on the hosts over SSH: idempotent, a second run changes nothing.
    Provision(cluster::ProvisionArgs),
    /// Check a provisioned cluster as a user would; exit 1 when a check fails.
    Validate(cluster::ValidateArgs),
    /// Make a lab: VMs with an extra disk each on an isolated network.
    Up(lab::UpArgs),
    /// Remove a lab: everything it made, and nothing else.
    Down(lab::DownArgs),
    /// The labs and their nodes.
    Status,
    /// A shell (or a command) on a lab's node.
    Ssh(lab::SshArgs),
    /// Undo the faults a crashed drill left in force on a lab or on your own cluster.
    Heal(lab::HealArgs),
    /// Print a lab's cluster as an Ansible inventory (YAML), which hadrill reads back as is.
    Inventory(lab::DownArgs),
    /// Node images for the labs.
    Image {
        #[command(subcommand)]
        cmd: cluster::ImageCmd,
    },
    /// The simulation's own commands.
    Sim {
        #[command(subcommand)]
        cmd: drill::SimCmd,
    },
    /// Benchmarks: a disk's fitness for etcd, measured on a lab and predicted.
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCmd,
    },
    /// Reports: join the shards of one drill.
    Report {
        #[command(subcommand)]
        cmd: drill::ReportCmd,
    },
}

/// Which hosts: an inventory, or a lab made with `hadrill up`.
#[derive(Debug, Args)]
struct Hosts {
    /// Inventory file (Ansible-style or native).
    #[arg(long, required_unless_present = "lab", conflicts_with = "lab")]
    inventory: Option<PathBuf>,
    /// A lab made with `hadrill up`.
    #[arg(long)]
    lab: Option<String>,
    /// Where SSH host keys are pinned (default: the lab's own, else
    /// `$HADRILL_HOME/known_hosts`).
    #[arg(long)]
    known_hosts: Option<PathBuf>,
}

impl Hosts {
    /// The model (for `profile`, or the lab's own when None) and the pin file.
    fn load(&self, profile: Option<Profile>) -> Result<(ClusterModel, PathBuf)> {
        match (&self.inventory, &self.lab) {
            (Some(path), _) => {
                let kh = self
                    .known_hosts
                    .clone()
                    .unwrap_or_else(|| crate::home().join("known_hosts"));
                Ok((load_inventory(path, profile.unwrap_or(Profile::Bare))?, kh))
            }
            (None, Some(name)) => {
                let (model, lab) = lab_model(name, profile)?;
                let kh = self
                    .known_hosts
                    .clone()
                    .unwrap_or_else(|| lab.known_hosts());
                Ok((model, kh))
            }
            (None, None) => bail!("--inventory or --lab is required"),
        }
    }
}

/// A lab's model: its inventory, with the given profile or the one it was provisioned with.
fn lab_model(name: &str, profile: Option<Profile>) -> Result<(ClusterModel, LabDir)> {
    crate::lab::state::check_name(name).map_err(anyhow::Error::msg)?;
    let lab = LabDir::new(&crate::home(), name);
    let state = lab
        .load()
        .map_err(anyhow::Error::msg)?
        .with_context(|| format!("lab `{name}`: no such lab (labs are made with `hadrill up`)"))?;
    let profile = profile.or(state.profile).unwrap_or(Profile::Bare);
    let inv = provisioner::inventory::load(&lab.inventory(), profile)?;
    Ok((inv.model, lab))
}

/// Reads an inventory, printing its warnings once each on stderr.
fn read_inventory(path: &Path, profile: Profile) -> Result<provisioner::inventory::Inventory> {
    let inv = provisioner::inventory::load(path, profile)?;
    for w in &inv.warnings {
        eprintln!("hadrill: warning: {}: {w}", path.display());
    }
    Ok(inv)
}

/// An inventory's cluster, its warnings printed once each on stderr.
fn load_inventory(path: &Path, profile: Profile) -> Result<ClusterModel> {
    read_inventory(path, profile).map(|inv| inv.model)
}

/// The runtime for commands that talk to hosts.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `$KUBECONFIG`, else `~/.kube/config`.
fn default_kubeconfig() -> PathBuf {
    std::env::var_os("KUBECONFIG").map_or_else(
        || {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
                .join(".kube/config")
        },
        PathBuf::from,
    )
}

/// Runs the command line; returns the exit code for a finished command.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<u8> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            e.print()?;
            return Ok(0);
        }
        Err(e) => {
            // clap's message up to its first blank line, on one line.
            let text = e.to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = first.join(" ");
            bail!("{}", line.trim_start_matches("error: "))
        }
    };
    match cli.cmd {
        Cmd::Drill(a) => drill::drill(&a),
        Cmd::Matrix(a) => drill::matrix(&a),
        Cmd::Compare(a) => drill::compare(&a),
        Cmd::Plan(a) => cluster::plan(&a),
        Cmd::Provision(a) => cluster::provision(&a),
        Cmd::Validate(a) => cluster::validate(&a),
        Cmd::Up(a) => lab::up(&a),
        Cmd::Down(a) => lab::down(&a),
        Cmd::Status => lab::status(),
        Cmd::Ssh(a) => lab::ssh(&a),
        Cmd::Heal(a) => lab::heal(&a),
        Cmd::Inventory(a) => lab::inventory(&a),
        Cmd::Image { cmd } => cluster::image(&cmd),
        Cmd::Sim { cmd } => drill::sim(&cmd),
        Cmd::Report { cmd } => drill::report(&cmd),
        Cmd::Bench { cmd } => bench::run(&cmd),
    }
}
