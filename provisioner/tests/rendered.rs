//! Every file the seed's cluster gets, and its plan.txt, on both profiles, pinned (insta): a
//! change to any rendered byte, mode, owner or host, or to a step of the plan, fails until the
//! snapshot is updated in the same commit with the reason. What the files mean is checked
//! elsewhere (real daemons read them in `tests/tests/checkers.rs` and on the labs; issue 19
//! adds the Kubernetes validators); this test makes sure nothing changes unseen, which the
//! mutation run showed the per-function tests did not (docs/testing.md).

use provisioner::model::{ClusterModel, Profile};
use provisioner::{plan, render};

/// The rendered files, each content once with the hosts that get it, in (path, hosts) order.
fn files(model: &ClusterModel) -> String {
    let files = render::render(model);
    assert!(
        files.len() >= 3 * model.nodes.len(),
        "every node gets files: {} in all",
        files.len()
    );
    let mut by_content: Vec<(String, Vec<String>, &render::File)> = Vec::new();
    for f in &files {
        match by_content.iter_mut().find(|(p, _, g)| {
            *p == f.path && g.content == f.content && g.mode == f.mode && g.owner == f.owner
        }) {
            Some((_, hosts, _)) => hosts.push(f.host.clone()),
            None => by_content.push((f.path.clone(), vec![f.host.clone()], f)),
        }
    }
    by_content.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut out = String::new();
    for (path, hosts, f) in by_content {
        out += &format!(
            "==== {path} (mode {:o}, {}) on {}\n{}\n",
            f.mode,
            f.owner,
            hosts.join(", "),
            f.content
        );
    }
    out
}

#[test]
fn the_bare_profiles_files_and_plan_are_pinned() {
    let model = ClusterModel::seed(Profile::Bare);
    insta::assert_snapshot!("bare_files", files(&model));
    insta::assert_snapshot!("bare_plan", plan::plan_txt(&plan::plan(&model)));
}

#[test]
fn the_kubernetes_profiles_files_and_plan_are_pinned() {
    let model = ClusterModel::seed(Profile::Kubernetes);
    insta::assert_snapshot!("kubernetes_files", files(&model));
    insta::assert_snapshot!("kubernetes_plan", plan::plan_txt(&plan::plan(&model)));
}
