//! Labs: where a drill runs. The [`Lab`] trait, its errors and the simulation as a lab
//! ([`sim::SimLab`]) come from the IO-free core (`hadrill_core::lab`); the real labs are here:
//! libvirt VMs ([`libvirt`]), containers ([`containers`]) and the lab folder with its
//! resource record ([`state`]). [`down`] and [`status`] serve every kind: each resource says
//! what removes it.
//!
//! The CLI opens every lab through [`open`], the one registry: a lab made by `up` by the
//! substrate its state records, the user's own cluster from its inventory. A new kind of lab
//! is a folder beside `libvirt/` that implements [`RealLab`], and one line in [`open`].

use std::path::{Path, PathBuf};

use provisioner::model::ClusterModel;

pub use hadrill_core::lab::{sim, Error, Lab, Substrate};

pub mod containers;
pub mod existing;
pub mod libvirt;
pub mod nodes;
pub mod state;

use state::{check_name, LabDir, Resource};

/// A lab of real machines, opened by name: the core's [`Lab`] and what a drill on real
/// machines needs besides.
pub trait RealLab: Lab {
    /// Waits (bounded) until the cluster passes every `validate` check, so that each scenario
    /// starts from a healthy cluster; Err names the checks that kept failing.
    fn wait_healthy(&mut self) -> Result<(), String>;
    /// The ledger of the faults in force, which `heal` reads after a drill that was killed.
    fn ledger_file(&self) -> PathBuf;
    /// After a drill's undos: each node checked for what a fault could leave (qdiscs, nft
    /// tables, stopped units, restart drop-ins, the move-vip track file, revert timers) and the
    /// VIP on exactly one node, waiting (bounded) for what settles by itself.
    fn verify_healed(&mut self) -> Vec<crate::report::PostCheck>;
    /// Stops every revert timer hadrill armed on the nodes (`heal` after a killed drill on
    /// one's own cluster); a lab hadrill made arms none.
    fn disarm_all(&mut self) {}
}

/// Where a drill runs: what [`open`] is given.
pub enum Site<'a> {
    /// A lab made by `up`, by name: its kind is the substrate its state records.
    Made(&'a str),
    /// The user's own cluster, the model read from its inventory, drilled over SSH (see
    /// [`existing`]).
    Own {
        /// Where its host keys are pinned.
        known_hosts: &'a Path,
        /// How long each fault's revert timer waits on its node.
        revert_after: std::time::Duration,
        /// Print every command instead of running it.
        dry: bool,
    },
}

/// Opens a lab for a drill of `model`: the one registry, which the CLI calls for every kind
/// (a new kind is its folder and one line here). `kubeconfig`: the kubernetes profile's
/// client. Err says why, in one line.
pub fn open(
    home: &Path,
    site: Site<'_>,
    model: ClusterModel,
    seed: u64,
    kubeconfig: Option<&Path>,
) -> Result<Box<dyn RealLab>, String> {
    let name = match site {
        Site::Made(name) => name,
        Site::Own {
            known_hosts,
            revert_after,
            dry,
        } => {
            return Ok(Box::new(existing::ExistingLab::open(
                home,
                model,
                known_hosts,
                seed,
                kubeconfig,
                revert_after,
                dry,
            )?))
        }
    };
    let dir = state::LabDir::new(home, name);
    let recorded = dir
        .load()?
        .ok_or_else(|| format!("lab `{name}`: no such lab (labs are made with `hadrill up`)"))?;
    match recorded.substrate.as_str() {
        "libvirt" => Ok(Box::new(libvirt::drive::LibvirtLab::open(
            home, name, model, seed, kubeconfig,
        )?)),
        containers::SUBSTRATE => Ok(Box::new(containers::drive::ContainerLab::open(
            home, name, model, seed, kubeconfig,
        )?)),
        other => Err(format!(
            "lab `{name}`: its state names substrate `{other}`, which this hadrill cannot open"
        )),
    }
}

