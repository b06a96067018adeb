//! The libvirt lab: three (or N) VMs with an extra disk each on an isolated network.
//!
//! `up` makes the lab: an isolated libvirt network (own bridge and subnet, no route out), an
//! nftables table for partitions, and per node a copy-on-write system disk over the cached
//! image, an OSD disk capped by the disk profile's `<iotune>`, a seed disk (host name,
//! addresses, the lab's SSH key) and a domain, KVM when a real guest boots under it, else TCG.
//! It waits for SSH and writes the lab's native inventory. `down` removes what `lab.json`
//! records, in reverse, and nothing else. The running lab's faults and probes are in `drive`.
//!
//! **Invariant:** every resource is recorded in `lab.json` before it is made (see `state`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use virt::connect::Connect;
use virt::sys;

use super::state::{check_name, choose_subnet, Claim, LabDir, Resource, State};
use crate::image::{self, Image};

pub mod drive;
pub mod kvm;
pub mod xml;

/// The default libvirt URI (`HADRILL_LIBVIRT_URI` overrides it).
pub fn default_uri() -> String {
    std::env::var("HADRILL_LIBVIRT_URI").unwrap_or_else(|_| "qemu:///system".to_owned())
}

/// Most nodes a lab may have (addresses .11–.19).
pub const NODES_MAX: u8 = 9;
/// Longest `up` waits for every node's SSH.
pub const SSH_WAIT_MAX: Duration = Duration::from_secs(300);
/// Size of each node's OSD disk.
pub const DATA_DISK_SIZE: &str = "10G";

/// What `hadrill up` was asked for.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Lab name.
    pub name: String,
    /// Number of nodes.
    pub nodes: u8,
    /// Disk profile of the OSD disks.
    pub disk_profile: String,
    /// Memory per node, MiB.
    pub memory: u32,
    /// vCPUs per node.
    pub vcpus: u32,
    /// A cloud image the user has (with cloud-init), instead of hadrill's own image.
    pub image: Option<PathBuf>,
    /// libvirt URI.
    pub uri: String,
}

/// Which image the nodes boot.
enum Boot {
    /// hadrill's image: kernel and initrd booted directly, a hadrill seed disk.
    Hadrill(Image),
    /// A cloud image that boots itself and reads a NoCloud seed.
    Cloud(PathBuf),
}

/// Checks what `up` was asked for before anything is made; one line per problem.
pub fn check(opts: &UpOptions) -> Result<(), String> {
    check_name(&opts.name)?;
    if !(1..=NODES_MAX).contains(&opts.nodes) {
        return Err(format!("--nodes {}: 1 to {NODES_MAX}", opts.nodes));
    }
    if crate::disk::profile(&opts.disk_profile).is_none() {
        return Err(format!(
            "--disk-profile {}: unknown (expected {})",
            provisioner::text::shown(&opts.disk_profile),
            crate::disk::names().join(", ")
        ));
    }
    if !(512..=MEMORY_MAX_MIB).contains(&opts.memory) {
        return Err(format!(
            "--memory {}: 512 to {MEMORY_MAX_MIB} MiB",
            opts.memory
        ));
    }
    if !(1..=64).contains(&opts.vcpus) {
        return Err(format!("--vcpus {}: 1 to 64", opts.vcpus));
    }
    if let Some(p) = &opts.image {
        if !p.is_file() {
            return Err(format!(
                "--image {}: no such file",
                provisioner::text::shown(&p.to_string_lossy())
            ));
        }
    }
    Ok(())
}

/// Most memory per node, MiB.
pub const MEMORY_MAX_MIB: u32 = 65_536;

/// A stable small hash of a lab name, for device names and addresses.
fn short_hash(name: &str) -> u32 {
    let h = provisioner::plan::sha256_hex(name.as_bytes());
    u32::from_str_radix(&h[..8], 16).expect("hex")
}

/// Names derived from the lab's name.
pub struct Names {
    /// libvirt network.
    pub network: String,
    /// Bridge device.
    pub bridge: String,
    /// nftables table (bridge family).
    pub nft_table: String,
}

