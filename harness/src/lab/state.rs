//! A lab's folder and its record of what it made.
//!
//! `$HADRILL_HOME/labs/NAME/` holds `lab.json` (the lab's settings and the list of every
//! resource it made: domains, networks, nftables tables, containers, files), the lab's SSH key and host-key
//! pins, its native inventory (what `--lab NAME` reads), disks, seeds and consoles.
//!
//! **Invariant:** a resource is recorded (and `lab.json` written) before it is created, so
//! `down` can remove everything a lab made even after a crash, and nothing it did not make.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Something a lab made, in the order it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// A libvirt network (persistent: destroyed and undefined by `down`).
    Network {
        /// Its name.
        name: String,
    },
    /// A libvirt domain (persistent: destroyed and undefined by `down`).
    Domain {
        /// Its name.
        name: String,
    },
    /// An nftables table (the lab's partitions).
    NftTable {
        /// Family (`bridge`).
        family: String,
        /// Name.
        name: String,
    },
    /// A Docker network (a container lab's).
    DockerNetwork {
        /// Its name.
        name: String,
    },
    /// A Docker container (a container lab's node).
    Container {
        /// Its name.
        name: String,
    },
    /// A file (disk, seed, key, console log).
    File {
        /// Absolute path.
        path: PathBuf,
    },
}

/// Everything a lab knows about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The lab's name.
    pub name: String,
    /// `libvirt` or `containers`.
    pub substrate: String,
    /// libvirt connection URI, or dockerd's socket.
    pub uri: String,
    /// `kvm` or `qemu` (TCG), or `container`.
    pub accel: String,
    /// The profile it was provisioned with, once it was.
    pub profile: Option<provisioner::model::Profile>,
    /// The OSD disks' profile.
    pub disk_profile: String,
    /// The lab network's first three octets (`10.77.42`).
    pub subnet: [u8; 3],
    /// Node names, in order.
    pub nodes: Vec<String>,
    /// What was made, in order.
    pub resources: Vec<Resource>,
}

/// A command working on a lab: its process and its words (`hadrill drill`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its process.
    pub pid: u32,
    /// What it is.
    pub command: String,
    /// When the process started (clock ticks after boot, `/proc/PID/stat`): a pid the kernel
    /// has since given to another process is not the owner.
    #[serde(default)]
    pub started: u64,
}

/// When process `pid` started, in clock ticks after boot (field 22 of `/proc/PID/stat`).
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command in parentheses (which may hold spaces): the state is field 3.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A lab claimed by this process ([`LabDir::claim`]); the claim ends when this drops.
#[derive(Debug)]
pub struct Claim(PathBuf);

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A 10.`second`.X.0/24 for lab `name`: from its name's hash, the next one not in `used`
/// (VM labs take 10.77.X, container labs 10.78.X: the two kinds never meet).
pub fn choose_subnet(name: &str, second: u8, used: &[[u8; 3]]) -> Result<[u8; 3], String> {
    let h = provisioner::plan::sha256_hex(name.as_bytes());
    let start = u32::from_str_radix(&h[..8], 16).expect("hex") % 200;
    (0..200)
        .map(|k| {
            [
                10,
                second,
                u8::try_from(20 + (start + k) % 200).expect("< 220"),
            ]
        })
        .find(|s| !used.contains(s))
        .ok_or_else(|| format!("no free 10.{second}.X.0/24 subnet for the lab"))
}

/// Lab names: short, safe in file, domain and interface names.
pub const NAME_LEN_MAX: usize = 20;

/// Checks a lab name: 1–20 of a-z, 0-9, `-`, not starting with `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= NAME_LEN_MAX
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "lab `{name}`: a lab name is 1 to {NAME_LEN_MAX} of a-z, 0-9 and -, not starting with -"
        ))
    }
}

/// A lab's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabDir {
    /// The lab's name.
    pub name: String,
    /// `$HADRILL_HOME/labs/NAME`.
    pub dir: PathBuf,
}