/// Removes lab `name`: every resource its state records, newest first, then its folder.
/// A lab that is not there is not an error (a second `down` succeeds): Ok(false).
pub fn down(home: &Path, name: &str, say: &dyn Fn(&str)) -> Result<bool, String> {
    check_name(name)?;
    let lab = LabDir::new(home, name);
    let Some(state) = lab.load()? else {
        if lab.dir.exists() {
            std::fs::remove_dir_all(&lab.dir).map_err(|e| format!("{}: {e}", lab.dir.display()))?;
        }
        return Ok(false);
    };
    // Each service is reached only if the lab made something there.
    let (mut virt, mut docker) = (None, None);
    let rt = containers::runtime()?;
    let mut errors = Vec::new();
    for r in state.resources.iter().rev() {
        say(&format!("remove {}", describe(r)));
        let removed = match r {
            Resource::Domain { .. } | Resource::Network { .. } => {
                if virt.is_none() {
                    virt = Some(libvirt::connect(&state.uri)?);
                }
                libvirt::remove(virt.as_ref().expect("connected"), r)
            }
            Resource::Container { .. } | Resource::DockerNetwork { .. } => {
                if docker.is_none() {
                    docker = Some(containers::connect()?);
                }
                rt.block_on(containers::remove(
                    docker.as_ref().expect("connected"),
                    name,
                    r,
                ))
            }
            Resource::NftTable { family, name } => remove_nft_table(family, name),
            Resource::File { path } => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("{}: {e}", path.display())),
            },
        };
        if let Err(e) = removed {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(format!("down {name}: {}", errors.join("; ")));
    }
    std::fs::remove_dir_all(&lab.dir).map_err(|e| format!("{}: {e}", lab.dir.display()))?;
    Ok(true)
}

fn describe(r: &Resource) -> String {
    match r {
        Resource::Network { name } => format!("network {name}"),
        Resource::Domain { name } => format!("domain {name}"),
        Resource::NftTable { family, name } => format!("nftables table {family} {name}"),
        Resource::DockerNetwork { name } => format!("Docker network {name}"),
        Resource::Container { name } => format!("container {name}"),
        Resource::File { path } => format!("file {}", path.display()),
    }
}

fn remove_nft_table(family: &str, name: &str) -> Result<(), String> {
    let exists = std::process::Command::new("nft")
        .args(["list", "table", family, name])
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        return Ok(());
    }
    libvirt::run(
        "nft delete",
        std::process::Command::new("nft").args(["delete", "table", family, name]),
    )
    .map(|_| ())
}

/// Who works on a lab and what faults a drill left in force, for `status`: a command that
/// was killed is named, with what undoes its work.
fn activity(lab: &LabDir, nodes: &[String], heal: &str, down: &str) -> String {
    let mut out = String::new();
    match lab.owner() {
        Some((o, true)) => out += &format!("  busy: `{}` (pid {})\n", o.command, o.pid),
        Some((o, false)) => {
            out += &format!(
                "  owner gone: `{cmd}` (pid {pid}) ended without finishing; `{heal}` undoes a \
                 drill's faults{down}\n",
                cmd = o.command,
                pid = o.pid,
            );
        }
        None => {}
    }
    let faults = crate::drill::Ledger::load(&lab.faults()).unwrap_or_default();
    if !faults.is_empty() {
        let list: Vec<String> = faults
            .iter()
            .map(|f| match nodes.get(f.node.index()) {
                Some(node) => format!("{} {node}", f.kind.key()),
                None => format!("{} on node {}", f.kind.key(), f.node.index() + 1),
            })
            .collect();
        out += &format!("  faults in force: {}\n", list.join(", "));
    }
    out
}

/// One line per lab and one per node: what `hadrill status` prints.
pub fn status(home: &Path) -> Result<String, String> {
    let mut out = String::new();
    for lab in LabDir::all(home) {
        let Some(state) = lab.load()? else { continue };
        let profile = state.profile.map_or("not provisioned", |p| p.as_str());
        let s = state.subnet;
        out += &format!(
            "{}: {} nodes, {} ({}), {}, disks {}, {}.{}.{}.0/24\n",
            state.name,
            state.nodes.len(),
            state.substrate,
            state.accel,
            profile,
            state.disk_profile,
            s[0],
            s[1],
            s[2]
        );
        let states = match state.substrate.as_str() {
            containers::SUBSTRATE => {
                let docker = containers::connect()?;
                let rt = containers::runtime()?;
                rt.block_on(async {
                    let mut v = Vec::new();
                    for n in &state.nodes {
                        v.push(containers::node_state(&docker, &state.name, n).await);
                    }
                    v
                })
            }
            _ => libvirt::node_states(&state)?,
        };
        for (i, (n, st)) in state.nodes.iter().zip(states).enumerate() {
            out += &format!("  {n} {} {st}\n", libvirt::node_address(s, i));
        }
        out += &activity(
            &lab,
            &state.nodes,
            &format!("hadrill heal --lab {}", lab.name),
            &format!(", `hadrill down --lab {}` removes the lab", lab.name),
        );
    }
    // Clusters of the user's own drilled with `drill --inventory`: shown while a drill runs,
    // or when one was killed (its folder goes when a drill ends clean).
    let clusters = home.join("clusters");
    let mut names: Vec<String> = std::fs::read_dir(&clusters)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| check_name(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        let dir = existing::dir(home, &name);
        let what = activity(&dir, &[], "hadrill heal --inventory FILE", "");
        if !what.is_empty() {
            out += &format!("cluster {name} (your own, drilled with --inventory):\n{what}");
        }
    }
    Ok(out)
}
