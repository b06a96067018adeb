//! The `group_vars/` and `host_vars/` folders beside an Ansible inventory, read as Ansible's
//! `host_group_vars` plugin reads them: for a group or host NAME, the file `NAME`, `NAME.yml`,
//! `NAME.yaml` or `NAME.json`, or every such file in the folder `NAME/` (in name order), each a
//! mapping of variables. Their values win over the inventory file's for that group or host.
//!
//! **Boundary:** the only IO of the Ansible form; [`super::parse_with`] takes what it read, so
//! parsing stays a pure function of its inputs.

use std::path::Path;

use super::ansible::{Tree, Vars};
use super::{yaml, Error};

/// Most files read from the two folders: past it an inventory is refused (a folder of a
/// hostile size is not read to its end).
pub const VARS_FILES_MAX: usize = 256;

/// What the two folders hold: for each group and host named there, the blocks of variables,
/// each with the file it came from (relative to the inventory's folder).
#[derive(Clone, Debug, Default)]
pub struct VarsDirs {
    groups: Vec<(String, String, Vars)>,
    hosts: Vec<(String, String, Vars)>,
}

impl VarsDirs {
    /// Reads `base/group_vars/` and `base/host_vars/` (either may be missing).
    pub fn read(base: &Path) -> Result<VarsDirs, Error> {
        let mut out = VarsDirs::default();
        let mut count = 0;
        for (dir, into) in [
            ("group_vars", &mut out.groups),
            ("host_vars", &mut out.hosts),
        ] {
            for (name, file) in entries(&base.join(dir))? {
                count += 1;
                if count > VARS_FILES_MAX {
                    return Err(invalid(
                        &base.join(dir),
                        format!("more than {VARS_FILES_MAX} variable files"),
                    ));
                }
                let text = yaml::read(&file).map_err(|reason| Error::Read {
                    path: file.clone(),
                    reason,
                })?;
                let vars: Option<Vars> = yaml::from_str(&text).map_err(|e| Error::Invalid {
                    path: file.clone(),
                    line: (e.line > 0).then_some(e.line),
                    field: e.field,
                    message: e.message,
                })?;
                let shown = file.strip_prefix(base).unwrap_or(&file);
                into.push((
                    name,
                    shown.to_string_lossy().into_owned(),
                    vars.unwrap_or_default(),
                ));
            }
        }
        Ok(out)
    }

    /// Puts the folders' variables into the tree, ahead of the file's (the first block of a
    /// group or host wins). Those of a group or host the inventory does not have are listed
    /// in `unused`, as Ansible ignores them.
    pub(super) fn apply(&self, t: &mut Tree, unused: &mut Vec<String>) {
        for (name, field, vars) in self.groups.iter().rev() {
            match t.groups.get_mut(name) {
                Some(g) => g.vars.insert(0, (field.clone(), vars.clone())),
                None => unused.push(format!("{field} (no group {name} in the inventory)")),
            }
        }
        for (name, field, vars) in self.hosts.iter().rev() {
            match t.hosts.get_mut(name) {
                Some(h) => h.files.insert(0, (field.clone(), vars.clone())),
                None => unused.push(format!("{field} (no host {name} in the inventory)")),
            }
        }
    }
}

fn invalid(path: &Path, message: String) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        line: None,
        field: "(folder)".into(),
        message,
    }
}

/// The variable files of one folder, by the group or host they are for, in name order.
fn entries(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, Error> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut items: Vec<_> = listing.filter_map(Result::ok).map(|e| e.path()).collect();
    items.sort();
    for path in items {
        if path.is_dir() {
            let Some(name) = visible_name(&path) else {
                continue;
            };
            let mut inner: Vec<_> = std::fs::read_dir(&path)
                .map_err(|e| invalid(&path, format!("cannot read the folder: {e}")))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && vars_file(p).is_some())
                .collect();
            inner.sort();
            out.extend(inner.into_iter().map(|p| (name.clone(), p)));
        } else if let Some(name) = vars_file(&path) {
            out.push((name, path));
        }
        if out.len() > VARS_FILES_MAX {
            return Err(invalid(
                dir,
                format!("more than {VARS_FILES_MAX} variable files"),
            ));
        }
    }
    Ok(out)
}

/// A file's name without a variables extension (none, .yml, .yaml, .json); not hidden.
fn vars_file(path: &Path) -> Option<String> {
    let name = visible_name(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        None => Some(name),
        Some("yml" | "yaml" | "json") => path.file_stem()?.to_str().map(str::to_owned),
        Some(_) => None,
    }
}

fn visible_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    (!name.starts_with('.')).then(|| name.to_owned())
}
