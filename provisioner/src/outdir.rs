//! An output folder (`--out DIR`) written safely: nothing outside it, nothing stale left in it.
//!
//! Every file goes to a temporary name beside its target and is renamed over it, so a reader
//! sees the old file or the new one, never half of one. No symlink inside the folder is
//! followed: a symlinked sub-folder is refused, and a symlink where a file goes is replaced,
//! not written through. The folder keeps a manifest (`.hadrill-files`) of what hadrill wrote
//! there; a run removes the files of an earlier run that it does not write again (only those
//! the manifest names, never anything else), and refuses a non-empty folder without a
//! manifest. While a run is writing, and after one that failed or was interrupted, the marker
//! `INCOMPLETE` says so; a run that finishes removes it.
//!
//! **Boundary:** only paths relative to the folder, without `..`, are written.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

/// The manifest: one JSON string per line, each a path relative to the folder.
pub const MANIFEST: &str = ".hadrill-files";
/// The marker of a run that has not finished (or failed): its text says why.
pub const INCOMPLETE: &str = "INCOMPLETE";
/// Longest manifest read; a folder's manifest is a list of file names.
const MANIFEST_LEN_MAX: usize = 16 << 20;

/// Why the folder could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system call failed.
    #[error("{}: {what}: {source}", crate::text::printable(&path.to_string_lossy()))]
    Io {
        /// Where.
        path: PathBuf,
        /// What hadrill was doing.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A symlink inside the folder, where hadrill would have to follow it.
    #[error("{}: a symlink inside the output folder; hadrill does not follow it (remove it or choose another --out)", crate::text::printable(&path.to_string_lossy()))]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The folder has files and no manifest: they are not hadrill's to replace or remove.
    #[error("{}: not empty and not a hadrill output folder (no {MANIFEST}); choose an empty or new --out", crate::text::printable(&path.to_string_lossy()))]
    NotOurs {
        /// The folder.
        path: PathBuf,
    },
    /// Something in the way is not a folder.
    #[error("{}: not a folder", crate::text::printable(&path.to_string_lossy()))]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
    /// A name hadrill asked for that would leave the folder (a bug).
    #[error("{}: not a plain relative path", crate::text::printable(&path.to_string_lossy()))]
    BadName {
        /// The name.
        path: PathBuf,
    },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// An output folder open for one run.
#[derive(Debug)]
pub struct OutDir {
    root: PathBuf,
    /// What the manifest named when the run began (files of earlier runs).
    previous: BTreeSet<PathBuf>,
    /// What this run wrote.
    written: BTreeSet<PathBuf>,
}

impl OutDir {
    /// Opens (or makes) the folder for a run: it must be empty, new, or one hadrill wrote.
    /// The marker [`INCOMPLETE`] is written first, so a run killed from here on is visible.
    pub fn open(root: &Path) -> Result<OutDir, Error> {
        match std::fs::metadata(root) {
            Ok(m) if !m.is_dir() => {
                return Err(Error::NotAFolder {
                    path: root.to_owned(),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root).map_err(io(root, "cannot create"))?;
            }
            Err(e) => return Err(io(root, "cannot read")(e)),
        }
        let previous = read_manifest(root)?;
        let manifest = root.join(MANIFEST);
        if previous.is_empty() && !manifest.exists() {
            // First, so that a run killed after the marker still leaves a folder of hadrill's.
            std::fs::write(&manifest, "").map_err(io(&manifest, "cannot write"))?;
        }
        let dir = OutDir {
            root: root.to_owned(),
            previous,
            written: BTreeSet::new(),
        };
        dir.put(
            Path::new(INCOMPLETE),
            b"a hadrill run is writing this folder, or one stopped before it finished: the files here may be partial or from an earlier run\n",
        )?;
        Ok(dir)
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `name` (relative to the folder) atomically, making its sub-folders.
    pub fn write(&mut self, name: impl AsRef<Path>, bytes: &[u8]) -> Result<(), Error> {
        let name = name.as_ref();
        if name == Path::new(MANIFEST) || name == Path::new(INCOMPLETE) {
            return Err(Error::BadName {
                path: name.to_owned(),
            });
        }
        self.note(name)?;
        self.put(name, bytes)?;
        self.written.insert(name.to_owned());
        Ok(())
    }

    /// The run is over: files of earlier runs that this one did not write are removed, the
    /// manifest lists what this run wrote, and the marker goes, unless `incomplete` says why
    /// the files here are not a whole run's (then the marker stays, with that reason).
    pub fn finish(mut self, incomplete: Option<&str>) -> Result<(), Error> {
        let stale: Vec<PathBuf> = self.previous.difference(&self.written).cloned().collect();
        for name in &stale {
            self.remove_stale(name)?;
        }
        let text: String = self
            .written
            .iter()
            .map(|p| manifest_line(p))
            .collect::<Vec<_>>()
            .concat();
        self.put(Path::new(MANIFEST), text.as_bytes())?;
        match incomplete {
            Some(why) => {
                let text = format!("this run did not finish: {}\n", crate::text::one_line(why));
                self.put(Path::new(INCOMPLETE), text.as_bytes())
            }
            None => {
                let marker = self.root.join(INCOMPLETE);
                std::fs::remove_file(&marker).map_err(io(&marker, "cannot remove"))?;
                self.previous.clear();
                Ok(())
            }
        }
    }

    /// Adds `name` to the manifest before the file exists, so a run killed while writing it
    /// still lets the next run remove it.
    fn note(&mut self, name: &Path) -> Result<(), Error> {
        check_name(name)?;
        if self.previous.contains(name) || self.written.contains(name) {
            return Ok(());
        }
        let path = self.root.join(MANIFEST);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Symlink { path });
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path, "cannot write"))?;
        f.write_all(manifest_line(name).as_bytes())
            .map_err(io(&path, "cannot write"))?;
        self.previous.insert(name.to_owned());
        Ok(())
    }

    /// Writes a file through a temporary name, never through a symlink.
    fn put(&self, name: &Path, bytes: &[u8]) -> Result<(), Error> {
        let target = self.root.join(name);
        let parent = self.folders_of(name)?;
        let file_name = target.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".{file_name}.hadrill-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp, "cannot create"))?;
        let written = f.write_all(bytes).and_then(|()| f.flush());
        drop(f);
        written
            .and_then(|()| std::fs::rename(&tmp, &target))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io(&target, "cannot write")(e)
            })
    }

    /// Makes the sub-folders of `name` inside the root, refusing any that is a symlink;
    /// returns the innermost.
    fn folders_of(&self, name: &Path) -> Result<PathBuf, Error> {
        let mut dir = self.root.clone();
        let Some(parent) = name.parent() else {
            return Ok(dir);
        };
        for part in parent.components() {
            dir.push(part);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => return Err(Error::Symlink { path: dir }),
                Ok(m) if !m.is_dir() => return Err(Error::NotAFolder { path: dir }),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(&dir).map_err(io(&dir, "cannot create"))?;
                }
                Err(e) => return Err(io(&dir, "cannot read")(e)),
            }
        }
        Ok(dir)
    }

    /// Removes a file an earlier run wrote, then the sub-folders it leaves empty.
    fn remove_stale(&self, name: &Path) -> Result<(), Error> {
        if check_name(name).is_err() || self.folders_under_root_are_plain(name).is_err() {
            return Ok(()); // a manifest line hadrill would not write: leave it alone
        }
        let path = self.root.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, "cannot remove")(e)),
        }
        let mut dir = name.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            // Fails, harmlessly, while the folder still holds something.
            if std::fs::remove_dir(self.root.join(d)).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// Whether every sub-folder on the way to `name` is a real folder (not a symlink).
    fn folders_under_root_are_plain(&self, name: &Path) -> Result<(), Error> {
        let mut dir = self.root.clone();
        for part in name.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Symlink { path: dir });
            }
        }
        Ok(())
    }
}

