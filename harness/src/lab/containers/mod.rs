//! Labs of containers: each node a container running systemd from hadrill's offline node
//! image, on a Docker network of the lab's own with fixed addresses (host .1, nodes .11..,
//! the VIP .100), as kind makes its nodes. Made through dockerd's API (bollard), never the
//! `docker` command.
//!
//! A node container is what a VM lab's node is to the cluster: its own network stack, systemd
//! and sshd, root reached with the lab's key. What it cannot be: its own kernel (a kernel
//! module the host lacks, such as sch_netem, the lab lacks too) and its own disk (an OSD is a
//! file in the container, `/var/lib/hadrill/osd-0.img`).
//!
//! **Invariant:** every network and container is recorded in `lab.json` before it is made
//! (`state::LabDir::record`), so `down` removes all of it after a crash; and each carries the
//! lab's label, which `down` checks before it removes one, so it removes nothing else (`up`
//! also refuses a name that is taken).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    HostConfig, Ipam, IpamConfig, Mount, MountType, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, InspectNetworkOptions, KillContainerOptions,
    ListNetworksOptions, RemoveContainerOptions, StartContainerOptions,
};
use bollard::Docker;

use crate::image;

pub mod drive;
use crate::lab::state::{check_name, choose_subnet, Claim, LabDir, Resource, State};

/// The substrate's name in `lab.json`.
pub const SUBSTRATE: &str = "containers";

/// Most nodes a container lab has.
pub const NODES_MAX: u8 = 9;

/// The label every container and network of a lab carries: its lab's name.
pub const LABEL: &str = "org.hadrill.lab";

/// What `up --substrate containers` makes.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// The lab's name.
    pub name: String,
    /// How many nodes.
    pub nodes: u8,
}

/// Names derived from a lab's name.
pub struct Names;

impl Names {
    /// The lab's Docker network.
    pub fn network(lab: &str) -> String {
        format!("hadrill-{lab}")
    }
    /// The container of node `node`.
    pub fn container(lab: &str, node: &str) -> String {
        format!("hadrill-{lab}-{node}")
    }
}

/// Checks what `up` was asked, before anything is made.
pub fn check(opts: &UpOptions) -> Result<(), String> {
    check_name(&opts.name)?;
    if !(1..=NODES_MAX).contains(&opts.nodes) {
        return Err(format!(
            "--nodes {}: a container lab has 1 to {NODES_MAX} nodes",
            opts.nodes
        ));
    }
    Ok(())
}

/// dockerd, through its socket.
pub fn connect() -> Result<Docker, String> {
    Docker::connect_with_local_defaults().map_err(|e| format!("dockerd: {e} (is dockerd running?)"))
}

