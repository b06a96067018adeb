//! `up`, `down`, `status`, `ssh` and `heal`: a lab's life.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use provisioner::model::NodeId;

use super::{lab_model, runtime};
use crate::lab::containers;
use crate::lab::libvirt::{self, UpOptions};

/// Where a lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum SubstrateArg {
    /// libvirt VMs (KVM where it works, else TCG).
    Libvirt,
    /// Containers running systemd, on a Docker network of their own (dockerd).
    Containers,
}

#[derive(Debug, Args)]
pub(super) struct UpArgs {
    /// Where the lab runs.
    #[arg(long, value_enum, default_value = "libvirt")]
    substrate: SubstrateArg,
    /// The lab's name.
    #[arg(long)]
    lab: String,
    /// Number of nodes, 1 to 9.
    #[arg(long, default_value_t = 3)]
    nodes: u8,
    /// Profile of the OSD disks (vm-templates/disk-profiles.yaml).
    #[arg(long, default_value = "hdd-7200")]
    disk_profile: String,
    /// Memory per node, MiB (512 to 65536).
    #[arg(long, default_value_t = 1536)]
    memory: u32,
    /// vCPUs per node, 1 to 64.
    #[arg(long, default_value_t = 1)]
    vcpus: u32,
    /// A cloud image with cloud-init (for the kubernetes profile on a runner with internet);
    /// default: hadrill's own image, built offline.
    #[arg(long)]
    image: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct DownArgs {
    /// The lab's name.
    #[arg(long)]
    lab: String,
}

#[derive(Debug, Args)]
pub(super) struct HealArgs {
    /// A lab made with `hadrill up`.
    #[arg(
        long,
        required_unless_present = "inventory",
        conflicts_with = "inventory"
    )]
    lab: Option<String>,
    /// Your own cluster, drilled with `hadrill drill --inventory`.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// The profile your cluster runs (with --inventory).
    #[arg(long, default_value = "kubernetes", requires = "inventory")]
    profile: provisioner::model::Profile,
    /// Where SSH host keys are pinned (with --inventory; default `$HADRILL_HOME/known_hosts`).
    #[arg(long, requires = "inventory")]
    known_hosts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct SshArgs {
    /// The lab's name.
    lab: String,
    /// The node.
    node: String,
    /// A command to run instead of a shell.
    #[arg(last = true)]
    command: Vec<String>,
}

pub(super) fn up(a: &UpArgs) -> Result<u8> {
    if a.substrate == SubstrateArg::Containers {
        return up_containers(a);
    }
    let opts = UpOptions {
        name: a.lab.clone(),
        nodes: a.nodes,
        disk_profile: a.disk_profile.clone(),
        memory: a.memory,
        vcpus: a.vcpus,
        image: a.image.clone(),
        uri: libvirt::default_uri(),
    };
    libvirt::check(&opts).map_err(anyhow::Error::msg)?;
    let start = crate::wall::now();
    let bar = crate::progress::spinner(&format!("up {}", a.lab));
    let state = libvirt::up(&opts, &crate::home(), &|s| {
        if s.starts_with("accelerator: ") {
            bar.suspend(|| eprintln!("hadrill: {s}"));
        }
        bar.set_message(s.to_owned());
    });
    ready(a, &bar, start, state, |s| {
        format!("{} nodes up ({})", s.nodes.len(), s.accel)
    })
}

/// `up --substrate containers`. The options only a VM has (a cloud image, its disks, memory
/// and vCPUs) are refused when given other values than their defaults, not ignored.
fn up_containers(a: &UpArgs) -> Result<u8> {
    if a.image.is_some() {
        bail!("--image: a container lab runs hadrill's own image (a cloud image needs a VM)");
    }
    if a.disk_profile != "hdd-7200" || a.memory != 1536 || a.vcpus != 1 {
        bail!("--disk-profile, --memory and --vcpus are a VM's: a container lab's nodes share the host's");
    }
    let opts = containers::UpOptions {
        name: a.lab.clone(),
        nodes: a.nodes,
    };
    containers::check(&opts).map_err(anyhow::Error::msg)?;
    let start = crate::wall::now();
    let bar = crate::progress::spinner(&format!("up {}", a.lab));
    let state = containers::up(&opts, &crate::home(), &|s| bar.set_message(s.to_owned()));
    ready(a, &bar, start, state, |s| {
        format!("{} node containers up", s.nodes.len())
    })
}

/// The end of `up` on any lab: SSH on every node (the lab removed if not), then one line.
/// The lab stays claimed until then: `up` killed while it waits shows in `status`.
fn ready(
    a: &UpArgs,
    bar: &indicatif::ProgressBar,
    start: std::time::Instant,
    made: Result<(crate::lab::state::State, crate::lab::state::Claim), String>,
    what: impl Fn(&crate::lab::state::State) -> String,
) -> Result<u8> {
    let (state, claim) = match made {
        Ok(s) => s,
        Err(e) => {
            bar.finish_and_clear();
            bail!("up {}: {e}", a.lab);
        }
    };
    bar.set_message("waiting for SSH on every node");
    let (model, lab) = lab_model(&a.lab, None)?;
    let rt = runtime()?;
    let waited = rt.block_on(libvirt::wait_ssh(&model, &lab.known_hosts(), bar));
    bar.finish_and_clear();
    if let Err(e) = waited {
        drop(claim);
        let _ = crate::lab::down(&crate::home(), &a.lab, &|_| {});
        bail!("up {}: {e} (the lab was removed)", a.lab);
    }
    drop(claim);
    println!(
        "lab {}: {}, SSH ready after {:.0} s; VIP will be {}",
        a.lab,
        what(&state),
        start.elapsed().as_secs_f64(),
        model.vip
    );
    Ok(0)
}

