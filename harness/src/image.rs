//! Node images, built from Debian's packages with debootstrap and cached by the hash of their
//! recipe (`vm-templates/image/`): a root tree, a qcow2 root disk with the kernel and initrd
//! beside it (the VM lab boots them directly), and on demand a Docker image of the same tree
//! (the container hosts of the provisioner's tests).
//!
//! **Invariant:** an image directory is complete or absent: everything is built in a
//! `.partial` directory that is renamed when done, so an interrupted build leaves no image
//! that looks finished (the partial directory is removed by the next build).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The recipe as data, embedded so that the binary alone can build its image.
const RECIPE: &str = include_str!("../../vm-templates/image/recipe.yaml");

/// Files written into the image: (path in the image, mode, content).
const FILES: [(&str, u32, &str); 5] = [
    (
        "/etc/systemd/system/hadrill-seed.service",
        0o644,
        include_str!("../../vm-templates/image/files/etc/systemd/system/hadrill-seed.service"),
    ),
    (
        "/etc/systemd/system/hadrill-hostkeys.service",
        0o644,
        include_str!("../../vm-templates/image/files/etc/systemd/system/hadrill-hostkeys.service"),
    ),
    (
        "/usr/local/sbin/hadrill-seed",
        0o755,
        include_str!("../../vm-templates/image/files/usr/local/sbin/hadrill-seed"),
    ),
    (
        "/etc/ssh/sshd_config.d/hadrill.conf",
        0o644,
        include_str!("../../vm-templates/image/files/etc/ssh/sshd_config.d/hadrill.conf"),
    ),
    (
        "/etc/network/interfaces",
        0o644,
        include_str!("../../vm-templates/image/files/etc/network/interfaces"),
    ),
];

/// Bumped when the build procedure (not the recipe) changes, so old caches are not reused.
const BUILDER_VERSION: &str = "hadrill-image-1";

/// Size of the root disk (sparse: only what the tree uses is written).
pub const ROOT_DISK_SIZE: &str = "8G";

/// The recipe file's fields.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Debian suite.
    pub suite: String,
    /// Package mirror.
    pub mirror: String,
    /// debootstrap variant.
    pub variant: String,
    /// Packages to install.
    pub packages: Vec<String>,
    /// Units disabled in the image (provisioning enables them).
    pub disable: Vec<String>,
    /// Units enabled in the image.
    pub enable: Vec<String>,
}

impl Recipe {
    /// The embedded recipe.
    pub fn embedded() -> Recipe {
        provisioner::yaml::from_str(RECIPE).expect("the embedded recipe parses (tested)")
    }

    /// The cache key: sha256 of the builder version, the recipe and every file, 16 hex digits.
    pub fn hash(&self) -> String {
        let mut text = format!("{BUILDER_VERSION}\n{RECIPE}\n");
        for (path, mode, content) in FILES {
            text.push_str(&format!("{path} {mode:o}\n{content}\n"));
        }
        provisioner::plan::sha256_hex(text.as_bytes())[..16].to_owned()
    }
}

/// A built image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Its cache directory.
    pub dir: PathBuf,
    /// Recipe hash.
    pub hash: String,
}

impl Image {
    /// The root tree (for docker import).
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The root disk, qcow2, an ext4 file system without partitions (`root=/dev/vda`).
    pub fn root_disk(&self) -> PathBuf {
        self.dir.join("root.qcow2")
    }
    /// The kernel, for direct boot.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    /// The initrd, for direct boot.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.img")
    }
    /// The Docker image name of this tree.
    pub fn docker_tag(&self) -> String {
        format!("hadrill-node:{}", self.hash)
    }
}

/// Where images are cached: `$HADRILL_CACHE`, else `~/.cache/hadrill`, then `images/`.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("HADRILL_CACHE").map_or_else(
        || {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
                .join(".cache/hadrill")
        },
        PathBuf::from,
    );
    base.join("images")
}

/// The image of the embedded recipe, if it is built.
pub fn find(cache: &Path) -> Option<Image> {
    let hash = Recipe::embedded().hash();
    let dir = cache.join(&hash);
    dir.join("done").exists().then_some(Image { dir, hash })
}

/// An image step failed.
#[derive(Debug, thiserror::Error)]
#[error("image build: {what}: {message}")]
pub struct Error {
    what: String,
    message: String,
}

fn err(what: &str, message: impl std::fmt::Display) -> Error {
    Error {
        what: what.to_owned(),
        message: message.to_string(),
    }
}

/// Runs a command; a failure names it and carries its last lines of output.
fn run(what: &str, cmd: &mut Command) -> Result<(), Error> {
    let out = cmd
        .output()
        .map_err(|e| err(what, format!("cannot run {:?}: {e}", cmd.get_program())))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(if out.stderr.is_empty() {
        &out.stdout
    } else {
        &out.stderr
    })
    .into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    Err(err(what, format!("{} ({tail})", out.status)))
}

