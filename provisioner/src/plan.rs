//! Turns a [`ClusterModel`] into a plan: idempotent steps of shell commands, as values.
//!
//! Each [`Step`] has a `check` (exit 0 = already done, skip `apply`), an `apply` and a `verify`
//! (exit 0 = done). Nothing here runs a command; an executor does. The only IO is
//! [`write_out`], which saves the rendered files and plan.txt for review or a snapshot.
//!
//! **Invariant:** every value spliced into a command is shell-quoted with [`quote`].
//! Steps are ordered by phase (packages, files, sysctl, services), then by host, so every
//! etcd member is configured before any starts.

use std::fmt::Write as _;
use std::path::Path;

use crate::model::{ClusterModel, Node, Profile};
use crate::render::{self, File};

/// One idempotent step on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Host the commands run on.
    pub host: String,
    /// Short name, unique per host.
    pub name: String,
    /// Exit 0 when the step is already done.
    pub check: String,
    /// Makes the step done.
    pub apply: String,
    /// Exit 0 when the step is done.
    pub verify: String,
}

/// Quotes `s` as one POSIX shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Debian packages a node needs in the bare profile.
fn packages(node: &Node) -> Vec<&'static str> {
    let mut p = Vec::new();
    if node.proxy {
        p.extend(["haproxy", "keepalived"]);
    }
    if node.control_plane {
        p.push("etcd-server");
    }
    if node.worker {
        p.push("nginx");
    }
    p.push("ceph-common");
    if node.storage() {
        p.extend(["ceph-mon", "ceph-osd"]);
    }
    p
}

/// systemd units a node runs in the bare profile, in start order.
fn services(node: &Node) -> Vec<&'static str> {
    let mut s = Vec::new();
    if node.control_plane {
        s.push("etcd");
    }
    if node.proxy {
        s.extend(["haproxy", "keepalived"]);
    }
    if node.worker {
        s.push("nginx");
    }
    s
}

fn install_step(node: &Node) -> Step {
    let list = packages(node);
    let pkgs = list.join(" ");
    // Exit 0 only when every package reports `install ok installed`.
    let check = format!(
        "test \"$(dpkg-query -W -f='${{Status}}\\n' {pkgs} 2>/dev/null | grep -cx 'install ok installed')\" = {n}",
        n = list.len()
    );
    Step {
        host: node.name.clone(),
        name: "install packages".to_owned(),
        check: check.clone(),
        apply: format!(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {pkgs}"
        ),
        verify: check,
    }
}

fn file_step(file: &File) -> Step {
    let path = quote(&file.path);
    let body = quote(&file.content);
    let check = format!("printf '%s' {body} | cmp -s - {path}");
    let dir = Path::new(&file.path)
        .parent()
        .map_or_else(|| "/".to_owned(), |d| d.display().to_string());
    let tmp = quote(&format!("{}.hadrill-new", file.path));
    Step {
        host: file.host.clone(),
        name: format!("write {}", file.path),
        check: check.clone(),
        apply: format!(
            "mkdir -p {dir} && printf '%s' {body} > {tmp} && chmod {mode:o} {tmp} && mv {tmp} {path}",
            dir = quote(&dir),
            mode = file.mode,
        ),
        verify: check,
    }
}

fn sysctl_step(node: &Node) -> Step {
    let check = "test \"$(sysctl -n net.ipv4.ip_nonlocal_bind)\" = 1".to_owned();
    Step {
        host: node.name.clone(),
        name: "sysctl".to_owned(),
        check: check.clone(),
        apply: format!("sysctl -p {}", quote(render::SYSCTL_CONF)),
        verify: check,
    }
}

fn service_step(node: &Node, unit: &str) -> Step {
    let check =
        format!("systemctl is-enabled --quiet {unit} && systemctl is-active --quiet {unit}");
    Step {
        host: node.name.clone(),
        name: format!("start {unit}"),
        check: check.clone(),
        apply: format!("systemctl enable {unit} && systemctl restart {unit}"),
        verify: check,
    }
}

/// The plan of the bare profile; empty for the kubernetes profile (not planned yet).
pub fn plan(model: &ClusterModel) -> Vec<Step> {
    if model.profile != Profile::Bare {
        return Vec::new();
    }
    let files = render::render(model);
    let mut steps: Vec<Step> = model.nodes.iter().map(install_step).collect();
    steps.extend(files.iter().map(file_step));
    let proxies = model.nodes.iter().filter(|n| n.proxy);
    steps.extend(proxies.map(sysctl_step));
    for node in &model.nodes {
        steps.extend(services(node).into_iter().map(|u| service_step(node, u)));
    }
    steps
}

/// The plan as text: one block per step, numbered.
pub fn plan_txt(steps: &[Step]) -> String {
    let mut s = String::new();
    for (i, step) in steps.iter().enumerate() {
        let _ = write!(
            s,
            "# {n}. {host}: {name}\ncheck:  {check}\napply:  {apply}\nverify: {verify}\n\n",
            n = i + 1,
            host = step.host,
            name = step.name,
            check = step.check,
            apply = step.apply,
            verify = step.verify,
        );
    }
    s
}

/// Writes every rendered file at `dir/hosts/HOST/<absolute path>` and the plan at `dir/plan.txt`.
pub fn write_out(model: &ClusterModel, dir: &Path) -> std::io::Result<()> {
    for file in render::render(model) {
        let target = dir
            .join("hosts")
            .join(&file.host)
            .join(file.path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &file.content)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("plan.txt"), plan_txt(&plan(model)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$x"), "'$x'");
    }

    #[test]
    fn bare_plan_shape() {
        let m = ClusterModel::seed(Profile::Bare);
        let steps = plan(&m);
        assert_eq!(steps, plan(&m));
        let files = render::render(&m).len();
        // 3 installs, every file, 3 sysctl, 4 services on each of 3 nodes.
        assert_eq!(steps.len(), 3 + files + 3 + 12);
        assert_eq!(steps[0].name, "install packages");
        assert_eq!(steps.last().map(|s| s.name.as_str()), Some("start nginx"));
        let first_start = steps.iter().position(|s| s.name.starts_with("start "));
        let last_write = steps.iter().rposition(|s| s.name.starts_with("write "));
        assert!(last_write < first_start, "every file before any service");
        assert!(plan_txt(&steps).starts_with("# 1. node-1: install packages\n"));
    }

    #[test]
    fn kubernetes_not_planned_yet() {
        assert!(plan(&ClusterModel::seed(Profile::Kubernetes)).is_empty());
    }
}