pub(super) fn down(a: &DownArgs) -> Result<u8> {
    let bar = crate::progress::spinner(&format!("down {}", a.lab));
    let removed = crate::lab::down(&crate::home(), &a.lab, &|s| bar.set_message(s.to_owned()));
    bar.finish_and_clear();
    if removed.map_err(anyhow::Error::msg)? {
        println!("lab {}: removed", a.lab);
    } else {
        println!("lab {}: nothing to remove", a.lab);
    }
    Ok(0)
}

pub(super) fn status() -> Result<u8> {
    let text = crate::lab::status(&crate::home()).map_err(anyhow::Error::msg)?;
    if text.is_empty() {
        println!("no labs");
    } else {
        print!("{text}");
    }
    Ok(0)
}

pub(super) fn ssh(a: &SshArgs) -> Result<u8> {
    use std::os::unix::process::CommandExt;
    let (model, lab) = lab_model(&a.lab, None)?;
    let id = model
        .node_by_name(&a.node)
        .with_context(|| format!("lab `{}`: no node `{}`", a.lab, a.node))?;
    let node = model.node(id);
    let err = std::process::Command::new("ssh")
        .arg("-i")
        .arg(lab.key())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            lab.known_hosts().display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg(format!("{}@{}", node.ssh.user, node.address))
        .args(&a.command)
        .exec();
    bail!("ssh: {err}")
}

/// Undoes what a drill's fault ledger still lists (a drill killed before its cleanup).
pub(super) fn heal(a: &HealArgs) -> Result<u8> {
    let home = crate::home();
    let (what, model, ledger) = match (&a.lab, &a.inventory) {
        (Some(name), _) => {
            let (model, lab) = lab_model(name, None)?;
            (format!("lab {name}"), model, lab.faults())
        }
        (None, Some(path)) => {
            let model = super::load_inventory(path, a.profile)?;
            let dir = crate::lab::existing::dir(&home, &model.name);
            (format!("cluster {}", model.name), model, dir.faults())
        }
        (None, None) => bail!("--lab or --inventory is required"),
    };
    let active = crate::drill::Ledger::load(&ledger).map_err(anyhow::Error::msg)?;
    let names: Vec<String> = model.nodes.iter().map(|n| n.name.clone()).collect();
    let mut dl: Box<dyn crate::lab::RealLab> = match (&a.lab, &a.inventory) {
        (Some(name), _) => {
            if active.is_empty() {
                println!("{what}: no fault in force");
                return Ok(0);
            }
            let lab = crate::lab::open(&home, crate::lab::Site::Made(name), model, 1, None);
            lab.map_err(anyhow::Error::msg)?
        }
        _ => {
            let known_hosts = a
                .known_hosts
                .clone()
                .unwrap_or_else(|| home.join("known_hosts"));
            let site = crate::lab::Site::Own {
                known_hosts: &known_hosts,
                revert_after: crate::lab::existing::REVERT_MARGIN,
                dry: false,
            };
            let mut lab =
                crate::lab::open(&home, site, model, 1, None).map_err(anyhow::Error::msg)?;
            // A drill killed mid-way left revert timers armed: their faults are undone here.
            lab.disarm_all();
            lab
        }
    };
    if active.is_empty() {
        println!("{what}: no fault in force");
    }
    for f in active.iter().rev() {
        let Some(undo) = crate::drill::inverse(&f.kind) else {
            continue;
        };
        let node: NodeId = f.node;
        dl.inject(&undo, node)?;
        println!("{} {}: undone", undo.key(), names[node.index()]);
    }
    if ledger.exists() {
        std::fs::remove_file(&ledger).with_context(|| format!("{}", ledger.display()))?;
    }
    drop(dl);
    if let (None, Some(_)) = (&a.lab, &a.inventory) {
        if let Some(dir) = ledger.parent() {
            crate::lab::existing::forget_if_clean(&crate::lab::state::LabDir {
                name: String::new(),
                dir: dir.to_path_buf(),
            });
        }
    }
    Ok(0)
}

/// Prints a lab's cluster as an Ansible inventory (for the user's playbooks, or to drill the
/// lab's nodes as a cluster of one's own).
pub(super) fn inventory(a: &DownArgs) -> Result<u8> {
    let (model, _) = lab_model(&a.lab, None)?;
    let header = format!(
        "The cluster of lab {0}, made by `hadrill up --lab {0}`, as an Ansible inventory\n\
         (`hadrill inventory --lab {0}`). hadrill reads it back as the same cluster.",
        a.lab
    );
    let text = provisioner::inventory::ansible_yaml(&model, &header).map_err(anyhow::Error::msg)?;
    print!("{text}");
    Ok(0)
}
