//! Labs: where a drill runs. The [`Lab`] trait, its errors and the simulation as a lab
//! ([`sim::SimLab`]) come from the IO-free core (`hadrill_core::lab`); the real labs are here:
//! libvirt VMs ([`libvirt`]) and the lab folder with its resource record ([`state`]).

pub use hadrill_core::lab::{sim, Error, Lab, Substrate};

pub mod libvirt;
pub mod state;