impl LabDir {
    /// The folder of lab `name` under `home`.
    pub fn new(home: &Path, name: &str) -> LabDir {
        LabDir {
            name: name.to_owned(),
            dir: home.join("labs").join(name),
        }
    }

    /// Every lab under `home`, by name.
    pub fn all(home: &Path) -> Vec<LabDir> {
        let Ok(entries) = std::fs::read_dir(home.join("labs")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        names.iter().map(|n| LabDir::new(home, n)).collect()
    }

    /// `lab.json`.
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("lab.json")
    }
    /// The native inventory that `--lab` reads.
    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory.yml")
    }
    /// The lab's SSH private key (its public half is `id_ed25519.pub`).
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    /// The lab's host-key pins.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    /// Faults in force during a drill (see `drill::Ledger`).
    pub fn faults(&self) -> PathBuf {
        self.dir.join("faults.json")
    }
    /// Who is working on the lab now (see [`LabDir::claim`]).
    pub fn owner_file(&self) -> PathBuf {
        self.dir.join("owner.json")
    }

    /// Says that `command` (this process) works on the lab until the guard drops: a command
    /// killed before that leaves the file, and `status` shows its owner gone.
    /// Refused while another live process holds the lab (two drills at once would undo each
    /// other's faults).
    pub fn claim(&self, command: &str) -> Result<Claim, String> {
        if let Some((o, true)) = self.owner() {
            if o.pid != std::process::id() {
                return Err(format!(
                    "lab `{}` is busy: `{}` (pid {}) works on it",
                    self.name, o.command, o.pid
                ));
            }
        }
        let pid = std::process::id();
        let owner = Owner {
            pid,
            command: command.to_owned(),
            started: started(pid).unwrap_or(0),
        };
        let path = self.owner_file();
        let text = serde_json::to_string(&owner).expect("an owner serializes");
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Claim(path))
    }

    /// The lab's owner, if a command claimed it and has not finished, and whether that
    /// process still runs.
    pub fn owner(&self) -> Option<(Owner, bool)> {
        let text = std::fs::read_to_string(self.owner_file()).ok()?;
        let owner: Owner = serde_json::from_str(&text).ok()?;
        let alive = started(owner.pid).is_some_and(|t| t == owner.started);
        Some((owner, alive))
    }

    /// Refuses to make a lab that exists already.
    pub fn must_be_new(&self) -> Result<(), String> {
        match self.load()? {
            Some(_) => Err(format!(
                "lab `{0}` exists (`hadrill down --lab {0}` removes it)",
                self.name
            )),
            None => Ok(()),
        }
    }

    /// Reads `lab.json`; None when the lab does not exist.
    pub fn load(&self) -> Result<Option<State>, String> {
        match std::fs::read_to_string(self.state_file()) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", self.state_file().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", self.state_file().display())),
        }
    }

    /// Writes `lab.json` atomically.
    pub fn save(&self, state: &State) -> Result<(), String> {
        let text = serde_json::to_string_pretty(state).expect("a lab state serializes");
        let tmp = self.dir.join("lab.json.new");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, self.state_file()))
            .map_err(|e| format!("{}: {e}", self.state_file().display()))
    }

    /// Records a resource before it is made.
    pub fn record(&self, state: &mut State, r: Resource) -> Result<(), String> {
        if !state.resources.contains(&r) {
            state.resources.push(r);
        }
        self.save(state)
    }
}

/// The addresses of a lab: host .1, nodes .11.., VIP .100.
pub fn node_address(subnet: [u8; 3], i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(
        subnet[0],
        subnet[1],
        subnet[2],
        11 + u8::try_from(i).expect("few nodes"),
    )
}