impl Names {
    /// The names of lab `name`.
    pub fn of(name: &str) -> Names {
        let h = short_hash(name) & 0xff_ffff;
        Names {
            network: format!("hadrill-{name}"),
            bridge: format!("hd{h:06x}br"),
            nft_table: format!("hadrill_{}", name.replace('-', "_")),
        }
    }
    /// Domain of node `node`.
    pub fn domain(lab: &str, node: &str) -> String {
        format!("hadrill-{lab}-{node}")
    }
    /// Tap device of node index `i` (0-based).
    pub fn tap(lab: &str, i: usize) -> String {
        format!("hd{:06x}n{}", short_hash(lab) & 0xff_ffff, i + 1)
    }
    /// MAC of node index `i` (0-based).
    pub fn mac(lab: &str, i: usize) -> String {
        let h = short_hash(lab);
        format!(
            "52:54:00:{:02x}:{:02x}:{:02x}",
            (h >> 16) & 0xff,
            (h >> 8) & 0xff,
            0x10 + i
        )
    }
}

/// Subnets (third octet of 10.77.X.0/24) in use on this host: routes and libvirt networks.
fn used_subnets(conn: &Connect) -> Vec<[u8; 3]> {
    let mut used = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        for line in text.lines().skip(1) {
            let dest = line.split_whitespace().nth(1).unwrap_or("");
            if let Ok(v) = u32::from_str_radix(dest, 16) {
                let b = v.to_le_bytes();
                used.push([b[0], b[1], b[2]]);
            }
        }
    }
    for net in conn.list_all_networks(0).unwrap_or_default() {
        let x = net.xml_desc(0).unwrap_or_default();
        if let Some(a) = x
            .split("<ip address='")
            .nth(1)
            .and_then(|r| r.split('\'').next())
        {
            if let Ok(ip) = a.parse::<Ipv4Addr>() {
                let o = ip.octets();
                used.push([o[0], o[1], o[2]]);
            }
        }
    }
    used
}

/// Runs a command; an error names it with its last output.
pub fn run(what: &str, cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    Err(format!(
        "{what}: {} ({})",
        out.status,
        tail[tail.len().saturating_sub(2)..].join(" | ")
    ))
}

/// Opens libvirt, without its default handler printing every error on stderr.
pub fn connect(uri: &str) -> Result<Connect, String> {
    virt::error::clear_error_callback();
    Connect::open(Some(uri))
        .map_err(|e| format!("libvirt at {uri}: {} (is libvirtd running?)", e.message()))
}

fn uid_gid() -> (u32, u32) {
    let meta = std::fs::metadata("/proc/self").ok();
    use std::os::unix::fs::MetadataExt;
    meta.map_or((0, 0), |m| (m.uid(), m.gid()))
}

/// The addresses of a lab: host .1, nodes .11.., VIP .100.
pub use crate::lab::state::node_address;

/// Makes a lab. On a failure after something was made, removes what was made.
/// The lab's claim comes back with its state: the caller holds it until the nodes answer on
/// SSH, so a `kill -9` while it waits still shows in `status` as an `up` that did not finish.
pub fn up(opts: &UpOptions, home: &Path, say: &dyn Fn(&str)) -> Result<(State, Claim), String> {
    check(opts)?;
    let lab = LabDir::new(home, &opts.name);
    lab.must_be_new()?;
    let boot = match &opts.image {
        Some(p) => Boot::Cloud(
            std::fs::canonicalize(p).map_err(|e| format!("--image {}: {e}", p.display()))?,
        ),
        None => {
            say("image");
            Boot::Hadrill(image::build(&image::cache_dir(), say).map_err(|e| e.to_string())?)
        }
    };
    let conn = connect(&opts.uri)?;
    let accel = kvm::detect(&conn, &boot_kernel(&boot), home, say);
    say(&format!("accelerator: {} ({})", accel.kind, accel.why));
    let subnet = choose_subnet(&opts.name, 77, &used_subnets(&conn))?;
    std::fs::create_dir_all(&lab.dir).map_err(|e| format!("{}: {e}", lab.dir.display()))?;
    let mut state = State {
        name: opts.name.clone(),
        substrate: "libvirt".into(),
        uri: opts.uri.clone(),
        accel: accel.kind.clone(),
        profile: None,
        disk_profile: opts.disk_profile.clone(),
        subnet,
        nodes: (1..=opts.nodes).map(|i| format!("node-{i}")).collect(),
        resources: Vec::new(),
    };
    lab.save(&state)?;
    let claim = lab.claim("hadrill up")?;
    let made = make(opts, &lab, &mut state, &conn, &boot, say);
    if let Err(e) = made {
        say("up failed: removing what was made");
        let _ = crate::lab::down(home, &opts.name, say);
        return Err(e);
    }
    Ok((state, claim))
}