fn docker_err(what: &str) -> impl Fn(bollard::errors::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Whether dockerd says `e` is "no such object".
fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The subnets (10.X.Y.0/24, as three octets) this host's Docker networks and routes use.
async fn used_subnets(docker: &Docker) -> Result<Vec<[u8; 3]>, String> {
    let nets = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .map_err(docker_err("list Docker networks"))?;
    let mut used: Vec<[u8; 3]> = nets
        .iter()
        .flat_map(|n| n.ipam.iter().flat_map(|i| i.config.iter().flatten()))
        .filter_map(|c| c.subnet.as_deref())
        .filter_map(octets)
        .collect();
    // Routes: libvirt's bridges and anything else on the host.
    if let Ok(out) = std::process::Command::new("ip")
        .args(["-4", "route", "show"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        used.extend(
            text.lines()
                .filter_map(|l| octets(l.split_whitespace().next()?)),
        );
    }
    Ok(used)
}

/// The first three octets of `a.b.c.d/n`.
fn octets(cidr: &str) -> Option<[u8; 3]> {
    let addr: Ipv4Addr = cidr.split('/').next()?.parse().ok()?;
    let o = addr.octets();
    Some([o[0], o[1], o[2]])
}

/// The node image's tree as a Docker image, unless dockerd has it already: dockerd's import
/// (`POST /images/create?fromSrc=-`, what `docker import` calls), fed the tree as `tar`
/// writes it, chunk by chunk (the tree is about a gigabyte). Its tag names the recipe's hash.
pub async fn import(docker: &Docker, img: &image::Image) -> Result<String, String> {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let tag = img.docker_tag();
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    let (repo, version) = tag.split_once(':').ok_or("image tag without a version")?;
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(img.rootfs())
        .args(["-c", "."])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("tar: {e}"))?;
    let out = tar.stdout.take().ok_or("tar: no output")?;
    let body = futures_util::stream::unfold(Some(out), |out| async move {
        let mut out = out?;
        let mut buf = vec![0u8; 1 << 20];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(out)))
            }
            // The error ends the body, and with it the import.
            Err(e) => Some((Err(e), None)),
        }
    });
    let options = bollard::query_parameters::CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(version.into()),
        changes: vec!["CMD [\"/sbin/init\"]".into()],
        ..Default::default()
    };
    let mut progress =
        docker.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    while let Some(step) = progress.next().await {
        step.map_err(|e| format!("importing the node image into dockerd: {e}"))?;
    }
    let status = tar.wait().await.map_err(|e| format!("tar: {e}"))?;
    if !status.success() {
        // Half a tree may have been imported: it must not be taken for the image.
        let _ = docker
            .remove_image(
                &tag,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
        return Err(format!("tar of {}: {status}", img.rootfs().display()));
    }
    Ok(tag)
}

/// Makes a lab. On a failure after something was made, removes what was made. The lab's
/// claim comes back with its state: the caller holds it until the nodes answer on SSH.
pub fn up(opts: &UpOptions, home: &Path, say: &dyn Fn(&str)) -> Result<(State, Claim), String> {
    check(opts)?;
    let lab = LabDir::new(home, &opts.name);
    lab.must_be_new()?;
    say("image");
    let img = image::build(&image::cache_dir(), say).map_err(|e| e.to_string())?;
    say("image: into dockerd");
    let rt = runtime()?;
    let docker = connect()?;
    let tag = rt.block_on(import(&docker, &img))?;
    let subnet = choose_subnet(&opts.name, 78, &rt.block_on(used_subnets(&docker))?)?;
    let nodes: Vec<String> = (1..=opts.nodes).map(|i| format!("node-{i}")).collect();
    let mut state = State {
        name: opts.name.clone(),
        substrate: SUBSTRATE.into(),
        uri: "unix:///var/run/docker.sock".into(),
        accel: "container".into(),
        profile: None,
        disk_profile: "file".into(),
        subnet,
        nodes,
        resources: Vec::new(),
    };
    rt.block_on(names_free(&docker, &state))?;
    std::fs::create_dir_all(&lab.dir).map_err(|e| format!("{}: {e}", lab.dir.display()))?;
    lab.save(&state)?;
    let claim = lab.claim("hadrill up")?;
    let made = rt.block_on(make(&docker, &lab, &mut state, &tag, say));
    if let Err(e) = made {
        say("up failed: removing what was made");
        let _ = crate::lab::down(home, &opts.name, say);
        return Err(e);
    }
    Ok((state, claim))
}

/// A runtime for dockerd's API calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("async runtime: {e}"))
}

pub use crate::lab::state::node_address;

