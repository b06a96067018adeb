//! hadrill's provisioner: everything that turns an inventory into a running cluster.
//!
//! A tour: [`model::ClusterModel`] holds the topology and every timer. It is built from an
//! inventory and read by the renderers (config files) and, in the harness, by the simulation.
//!
//! ```
//! use provisioner::model::{ClusterModel, Profile};
//! let m = ClusterModel::seed(Profile::Bare);
//! assert_eq!(m.nodes.len(), 3);
//! ```
//!
//! **Boundary:** this crate knows nothing of the harness; the harness depends on it.

#[cfg(feature = "exec")]
pub mod exec;
pub mod inventory;
pub mod model;
pub mod outdir;
pub mod plan;
pub mod render;
pub mod text;
pub mod yaml;