fn boot_kernel(boot: &Boot) -> Option<PathBuf> {
    match boot {
        Boot::Hadrill(img) => Some(img.kernel()),
        Boot::Cloud(_) => std::fs::read_dir("/boot").ok().and_then(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("vmlinuz-"))
            })
        }),
    }
}

/// Everything `up` makes, each recorded first.
fn make(
    opts: &UpOptions,
    lab: &LabDir,
    state: &mut State,
    conn: &Connect,
    boot: &Boot,
    say: &dyn Fn(&str),
) -> Result<(), String> {
    let names = Names::of(&opts.name);
    let key = lab.key();
    lab.record(state, Resource::File { path: key.clone() })?;
    lab.record(
        state,
        Resource::File {
            path: key.with_extension("pub"),
        },
    )?;
    let pubkey = provisioner::exec::ssh::generate_key(&key, &format!("hadrill-{}", opts.name))?;
    say("network");
    make_nft(lab, state, &names.nft_table)?;
    make_network(lab, state, conn, &names, state.subnet)?;
    for i in 0..usize::from(opts.nodes) {
        say(&format!("node-{}: disks and domain", i + 1));
        make_node(opts, lab, state, conn, boot, i, &pubkey)?;
    }
    crate::lab::state::write_inventory(lab, state, "hadrill up", "/dev/vdb")?;
    Ok(())
}

/// The forward chain's one-way rules (between nodes).
const IP_CUT_FORWARD: &str =
    "iifname @cut_out ether type { ip, ip6 } drop; oifname @cut_in ether type { ip, ip6 } drop;";

fn make_nft(lab: &LabDir, state: &mut State, table: &str) -> Result<(), String> {
    lab.record(
        state,
        Resource::NftTable {
            family: "bridge".into(),
            name: table.to_owned(),
        },
    )?;
    // Partitions: a node whose tap is in @isolated keeps its carrier but no frame reaches or
    // leaves it, between nodes (forward) or with the host (input, output). One-way cuts, as
    // a host firewall makes them: IP (v4 and v6) to a tap in @cut_in, or from one in
    // @cut_out, is dropped; ARP still flows.
    let rules = format!(
        "table bridge {table} {{\n  set isolated {{ type ifname; }}\n  set cut_in {{ type ifname; }}\n  set cut_out {{ type ifname; }}\n\
         \x20 chain between {{ type filter hook forward priority 0; policy accept; iifname @isolated drop; oifname @isolated drop; {IP_CUT_FORWARD} }}\n\
         \x20 chain from_node {{ type filter hook input priority 0; policy accept; iifname @isolated drop; iifname @cut_out ether type {{ ip, ip6 }} drop; }}\n\
         \x20 chain to_node {{ type filter hook output priority 0; policy accept; oifname @isolated drop; oifname @cut_in ether type {{ ip, ip6 }} drop; }}\n}}\n"
    );
    let path = lab.dir.join("partition.nft");
    std::fs::write(&path, rules).map_err(|e| format!("{}: {e}", path.display()))?;
    run("nft", Command::new("nft").arg("-f").arg(&path)).map(|_| ())
}

fn make_network(
    lab: &LabDir,
    state: &mut State,
    conn: &Connect,
    names: &Names,
    subnet: [u8; 3],
) -> Result<(), String> {
    lab.record(
        state,
        Resource::Network {
            name: names.network.clone(),
        },
    )?;
    if Path::new("/run/libvirt").exists() {
        // libvirt writes a .macs file here for every network, dnsmasq or not; a fresh host may
        // not have the folder (it is libvirt's, not the lab's: not recorded, not removed).
        let _ = std::fs::create_dir_all("/var/lib/libvirt/dnsmasq");
    }
    let net = xml::Net {
        name: names.network.clone(),
        bridge: names.bridge.clone(),
        mac: Names::mac(&state.name, 0xef - 0x10),
        host_address: Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 1).to_string(),
        prefix: 24,
    };
    let n = conn
        .define_network_xml(&xml::network(&net))
        .map_err(|e| format!("network {}: {}", names.network, e.message()))?;
    n.create()
        .map_err(|e| format!("network {}: {}", names.network, e.message()))
}

