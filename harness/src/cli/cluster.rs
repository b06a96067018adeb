//! `plan`, `provision`, `validate` and `image build`: the cluster and its image.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use provisioner::model::{ClusterModel, Profile};

use super::{default_kubeconfig, lab_model, read_inventory, runtime, Hosts};
use crate::lab::state::LabDir;

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    /// Inventory file, Ansible-style or native (without it, the embedded seed cluster).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// What to install.
    #[arg(long, default_value = "bare")]
    profile: Profile,
    /// Directory for hosts/HOST/<path> and plan.txt.
    #[arg(long, default_value = "out/plan")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct ProvisionArgs {
    #[command(flatten)]
    hosts: Hosts,
    /// What to install (default: bare, or what the lab was provisioned with).
    #[arg(long)]
    profile: Option<Profile>,
}

#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    #[command(flatten)]
    hosts: Hosts,
    /// What was installed (default: bare, or the lab's).
    #[arg(long)]
    profile: Option<Profile>,
    /// Kubeconfig for the kubernetes profile (default `$KUBECONFIG` or `~/.kube/config`).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Seconds to keep re-checking while a check fails (a cluster just provisioned or healed
    /// may still be electing); 0 checks once, at most 3600. A check that failed first is
    /// still reported.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=3600))]
    wait: u64,
}

#[derive(Debug, Subcommand)]
pub(super) enum ImageCmd {
    /// Build the node image with debootstrap (cached by the hash of its recipe).
    Build {
        /// Cache directory (default `$HADRILL_CACHE/images` or `~/.cache/hadrill/images`).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

pub(super) fn plan(a: &PlanArgs) -> Result<u8> {
    let (model, unused) = match &a.inventory {
        Some(path) => {
            let inv = read_inventory(path, a.profile)?;
            (inv.model, inv.unused)
        }
        None => (ClusterModel::seed(a.profile), Vec::new()),
    };
    let mut out = provisioner::outdir::OutDir::open(&a.out)?;
    provisioner::plan::write_out(&model, &unused, &mut out)
        .and_then(|()| out.finish(None))
        .context("cannot write the plan")?;
    let n = provisioner::plan::plan(&model).steps.len();
    println!(
        "planned {n} steps for {} hosts ({}) into {}",
        model.nodes.len(),
        model.profile.as_str(),
        provisioner::text::shell_path(&a.out)
    );
    let (what, are) = match unused.len() {
        0 => ("", ""),
        1 => ("entry", "is"),
        _ => ("entries", "are"),
    };
    if !unused.is_empty() {
        println!(
            "{} {what} of the inventory {are} not read by hadrill (kept for Ansible): listed at the end of plan.txt",
            unused.len()
        );
    }
    Ok(0)
}

pub(super) fn provision(a: &ProvisionArgs) -> Result<u8> {
    let (model, known_hosts) = a.hosts.load(a.profile)?;
    // A lab's provisioning is its owner's work until it ends (`status` shows a killed one).
    let _claim = match &a.hosts.lab {
        Some(name) => Some(
            crate::lab::state::LabDir::new(&crate::home(), name)
                .claim("hadrill provision")
                .map_err(anyhow::Error::msg)?,
        ),
        None => None,
    };
    let rt = runtime()?;
    let summary = match rt.block_on(crate::provision::provision(&model, &known_hosts)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hadrill: provision: {e}");
            return Ok(1);
        }
    };
    if let Some(name) = &a.hosts.lab {
        // The lab now runs this profile: drills and validate use it.
        let (_, lab) = lab_model(name, Some(model.profile))?;
        let mut state = lab
            .load()
            .map_err(anyhow::Error::msg)?
            .context("the lab vanished")?;
        state.profile = Some(model.profile);
        LabDir::save(&lab, &state).map_err(anyhow::Error::msg)?;
    }
    println!(
        "provisioned {} hosts ({}): {} steps, {} changed",
        model.nodes.len(),
        model.profile.as_str(),
        summary.outcomes.len(),
        summary.n_changed()
    );
    Ok(0)
}

pub(super) fn validate(a: &ValidateArgs) -> Result<u8> {
    let (model, known_hosts) = a.hosts.load(a.profile)?;
    let kubeconfig = a.kubeconfig.clone().unwrap_or_else(default_kubeconfig);
    let rt = runtime()?;
    let hosts = crate::provision::transports(&model, &known_hosts);
    let wait = std::time::Duration::from_secs(a.wait);
    let (checks, settled) = rt.block_on(async {
        let rounds = crate::validate::until_settled(
            wait,
            || false,
            || crate::validate::validate(&model, &hosts, &kubeconfig),
        )
        .await;
        for t in hosts.values() {
            t.close().await;
        }
        rounds
    });
    print!("{}", crate::validate::table(&checks));
    for line in settled {
        eprintln!("hadrill: validate: {line}");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        eprintln!(
            "hadrill: validate: {failed} of {} checks failed",
            checks.len()
        );
        return Ok(1);
    }
    Ok(0)
}

pub(super) fn image(cmd: &ImageCmd) -> Result<u8> {
    let ImageCmd::Build { cache } = cmd;
    let cache = cache.clone().unwrap_or_else(crate::image::cache_dir);
    let bar = crate::progress::spinner("image");
    let img = crate::image::build(&cache, &|s| bar.set_message(s.to_owned()));
    bar.finish_and_clear();
    let img = img?;
    println!("image {} in {}", img.hash, img.dir.display());
    Ok(0)
}