/// Everything `up` makes, each recorded first.
async fn make(
    docker: &Docker,
    lab: &LabDir,
    state: &mut State,
    tag: &str,
    say: &dyn Fn(&str),
) -> Result<(), String> {
    let key = lab.key();
    lab.record(state, Resource::File { path: key.clone() })?;
    let pubkey = key.with_extension("pub");
    lab.record(
        state,
        Resource::File {
            path: pubkey.clone(),
        },
    )?;
    say("ssh key");
    provisioner::exec::ssh::generate_key(&key, &format!("hadrill-{}", state.name))
        .map_err(|e| format!("ssh key: {e}"))?;
    let net = Names::network(&state.name);
    lab.record(state, Resource::DockerNetwork { name: net.clone() })?;
    say(&format!("network {net}"));
    let s = state.subnet;
    let labels: HashMap<String, String> = [(LABEL.to_owned(), state.name.clone())].into();
    let request = NetworkCreateRequest {
        name: net.clone(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some(format!("{}.{}.{}.0/24", s[0], s[1], s[2])),
                gateway: Some(format!("{}.{}.{}.1", s[0], s[1], s[2])),
                // dockerd hands out only .200 on: the nodes' .11.. and the VIP's .100 are
                // the lab's own.
                ip_range: Some(format!("{}.{}.{}.200/29", s[0], s[1], s[2])),
                ..Default::default()
            }]),
            options: None,
        }),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map_err(docker_err(&format!("network {net}")))?;
    for (i, node) in state.nodes.clone().iter().enumerate() {
        let name = Names::container(&state.name, node);
        lab.record(state, Resource::Container { name: name.clone() })?;
        say(&format!("container {name}"));
        let body = node_body(tag, node, &net, node_address(s, i), &pubkey, &labels);
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        docker
            .create_container(Some(options), body)
            .await
            .map_err(docker_err(&format!("container {name}")))?;
        docker
            .start_container(&name, None::<StartContainerOptions>)
            .await
            .map_err(docker_err(&format!("start {name}")))?;
    }
    // The OSD of each node is a file (a container has no disk of its own).
    let made_by = "hadrill up --substrate containers";
    crate::lab::state::write_inventory(lab, state, made_by, "/var/lib/hadrill/osd-0.img")
}

/// One node's container: systemd as PID 1, its own address on the lab's network, the lab's
/// public key for root, the sysctl HAProxy needs to bind the VIP before it holds it (a
/// container cannot set it itself), and what systemd needs of the host (cgroups, a /run of
/// its own).
fn node_body(
    tag: &str,
    node: &str,
    net: &str,
    addr: Ipv4Addr,
    pubkey: &Path,
    labels: &HashMap<String, String>,
) -> ContainerCreateBody {
    let bind = |source: String, target: &str| Mount {
        target: Some(target.to_owned()),
        source: Some(source),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Default::default()
    };
    let host = HostConfig {
        cap_add: Some(vec!["ALL".into()]),
        cap_drop: Some(vec!["SYS_RESOURCE".into()]),
        cgroupns_mode: Some(bollard::models::HostConfigCgroupnsModeEnum::HOST),
        mounts: Some(vec![
            bind("/sys/fs/cgroup".into(), "/sys/fs/cgroup"),
            bind(pubkey.display().to_string(), "/root/.ssh/authorized_keys"),
        ]),
        tmpfs: Some(
            [
                ("/run".to_owned(), String::new()),
                ("/run/lock".to_owned(), String::new()),
            ]
            .into(),
        ),
        sysctls: Some([("net.ipv4.ip_nonlocal_bind".to_owned(), "1".to_owned())].into()),
        publish_all_ports: Some(false),
        ..Default::default()
    };
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(addr.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        hostname: Some(node.to_owned()),
        image: Some(tag.to_owned()),
        cmd: Some(vec!["/sbin/init".into()]),
        labels: Some(labels.clone()),
        host_config: Some(host),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some([(net.to_owned(), endpoint)].into()),
        }),
        ..Default::default()
    }
}