/// The node's domain description (also rebuilt by `drive` to detach and attach its disk).
pub fn dom_of(
    state: &State,
    lab: &LabDir,
    i: usize,
    boot_kernel: Option<(String, String)>,
) -> xml::Dom {
    let node = &state.nodes[i];
    let profile = crate::disk::profile(&state.disk_profile).expect("a lab's profile exists");
    let (uid, gid) = uid_gid();
    let (kernel, initrd, cmdline) = match boot_kernel {
        Some((k, i)) => (
            Some(k),
            Some(i),
            Some("root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet".to_owned()),
        ),
        None => (None, None, None),
    };
    xml::Dom {
        name: Names::domain(&state.name, node),
        accel: state.accel.clone(),
        memory: 0,
        vcpus: 0,
        kernel,
        initrd,
        cmdline,
        system_disk: lab.dir.join(format!("{node}.qcow2")).display().to_string(),
        data: xml::DataDisk {
            path: lab
                .dir
                .join(format!("{node}-osd.qcow2"))
                .display()
                .to_string(),
            iops: profile.iops,
            bytes: profile.bytes_per_sec,
        },
        seed_disk: lab
            .dir
            .join(format!("{node}-seed.img"))
            .display()
            .to_string(),
        network: Names::of(&state.name).network,
        mac: Names::mac(&state.name, i),
        tap: Names::tap(&state.name, i),
        console: lab
            .dir
            .join(format!("{node}.console"))
            .display()
            .to_string(),
        uid,
        gid,
    }
}

#[allow(clippy::too_many_arguments)] // one node's making, in order
fn make_node(
    opts: &UpOptions,
    lab: &LabDir,
    state: &mut State,
    conn: &Connect,
    boot: &Boot,
    i: usize,
    pubkey: &str,
) -> Result<(), String> {
    let kernel = match boot {
        Boot::Hadrill(img) => Some((
            img.kernel().display().to_string(),
            img.initrd().display().to_string(),
        )),
        Boot::Cloud(_) => None,
    };
    let mut dom = dom_of(state, lab, i, kernel);
    dom.memory = opts.memory;
    dom.vcpus = opts.vcpus;
    let node = state.nodes[i].clone();
    let addr = node_address(state.subnet, i);
    lab.record(
        state,
        Resource::File {
            path: dom.seed_disk.clone().into(),
        },
    )?;
    match boot {
        Boot::Hadrill(_) => {
            seed_hadrill(lab, state, &node, addr, pubkey, Path::new(&dom.seed_disk))?
        }
        Boot::Cloud(_) => seed_cloud(lab, &node, addr, pubkey, Path::new(&dom.seed_disk))?,
    }
    make_disks(lab, state, boot, &dom)?;
    lab.record(
        state,
        Resource::File {
            path: dom.console.clone().into(),
        },
    )?;
    lab.record(
        state,
        Resource::Domain {
            name: dom.name.clone(),
        },
    )?;
    let d = conn
        .define_domain_xml_flags(&xml::domain(&dom), sys::VIR_DOMAIN_DEFINE_VALIDATE)
        .map_err(|e| format!("domain {}: {}", dom.name, e.message()))?;
    d.create()
        .map_err(|e| format!("domain {}: {}", dom.name, e.message()))
}

/// A node's copy-on-write system disk over the image, and its empty OSD disk.
fn make_disks(lab: &LabDir, state: &mut State, boot: &Boot, dom: &xml::Dom) -> Result<(), String> {
    let (base, size) = match boot {
        Boot::Hadrill(img) => (img.root_disk(), image::ROOT_DISK_SIZE),
        Boot::Cloud(p) => (p.clone(), "20G"),
    };
    lab.record(
        state,
        Resource::File {
            path: dom.system_disk.clone().into(),
        },
    )?;
    run(
        "qemu-img create (system disk)",
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(&dom.system_disk)
            .arg(size),
    )?;
    lab.record(
        state,
        Resource::File {
            path: dom.data.path.clone().into(),
        },
    )?;
    run(
        "qemu-img create (osd disk)",
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&dom.data.path)
            .arg(DATA_DISK_SIZE),
    )
    .map(|_| ())
}