/// The lab's native inventory, read by `--lab NAME` (recorded first): `made_by` is the
/// command that made it, `device` each node's OSD device.
pub fn write_inventory(
    lab: &LabDir,
    state: &mut State,
    made_by: &str,
    device: &str,
) -> Result<(), String> {
    let s = state.subnet;
    let mut inv = format!(
        "# Made by `{made_by}` for lab {name}; read by --lab {name}.\n\
         cluster:\n  name: {name}\n  vip: {}.{}.{}.100\n  vip_interface: eth0\n\
         ssh:\n  user: root\n  key: {}\nnodes:\n",
        s[0],
        s[1],
        s[2],
        lab.key().display(),
        name = state.name,
    );
    for (i, n) in state.nodes.iter().enumerate() {
        inv += &format!(
            "  - name: {n}\n    address: {}\n    storage_devices: [{device}]\n",
            node_address(s, i)
        );
    }
    lab.record(
        state,
        Resource::File {
            path: lab.inventory(),
        },
    )?;
    std::fs::write(lab.inventory(), inv).map_err(|e| format!("{}: {e}", lab.inventory().display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("ci-1").is_ok());
        for bad in ["", "-x", "Lab", "a_b", "a/b", "..", "abcdefghijklmnopqrstu"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn state_round_trips_and_records_once() {
        let dir = std::env::temp_dir().join(format!("hadrill-state-{}", std::process::id()));
        let lab = LabDir::new(&dir, "t");
        std::fs::create_dir_all(&lab.dir).unwrap();
        let mut s = State {
            name: "t".into(),
            substrate: "libvirt".into(),
            uri: "test:///default".into(),
            accel: "qemu".into(),
            profile: None,
            disk_profile: "hdd-7200".into(),
            subnet: [10, 77, 9],
            nodes: vec!["node-1".into()],
            resources: Vec::new(),
        };
        let r = Resource::Network { name: "n".into() };
        lab.record(&mut s, r.clone()).unwrap();
        lab.record(&mut s, r).unwrap();
        assert_eq!(lab.load().unwrap(), Some(s.clone()));
        assert_eq!(s.resources.len(), 1);
        assert_eq!(LabDir::all(&dir), vec![lab]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn me_again() -> Owner {
        Owner {
            pid: std::process::id(),
            command: "hadrill drill".into(),
            started: started(std::process::id()).unwrap(),
        }
    }

    #[test]
    fn a_claim_names_its_owner_until_it_ends_and_a_dead_owner_is_told_apart() {
        let home = tempfile::tempdir().unwrap();
        let lab = LabDir::new(home.path(), "t");
        std::fs::create_dir_all(&lab.dir).unwrap();
        assert_eq!(lab.owner(), None);
        let claim = lab.claim("hadrill drill").unwrap();
        let me = Owner {
            pid: std::process::id(),
            command: "hadrill drill".into(),
            started: started(std::process::id()).unwrap(),
        };
        assert_eq!(lab.owner(), Some((me, true)));
        // Another live process's claim is refused (here: a sleeping child's, written by hand).
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let busy = Owner {
            pid: other.id(),
            command: "hadrill drill".into(),
            started: started(other.id()).unwrap(),
        };
        let mine = std::fs::read_to_string(lab.owner_file()).unwrap();
        std::fs::write(lab.owner_file(), serde_json::to_string(&busy).unwrap()).unwrap();
        let e = lab.claim("hadrill heal").unwrap_err();
        assert!(
            e.contains(&format!("is busy: `hadrill drill` (pid {})", other.id())),
            "{e}"
        );
        other.kill().unwrap();
        other.wait().unwrap();
        std::fs::write(lab.owner_file(), mine).unwrap();
        drop(claim);
        assert_eq!(lab.owner(), None, "the claim ended with its guard");
        // A process that has exited: its claim, left behind, names an owner that is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let left = Owner {
            pid,
            command: "hadrill up".into(),
            started: 1,
        };
        std::fs::write(lab.owner_file(), serde_json::to_string(&left).unwrap()).unwrap();
        assert_eq!(lab.owner(), Some((left, false)));
        // This process's pid with another start time: a pid reused, not the owner.
        let reused = Owner {
            started: started(std::process::id()).unwrap() + 1,
            ..me_again()
        };
        std::fs::write(lab.owner_file(), serde_json::to_string(&reused).unwrap()).unwrap();
        assert_eq!(lab.owner(), Some((reused, false)));
    }
}