/// Builds the embedded recipe's image into `cache` unless it is there; `stage` hears what is
/// being done (for a progress display).
pub fn build(cache: &Path, stage: &dyn Fn(&str)) -> Result<Image, Error> {
    if let Some(img) = find(cache) {
        return Ok(img);
    }
    let recipe = Recipe::embedded();
    let hash = recipe.hash();
    let dir = cache.join(&hash);
    let partial = cache.join(format!("{hash}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| err("clean a partial build", e))?;
    }
    let rootfs = partial.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| err("create the cache", e))?;
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| err("create the package cache", e))?;
    stage("debootstrap (Debian packages, a few minutes)");
    run(
        "debootstrap",
        Command::new("debootstrap")
            .arg(format!("--variant={}", recipe.variant))
            .arg(format!("--cache-dir={}", debs.display()))
            .arg(format!("--include={}", recipe.packages.join(",")))
            .arg(&recipe.suite)
            .arg(&rootfs)
            .arg(&recipe.mirror),
    )?;
    stage("write guest files");
    customize(&recipe, &rootfs)?;
    stage("root disk (mkfs.ext4 -d, qemu-img)");
    disks(&rootfs, &partial)?;
    std::fs::write(partial.join("done"), format!("{hash}\n")).map_err(|e| err("finish", e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| err("replace the old image", e))?;
    }
    std::fs::rename(&partial, &dir).map_err(|e| err("finish", e))?;
    Ok(Image { dir, hash })
}

/// Guest files, units, and no host keys (each node makes its own at first boot).
fn customize(recipe: &Recipe, rootfs: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    for (path, mode, content) in FILES {
        let target = rootfs.join(path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err(path, e))?;
        }
        std::fs::write(&target, content).map_err(|e| err(path, e))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
            .map_err(|e| err(path, e))?;
    }
    let systemctl = |verb: &str, units: &[String]| {
        let mut c = Command::new("chroot");
        c.arg(rootfs).args(["systemctl", verb]).args(units);
        c
    };
    run("disable units", &mut systemctl("disable", &recipe.disable))?;
    run("enable units", &mut systemctl("enable", &recipe.enable))?;
    for entry in std::fs::read_dir(rootfs.join("etc/ssh")).map_err(|e| err("host keys", e))? {
        let p = entry.map_err(|e| err("host keys", e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("ssh_host_") {
            std::fs::remove_file(&p).map_err(|e| err("host keys", e))?;
        }
    }
    std::fs::write(rootfs.join("etc/hostname"), "hadrill\n").map_err(|e| err("hostname", e))?;
    let apt = rootfs.join("var/cache/apt/archives");
    for entry in std::fs::read_dir(&apt).map_err(|e| err("apt cache", e))? {
        let p = entry.map_err(|e| err("apt cache", e))?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            std::fs::remove_file(&p).map_err(|e| err("apt cache", e))?;
        }
    }
    Ok(())
}

/// The qcow2 root disk and the kernel and initrd beside it.
fn disks(rootfs: &Path, out: &Path) -> Result<(), Error> {
    let boot = rootfs.join("boot");
    let mut found: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(&boot).map_err(|e| err("kernel", e))? {
        let p = entry.map_err(|e| err("kernel", e))?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        for prefix in ["vmlinuz-", "initrd.img-"] {
            if name.starts_with(prefix) {
                found.insert(
                    if prefix == "vmlinuz-" {
                        "vmlinuz"
                    } else {
                        "initrd.img"
                    },
                    p.clone(),
                );
            }
        }
    }
    for name in ["vmlinuz", "initrd.img"] {
        let src = found
            .get(name)
            .ok_or_else(|| err("kernel", format!("no {name}-* in {}", boot.display())))?;
        std::fs::copy(src, out.join(name)).map_err(|e| err(name, e))?;
    }
    let raw = out.join("root.raw");
    run(
        "mkfs.ext4",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "hadrill-root", "-d"])
            .arg(rootfs)
            .arg(&raw)
            .arg(ROOT_DISK_SIZE),
    )?;
    run(
        "qemu-img convert",
        Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&raw)
            .arg(out.join("root.qcow2")),
    )?;
    std::fs::remove_file(&raw).map_err(|e| err("root.raw", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_parses_and_hashes_stably() {
        let r = Recipe::embedded();
        assert!(r.packages.iter().any(|p| p == "ceph-osd"));
        assert!(r.enable.iter().any(|u| u == "hadrill-seed.service"));
        assert_eq!(r.hash(), Recipe::embedded().hash());
        assert_eq!(r.hash().len(), 16);
    }
}