/// /etc files every node gets: host name, hosts, interface, root's key.
fn seed_files(
    state: &State,
    node: &str,
    addr: Ipv4Addr,
    pubkey: &str,
) -> BTreeMap<&'static str, String> {
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for (i, n) in state.nodes.iter().enumerate() {
        hosts += &format!("{} {n}\n", node_address(state.subnet, i));
    }
    BTreeMap::from([
        ("etc/hostname", format!("{node}\n")),
        ("etc/hosts", hosts),
        (
            "etc/network/interfaces.d/eth0",
            format!("auto eth0\niface eth0 inet static\n    address {addr}/24\n"),
        ),
        ("root/.ssh/authorized_keys", format!("{pubkey}\n")),
    ])
}

/// A hadrill seed: an ext4 image labelled hadrill-seed whose `root/` tree is copied into `/`.
fn seed_hadrill(
    lab: &LabDir,
    state: &State,
    node: &str,
    addr: Ipv4Addr,
    pubkey: &str,
    out: &Path,
) -> Result<(), String> {
    let tree = lab.dir.join(format!("{node}-seed"));
    let _ = std::fs::remove_dir_all(&tree);
    for (path, content) in seed_files(state, node, addr, pubkey) {
        let p = tree.join("root").join(path);
        std::fs::create_dir_all(p.parent().expect("a parent"))
            .and_then(|()| std::fs::write(&p, content))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let result = run(
        "mkfs.ext4 (seed)",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "hadrill-seed", "-d"])
            .arg(&tree)
            .arg(out)
            .arg("4M"),
    );
    let _ = std::fs::remove_dir_all(&tree);
    result.map(|_| ())
}