/// How long `down` looks for a recorded container that is not there: an `up` killed while
/// its create request was with dockerd leaves dockerd to finish it after the kill (CI saw one
/// appear after `down` had found it missing and removed the rest).
const CREATE_LATE_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// A recorded container, waiting up to [`CREATE_LATE_MAX`] for one not there yet; None if
/// it never appears.
async fn inspect_late(
    docker: &Docker,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, String> {
    let start = tokio::time::Instant::now();
    loop {
        match docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => return Ok(Some(c)),
            Err(e) if not_found(&e) => {
                if start.elapsed() >= CREATE_LATE_MAX {
                    return Ok(None);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
}

/// Removes one container or network of lab `lab`; one already gone is fine (a container
/// once [`CREATE_LATE_MAX`] has passed), and one that does not carry the lab's label is not
/// the lab's (a name another made first: `up` refuses to make it, and `down` leaves it).
pub async fn remove(docker: &Docker, lab: &str, r: &Resource) -> Result<(), String> {
    let ours = |labels: Option<HashMap<String, String>>| {
        labels.is_some_and(|l| l.get(LABEL).is_some_and(|v| v == lab))
    };
    match r {
        Resource::Container { name } => {
            let Some(found) = inspect_late(docker, name).await? else {
                return Ok(());
            };
            if !ours(found.config.and_then(|c| c.labels)) {
                return Ok(());
            }
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            match docker.remove_container(name, Some(options)).await {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(format!("{name}: {e}")),
            }
        }
        Resource::DockerNetwork { name } => {
            let labels = match docker
                .inspect_network(name, None::<InspectNetworkOptions>)
                .await
            {
                Ok(n) => n.labels,
                Err(e) if not_found(&e) => return Ok(()),
                Err(e) => return Err(format!("{name}: {e}")),
            };
            if !ours(labels) {
                return Ok(());
            }
            match docker.remove_network(name).await {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(format!("{name}: {e}")),
            }
        }
        _ => Ok(()),
    }
}

/// Refuses names that something not of this lab already has (a container or network of
/// another lab, or of anyone): `up` makes nothing then.
async fn names_free(docker: &Docker, state: &State) -> Result<(), String> {
    let net = Names::network(&state.name);
    match docker
        .inspect_network(&net, None::<InspectNetworkOptions>)
        .await
    {
        Ok(_) => return Err(format!("a Docker network named {net} exists already")),
        Err(e) if not_found(&e) => {}
        Err(e) => return Err(format!("{net}: {e}")),
    }
    for node in &state.nodes {
        let name = Names::container(&state.name, node);
        match docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
        {
            Ok(_) => return Err(format!("a container named {name} exists already")),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    Ok(())
}

/// A node container's state as `status` shows it: running, paused, exited, missing.
pub async fn node_state(docker: &Docker, lab: &str, node: &str) -> &'static str {
    let name = Names::container(lab, node);
    match docker
        .inspect_container(&name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => match c.state.and_then(|s| s.status) {
            Some(bollard::models::ContainerStateStatusEnum::RUNNING) => "running",
            Some(bollard::models::ContainerStateStatusEnum::PAUSED) => "paused",
            Some(bollard::models::ContainerStateStatusEnum::EXITED) => "stopped",
            _ => "other",
        },
        Err(_) => "missing",
    }
}

/// SIGKILL to a node's container (power-off: every process of the node at once).
pub async fn kill(docker: &Docker, name: &str) -> Result<(), String> {
    let options = KillContainerOptions {
        signal: "SIGKILL".into(),
    };
    match docker.kill_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        // Not running (409): already off.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(format!("{name}: kill: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_10_78_and_skip_used_ones() {
        let first = choose_subnet("ci", 78, &[]).unwrap();
        assert_eq!(&first[..2], &[10, 78]);
        let next = choose_subnet("ci", 78, &[first]).unwrap();
        assert_ne!(first, next);
        assert_eq!(octets("10.78.5.0/24"), Some([10, 78, 5]));
        assert_eq!(octets("default"), None);
    }

    #[test]
    fn too_many_nodes_or_a_bad_name_is_refused_first() {
        let bad = |name: &str, nodes| {
            check(&UpOptions {
                name: name.into(),
                nodes,
            })
            .unwrap_err()
        };
        assert!(bad("ok", 10).contains("1 to 9 nodes"));
        assert!(bad("ok", 0).contains("1 to 9 nodes"));
        assert!(bad("No", 3).contains("a lab name is"));
    }
}
