//! Labs: where a drill runs. The [`Lab`] trait, its errors and the simulation as a lab
//! ([`sim::SimLab`]) come from the IO-free core (`hadrill_core::lab`); the real labs are here:
//! libvirt VMs ([`libvirt`]) and the lab folder with its resource record ([`state`]).
//!
//! The CLI opens a lab made by `up` through [`open`], the one registry: the kind of lab is the
//! substrate its state records. A new kind of lab is a folder beside `libvirt/` that
//! implements [`RealLab`], and one line in [`open`].

use std::path::{Path, PathBuf};

use provisioner::model::ClusterModel;

pub use hadrill_core::lab::{sim, Error, Lab, Substrate};

pub mod libvirt;
pub mod state;

/// A lab of real machines, opened by name: the core's [`Lab`] and what a drill on real
/// machines needs besides.
pub trait RealLab: Lab {
    /// Waits (bounded) until the cluster passes every `validate` check, so that each scenario
    /// starts from a healthy cluster; Err names the checks that kept failing.
    fn wait_healthy(&mut self) -> Result<(), String>;
    /// The ledger of the faults in force, which `heal` reads after a drill that was killed.
    fn ledger_file(&self) -> PathBuf;
}

/// Opens lab `name` (made by `up`, in `home`) for a drill of `model`, by the substrate its
/// state records. `kubeconfig`: the kubernetes profile's client. Err says why, in one line.
pub fn open(
    home: &Path,
    name: &str,
    model: ClusterModel,
    seed: u64,
    kubeconfig: Option<&Path>,
) -> Result<Box<dyn RealLab>, String> {
    let dir = state::LabDir::new(home, name);
    let recorded = dir
        .load()?
        .ok_or_else(|| format!("lab `{name}`: no such lab (labs are made with `hadrill up`)"))?;
    match recorded.substrate.as_str() {
        "libvirt" => Ok(Box::new(libvirt::drive::LibvirtLab::open(
            home, name, model, seed, kubeconfig,
        )?)),
        other => Err(format!(
            "lab `{name}`: its state names substrate `{other}`, which this hadrill cannot open"
        )),
    }
}
