//! `hadrill provision`: the plan of a model run over SSH, with a progress bar.
//!
//! Glue only: the plan comes from `provisioner::plan`, the executor and the SSH transport
//! from `provisioner::exec`; this module connects them to the model's hosts and the display.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use provisioner::exec::ssh::{Ssh, Target};
use provisioner::exec::{self, Outcome, Progress, Summary};
use provisioner::model::ClusterModel;
use provisioner::plan::{self, Step, StepId};

/// An SSH transport per node of the model, host keys pinned in `known_hosts`.
pub fn transports(model: &ClusterModel, known_hosts: &Path) -> BTreeMap<String, Arc<Ssh>> {
    model
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                Arc::new(Ssh::new(Target::of_node(n, known_hosts))),
            )
        })
        .collect()
}

/// Shows the steps on a bar: position = finished steps, message = what runs now.
struct Bar {
    bar: ProgressBar,
    running: Mutex<BTreeMap<StepId, String>>,
}

impl Bar {
    fn show(&self) {
        let running = self.running.lock().expect("not poisoned");
        let now: Vec<&str> = running.values().map(String::as_str).collect();
        self.bar.set_message(now.join(", "));
    }
}

impl Progress for Bar {
    fn started(&self, id: StepId, step: &Step) {
        self.running
            .lock()
            .expect("not poisoned")
            .insert(id, format!("{}: {}", step.host, step.name));
        self.show();
    }
    fn finished(&self, id: StepId, _: &Step, _: Outcome) {
        self.running.lock().expect("not poisoned").remove(&id);
        self.bar.inc(1);
        self.show();
    }
}

/// Runs the model's plan on its hosts.
pub async fn provision(model: &ClusterModel, known_hosts: &Path) -> Result<Summary, exec::Error> {
    let plan = plan::plan(model);
    let hosts = transports(model, known_hosts);
    let bar = crate::progress::bar("provision", plan.steps.len() as u64);
    let progress = Arc::new(Bar {
        bar: bar.clone(),
        running: Mutex::new(BTreeMap::new()),
    });
    let result = exec::execute(&plan, &hosts, progress).await;
    bar.finish_and_clear();
    for t in hosts.values() {
        t.close().await;
    }
    result
}