/// A NoCloud seed for a cloud image: a vfat image labelled cidata with meta-data, user-data
/// (host name, root's key) and network-config (the static address).
fn seed_cloud(
    lab: &LabDir,
    node: &str,
    addr: Ipv4Addr,
    pubkey: &str,
    out: &Path,
) -> Result<(), String> {
    let tree = lab.dir.join(format!("{node}-cidata"));
    std::fs::create_dir_all(&tree).map_err(|e| format!("{}: {e}", tree.display()))?;
    let files = nocloud(node, addr, pubkey);
    for (name, content) in &files {
        std::fs::write(tree.join(name), content).map_err(|e| format!("{name}: {e}"))?;
    }
    let _ = std::fs::remove_file(out);
    let mut result = run(
        "mkfs.vfat (cidata)",
        Command::new("mkfs.vfat")
            .args(["-n", "CIDATA", "-C"])
            .arg(out)
            .arg("2048"),
    );
    for (name, _) in &files {
        if result.is_ok() {
            result = run(
                "mcopy (cidata)",
                Command::new("mcopy")
                    .arg("-i")
                    .arg(out)
                    .arg(tree.join(name))
                    .arg("::"),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tree);
    result.map(|_| ())
}

/// The NoCloud files of one node.
pub fn nocloud(node: &str, addr: Ipv4Addr, pubkey: &str) -> Vec<(&'static str, String)> {
    vec![
        ("meta-data", format!("instance-id: {node}\nlocal-hostname: {node}\n")),
        (
            "user-data",
            format!(
                "#cloud-config\nhostname: {node}\ndisable_root: false\nssh_pwauth: false\n\
                 users:\n  - name: root\n    ssh_authorized_keys:\n      - {pubkey}\n"
            ),
        ),
        (
            "network-config",
            format!(
                "version: 2\nethernets:\n  nic0:\n    match:\n      name: \"e*\"\n    addresses: [{addr}/24]\n"
            ),
        ),
    ]
}

/// Waits until every node answers a command over SSH (pinning its host key on first
/// contact); `bar` shows who is still booting.
pub async fn wait_ssh(
    model: &provisioner::model::ClusterModel,
    known_hosts: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    use provisioner::exec::{Transport, TransportError};
    let hosts = crate::provision::transports(model, known_hosts);
    let start = crate::wall::now();
    // One waiter per node, each trying again a second after a failed try: a node still
    // booting (whose tries hang until their timeout) does not delay noticing the others.
    let mut waiting = tokio::task::JoinSet::new();
    for (n, t) in &hosts {
        let (n, t) = (n.clone(), std::sync::Arc::clone(t));
        waiting.spawn(async move {
            loop {
                match t.run("true", b"", Duration::from_secs(10)).await {
                    Ok(out) if out.success() => return (n, Ok(())),
                    Err(e @ TransportError::HostKeyChanged { .. }) => {
                        return (n, Err(e.to_string()))
                    }
                    _ if start.elapsed() > SSH_WAIT_MAX => {
                        let why = format!("no SSH on {n} within {} s", SSH_WAIT_MAX.as_secs());
                        return (n, Err(why));
                    }
                    _ => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        });
    }
    let mut left: Vec<String> = hosts.keys().cloned().collect();
    let mut failed = None;
    while let Some(done) = waiting.join_next().await {
        let (n, r) = match done {
            Ok(x) => x,
            // Stopped because another node failed.
            Err(e) if e.is_cancelled() => continue,
            Err(e) => return Err(format!("waiting for SSH: {e}")),
        };
        left.retain(|x| *x != n);
        bar.set_message(format!("waiting for SSH on {}", left.join(", ")));
        if let Err(e) = r {
            failed.get_or_insert(e);
            waiting.abort_all();
        }
    }
    for t in hosts.values() {
        t.close().await;
    }
    failed.map_or(Ok(()), Err)
}

fn is(e: &virt::error::Error, n: virt::error::ErrorNumber) -> bool {
    e.code().is(n)
}

/// Removes one libvirt domain or network; one that is already gone is fine.
pub fn remove(conn: &Connect, r: &Resource) -> Result<(), String> {
    use virt::error::ErrorNumber as N;
    match r {
        Resource::Domain { name } => match conn.lookup_domain_by_name(name) {
            Ok(d) => {
                if d.is_active().unwrap_or(false) {
                    d.destroy()
                        .map_err(|e| format!("{name}: {}", e.message()))?;
                }
                let flags = sys::VIR_DOMAIN_UNDEFINE_NVRAM
                    | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                    | sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE;
                d.undefine_flags(flags)
                    .map_err(|e| format!("{name}: {}", e.message()))
            }
            Err(e) if is(&e, N::NoDomain) => Ok(()),
            Err(e) => Err(format!("{name}: {}", e.message())),
        },
        Resource::Network { name } => match conn.lookup_network_by_name(name) {
            Ok(n) => {
                if n.is_active().unwrap_or(false) {
                    n.destroy()
                        .map_err(|e| format!("{name}: {}", e.message()))?;
                }
                if n.is_persistent().unwrap_or(false) {
                    n.undefine()
                        .map_err(|e| format!("{name}: {}", e.message()))?;
                }
                Ok(())
            }
            Err(e) if is(&e, N::NoNetwork) => Ok(()),
            Err(e) => Err(format!("{name}: {}", e.message())),
        },
        // The others are not libvirt's (`lab::down` removes them).
        _ => Ok(()),
    }
}

/// Each node's state (running, paused, shut off, missing), as `hadrill status` shows it.
pub fn node_states(state: &State) -> Result<Vec<&'static str>, String> {
    let conn = connect(&state.uri)?;
    Ok(state
        .nodes
        .iter()
        .map(|n| {
            let dom = Names::domain(&state.name, n);
            match conn.lookup_domain_by_name(&dom) {
                Ok(d) => match d.state() {
                    Ok((s, _)) if s.is(virt::domain::DomainState::Running) => "running",
                    Ok((s, _)) if s.is(virt::domain::DomainState::Paused) => "paused",
                    Ok(_) if !d.is_active().unwrap_or(false) => "shut off",
                    _ => "other",
                },
                Err(_) => "missing",
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_interface_names() {
        let n = Names::of("a-rather-long-name1");
        assert!(n.bridge.len() <= 15 && Names::tap("a-rather-long-name1", 8).len() <= 15);
        assert_ne!(Names::mac("x", 0), Names::mac("x", 1));
        assert_ne!(Names::of("x").bridge, Names::of("y").bridge);
    }

    #[test]
    fn subnet_skips_used_ones() {
        let first = choose_subnet("ci", 77, &[]).unwrap();
        let next = choose_subnet("ci", 77, &[first]).unwrap();
        assert_ne!(first, next);
        assert_eq!(&first[..2], &[10, 77]);
    }

    #[test]
    fn nocloud_seed_has_the_key_and_address() {
        let f = nocloud("node-1", Ipv4Addr::new(10, 77, 5, 11), "ssh-ed25519 AAAA x");
        let all: String = f.iter().map(|(_, c)| c.as_str()).collect();
        assert!(all.contains("ssh-ed25519 AAAA x") && all.contains("10.77.5.11/24"));
        assert!(f[1].1.starts_with("#cloud-config\n"));
    }
}