fn manifest_line(name: &Path) -> String {
    let text = serde_json::to_string(&name.to_string_lossy()).expect("a string serializes");
    text + "\n"
}

/// A relative path of plain components.
fn check_name(name: &Path) -> Result<(), Error> {
    let plain = name.components().all(|c| matches!(c, Component::Normal(_)));
    if plain && name.components().next().is_some() {
        Ok(())
    } else {
        Err(Error::BadName {
            path: name.to_owned(),
        })
    }
}

/// The files an earlier run wrote; none for a new or empty folder. A non-empty folder without
/// a manifest is not hadrill's.
fn read_manifest(root: &Path) -> Result<BTreeSet<PathBuf>, Error> {
    let path = root.join(MANIFEST);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => return Err(Error::Symlink { path }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut entries = std::fs::read_dir(root).map_err(io(root, "cannot read"))?;
            if entries.next().is_some() {
                return Err(Error::NotOurs {
                    path: root.to_owned(),
                });
            }
            return Ok(BTreeSet::new());
        }
        Err(e) => return Err(io(&path, "cannot read")(e)),
    }
    let text = crate::text::read_capped(&path, MANIFEST_LEN_MAX).map_err(|e| Error::Io {
        path: path.clone(),
        what: "cannot read",
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<String>(l).ok())
        .map(PathBuf::from)
        .filter(|p| check_name(p).is_ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hadrill-outdir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() && !p.is_symlink() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    fn run(root: &Path, names: &[&str]) {
        let mut o = OutDir::open(root).unwrap();
        for n in names {
            o.write(n, n.as_bytes()).unwrap();
        }
        o.finish(None).unwrap();
    }

    #[test]
    fn a_second_run_removes_what_it_does_not_write_again() {
        let root = scratch("stale");
        run(
            &root,
            &["plan.txt", "hosts/a/etc/x", "hosts/b/etc/x", "hosts/c/y"],
        );
        run(&root, &["plan.txt", "hosts/a/etc/x"]);
        assert_eq!(
            files(&root),
            [".hadrill-files", "hosts/a/etc/x", "plan.txt"]
        );
        assert!(!root.join("hosts/b").exists(), "emptied folders go too");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_folder_of_someone_elses_is_refused() {
        let root = scratch("theirs");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("notes.txt"), "mine").unwrap();
        let e = OutDir::open(&root).unwrap_err();
        assert!(e.to_string().contains("not a hadrill output folder"), "{e}");
        assert_eq!(
            files(&root),
            ["notes.txt"],
            "nothing written, nothing removed"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn symlinks_inside_are_not_followed() {
        let root = scratch("links");
        let outside = scratch("links-outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), "keep").unwrap();
        run(&root, &["report.json"]);
        // A link where a file goes is replaced, not written through.
        std::fs::remove_file(root.join("report.json")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), root.join("report.json")).unwrap();
        run(&root, &["report.json"]);
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "keep"
        );
        assert!(!root.join("report.json").is_symlink());
        // A linked sub-folder is refused.
        std::os::unix::fs::symlink(&outside, root.join("hosts")).unwrap();
        let mut o = OutDir::open(&root).unwrap();
        let e = o.write("hosts/victim", b"x").unwrap_err();
        assert!(matches!(e, Error::Symlink { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "keep"
        );
        for r in [&root, &outside] {
            std::fs::remove_dir_all(r).unwrap();
        }
    }

    #[test]
    fn an_unfinished_run_leaves_its_marker_and_the_next_cleans_up() {
        let root = scratch("killed");
        run(&root, &["a", "b"]);
        let mut o = OutDir::open(&root).unwrap();
        o.write("c", b"c").unwrap();
        drop(o); // killed before finish
        let fresh = scratch("killed-at-once");
        drop(OutDir::open(&fresh).unwrap());
        run(&fresh, &["a"]);
        std::fs::remove_dir_all(fresh).unwrap();
        assert!(root.join(INCOMPLETE).exists());
        run(&root, &["a"]);
        assert_eq!(
            files(&root),
            [".hadrill-files", "a"],
            "b and c were earlier runs'"
        );
        let o = OutDir::open(&root).unwrap();
        o.finish(Some("interrupted")).unwrap();
        let why = std::fs::read_to_string(root.join(INCOMPLETE)).unwrap();
        assert!(why.contains("interrupted"), "{why}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        let root = scratch("names");
        let mut o = OutDir::open(&root).unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", MANIFEST, INCOMPLETE] {
            assert!(o.write(bad, b"x").is_err(), "{bad}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
