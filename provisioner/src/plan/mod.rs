//! Turns a [`ClusterModel`] into a plan: an ordered graph of idempotent steps, as values.
//!
//! Each [`Step`] runs on one host: a `check` (exit 0 = already done, skip), an [`Action`]
//! (a shell command, a file upload, or a relay of a secret from another host), and a `verify`
//! (exit 0 = done; polled for up to `settle` where a daemon needs time to converge). Steps of
//! one host run in plan order; `after` names steps of other hosts that must be done first, so
//! hosts run in parallel wherever the order allows. Nothing here runs a command: the
//! executor (`crate::exec`) does. The only IO is [`write_out`], which saves the rendered files
//! and plan.txt for review.
//!
//! **Invariant:** every string spliced into a command (a name, a path, a device, a version, a
//! derived uuid) is shell-quoted with [`quote`]; what is spliced bare is a number, an address
//! or a constant of this crate. The model is checked first ([`ClusterModel::check`]), so the
//! quoting is a second guard, not the only one.
//! **Invariant:** no step carries a secret: keys and tokens are made on the hosts, and a
//! [`Relay`] names the commands that read and write one, never its value.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::model::{ClusterModel, Profile};
use crate::render::{self, File};

pub mod bare;
pub mod kube;

/// Index of a step in its [`Plan`].
pub type StepId = usize;

/// One idempotent step on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Host the step runs on (a node name).
    pub host: String,
    /// Short name, unique per host.
    pub name: String,
    /// Exit 0 when the step is already done; None: always apply.
    pub check: Option<String>,
    /// What makes the step done.
    pub apply: Action,
    /// Exit 0 when the step is done; None: the apply's exit status says.
    pub verify: Option<String>,
    /// How long `verify` may keep failing while a daemon converges (polled every second).
    pub settle: Duration,
    /// Steps (of any host) that must be done before this one starts.
    pub after: Vec<StepId>,
    /// How often `apply` is tried before the step fails (joins time out now and then).
    pub attempts: u32,
    /// A command whose output says why the step failed (a unit's last journal lines), run
    /// only when it fails; its last lines go into the error.
    pub logs: Option<String>,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A shell command, run as root.
    Shell(String),
    /// A rendered file, written atomically with its mode and owner.
    Upload(File),
    /// A secret read on one host and written on this one.
    Relay(Relay),
}

/// A secret (a keyring, a join command) read on one host and written on another. It passes
/// through the executor's memory only: never a command line, a log or the workstation's disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// Host that holds the secret.
    pub from: String,
    /// Command on `from` that prints it.
    pub read: String,
    /// What to do with it on the step's host.
    pub to: RelayTo,
}

/// Where a relayed secret goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayTo {
    /// A file with this mode and owner (its check compares sha256 on both hosts).
    File {
        /// Absolute path.
        path: String,
        /// Permission bits.
        mode: u32,
        /// `user:group`.
        owner: String,
    },
    /// `read` printed a `kubeadm join ...` command: the executor turns it into a typed
    /// JoinConfiguration, writes it to a 0600 temporary file, runs `kubeadm join --config` and
    /// removes the file.
    KubeadmJoin {
        /// Join as a control-plane node (`controlPlane` with the certificate key).
        control_plane: bool,
        /// The node's address, advertised by its API server.
        advertise: String,
        /// The port its API server binds.
        bind_port: u16,
        /// Registers without the control-plane taint (`kube.masters_schedulable`).
        schedulable: bool,
    },
}

/// Most times a step's apply may be tried.
pub const ATTEMPTS_MAX: u32 = 5;
/// Longest a step's verify may wait for a daemon to converge.
pub const SETTLE_MAX: Duration = Duration::from_secs(600);

/// An ordered graph of steps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The steps; `after` only points backwards, so plan order is a topological order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Appends a step and returns its id.
    pub fn add(&mut self, step: Step) -> StepId {
        assert!(
            step.after.iter().all(|&a| a < self.steps.len()),
            "a step may only wait for earlier steps"
        );
        assert!(
            (1..=ATTEMPTS_MAX).contains(&step.attempts),
            "attempts within ATTEMPTS_MAX"
        );
        assert!(step.settle <= SETTLE_MAX, "settle within SETTLE_MAX");
        self.steps.push(step);
        self.steps.len() - 1
    }

    /// The steps of one host, in order.
    pub fn of_host<'a>(&'a self, host: &'a str) -> impl Iterator<Item = (StepId, &'a Step)> + 'a {
        self.steps
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.host == host)
    }
}

impl Step {
    /// A shell step: check, apply, verify = check.
    pub fn shell(
        host: &str,
        name: impl Into<String>,
        check: &str,
        apply: impl Into<String>,
    ) -> Step {
        Step {
            host: host.to_owned(),
            name: name.into(),
            check: Some(check.to_owned()),
            apply: Action::Shell(apply.into()),
            verify: Some(check.to_owned()),
            settle: Duration::ZERO,
            after: Vec::new(),
            attempts: 1,
            logs: None,
        }
    }

    /// Shows the last journal lines of `unit` when the step fails.
    pub fn logs_of(self, unit: &str) -> Step {
        self.logs(journal(&quote(unit)))
    }

    /// Runs `cmd` when the step fails, and shows its last lines.
    pub fn logs(mut self, cmd: impl Into<String>) -> Step {
        self.logs = Some(cmd.into());
        self
    }

    /// Waits for these steps first.
    pub fn after(mut self, ids: impl IntoIterator<Item = StepId>) -> Step {
        self.after.extend(ids);
        self.after.sort_unstable();
        self.after.dedup();
        self
    }

    /// Lets `verify` fail for up to `d` while a daemon converges.
    pub fn settle(mut self, d: Duration) -> Step {
        self.settle = d;
        self
    }

    /// Tries `apply` up to `n` times, with backoff.
    pub fn attempts(mut self, n: u32) -> Step {
        self.attempts = n;
        self
    }

    /// The shell commands the step runs, in order: check, apply (a shell command, or the
    /// command that reads a relayed secret), verify. An upload runs none of its own.
    pub fn commands(&self) -> Vec<&str> {
        let apply = match &self.apply {
            Action::Shell(c) => Some(c),
            Action::Relay(r) => Some(&r.read),
            Action::Upload(_) => None,
        };
        self.check
            .iter()
            .chain(apply)
            .chain(&self.verify)
            .map(String::as_str)
            .collect()
    }

    /// Replaces the verify command.
    pub fn verify(mut self, cmd: impl Into<String>) -> Step {
        self.verify = Some(cmd.into());
        self
    }
}

/// The command that prints a unit's last journal lines; `unit` is a shell word (quoted, or a
/// word with a `$id` the step's shell sets).
pub fn journal(unit: &str) -> String {
    format!("journalctl -u {unit} -n 20 --no-pager -o cat")
}

/// Quotes `s` as one POSIX shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Hex sha256 of a file's content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Exit 0 when `path` has this content, mode and owner.
pub fn file_check(path: &str, mode: u32, owner: &str, sha256: &str) -> String {
    let p = quote(path);
    format!(
        "test \"$(stat -c '%a %U:%G' {p} 2>/dev/null)\" = {want} && echo {sum} | sha256sum -c --status",
        want = quote(&format!("{mode:o} {owner}")),
        sum = quote(&format!("{sha256}  {path}")),
    )
}

/// The step that writes a rendered file.
pub fn upload(file: &File) -> Step {
    let check = file_check(
        &file.path,
        file.mode,
        &file.owner,
        &sha256_hex(file.content.as_bytes()),
    );
    Step {
        host: file.host.clone(),
        name: format!("write {}", file.path),
        check: Some(check.clone()),
        apply: Action::Upload(file.clone()),
        verify: Some(check),
        settle: Duration::ZERO,
        after: Vec::new(),
        attempts: 1,
        logs: None,
    }
}

/// The command that writes stdin to `path` atomically, with mode and owner.
pub fn write_stdin(path: &str, mode: u32, owner: &str) -> String {
    let p = quote(path);
    let dir = Path::new(path)
        .parent()
        .map_or_else(|| "/".to_owned(), |d| d.display().to_string());
    let (user, group) = owner.split_once(':').unwrap_or((owner, owner));
    format!(
        "mkdir -p {dir} && t=$(mktemp {tmp}) && cat > \"$t\" && chmod {mode:o} \"$t\" && chown {u}:{g} \"$t\" && mv -f \"$t\" {p}",
        dir = quote(&dir),
        tmp = quote(&format!("{path}.hadrill-XXXXXX")),
        u = quote(user),
        g = quote(group),
    )
}

/// A systemd unit enabled, running, and started after its configuration files last changed,
/// so that a changed file restarts the daemon and an unchanged one leaves it alone.
/// `no_block`: do not wait for the unit to report ready (the verify polls instead).
///
/// "Started after" is judged against the moment the unit left `inactive` (before any of its
/// processes read a file), to the microsecond. CI met the race this closes: a node's etcd,
/// started at boot with Debian's defaults, was still starting when its file was uploaded and
/// became active a second later; judged by its active time in whole seconds it looked fresh,
/// was never restarted, and stayed a one-member cluster of its own.
pub fn service_after_config(host: &str, unit: &str, configs: &[&str], no_block: bool) -> Step {
    let u = quote(unit);
    let mut check = format!("systemctl is-enabled --quiet {u} && systemctl is-active --quiet {u}");
    if !configs.is_empty() {
        let _ = write!(
            check,
            " && s=$(date -d \"$(systemctl show --timestamp=us+utc -p InactiveExitTimestamp --value {u})\" +%s%6N)"
        );
        for c in configs {
            let _ = write!(
                check,
                " && test \"$(stat -c %.6Y {} | tr -d .)\" -lt \"$s\"",
                quote(c)
            );
        }
    }
    let block = if no_block { " --no-block" } else { "" };
    Step::shell(
        host,
        format!("start {unit}"),
        &check,
        // Enable only what is not (Debian's sysv helper makes every enable slow); --no-reload:
        // enabling adds symlinks, the unit files did not change.
        format!(
            "{{ systemctl is-enabled --quiet {u} || systemctl enable --no-reload {u}; }} && systemctl restart{block} {u}"
        ),
    )
    .logs_of(unit)
}

/// The plan of a model's profile.
pub fn plan(model: &ClusterModel) -> Plan {
    match model.profile {
        Profile::Bare => bare::plan(model),
        Profile::Kubernetes => kube::plan(model),
    }
}

/// The plan as text: one block per step, numbered from 1.
pub fn plan_txt(plan: &Plan) -> String {
    let mut s = String::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let _ = write!(s, "# {}. {}: {}", i + 1, step.host, step.name);
        if !step.after.is_empty() {
            let after: Vec<String> = step.after.iter().map(|a| (a + 1).to_string()).collect();
            let _ = write!(s, " (after {})", after.join(", "));
        }
        s.push('\n');
        if let Some(c) = &step.check {
            let _ = writeln!(s, "check:  {c}");
        }
        match &step.apply {
            Action::Shell(cmd) => {
                let _ = writeln!(s, "apply:  {cmd}");
            }
            Action::Upload(f) => {
                let _ = writeln!(
                    s,
                    "apply:  upload {} (mode {:o}, {}, sha256 {}; see hosts/{}{})",
                    f.path,
                    f.mode,
                    f.owner,
                    sha256_hex(f.content.as_bytes()),
                    f.host,
                    f.path
                );
            }
            Action::Relay(r) => {
                let _ = writeln!(s, "apply:  relay from {}: {}", r.from, r.read);
                let _ = match &r.to {
                    RelayTo::File { path, mode, owner } => writeln!(
                        s,
                        "        into {path} (mode {mode:o}, {owner}); done when sha256 matches on both hosts"
                    ),
                    RelayTo::KubeadmJoin { control_plane, .. } => writeln!(
                        s,
                        "        into a typed JoinConfiguration (control plane: {control_plane}) for kubeadm join --config, removed after"
                    ),
                };
            }
        }
        if let Some(v) = &step.verify {
            let _ = writeln!(s, "verify: {v}");
        }
        if !step.settle.is_zero() {
            let _ = writeln!(s, "settle: up to {}s", step.settle.as_secs());
        }
        if step.attempts > 1 {
            let _ = writeln!(s, "attempts: {}", step.attempts);
        }
        s.push('\n');
    }
    s
}

/// Writes every rendered file at `hosts/HOST/<absolute path>` and the plan at `plan.txt` into
/// an output folder (which removes what an earlier plan wrote there and this one does not).
pub fn write_out(
    model: &ClusterModel,
    unused: &[String],
    out: &mut crate::outdir::OutDir,
) -> Result<(), crate::outdir::Error> {
    for file in render::render(model) {
        let target = Path::new("hosts")
            .join(&file.host)
            .join(file.path.trim_start_matches('/'));
        out.write(target, file.content.as_bytes())?;
    }
    let mut txt = plan_txt(&plan(model));
    txt.push_str(&unused_txt(unused));
    out.write("plan.txt", txt.as_bytes())
}

/// plan.txt's last block: what the inventory holds that hadrill does not read (its
/// [`crate::inventory::Inventory::unused`], names only), so that a typo is seen; empty when
/// there is nothing.
pub fn unused_txt(unused: &[String]) -> String {
    if unused.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "# Not read by hadrill ({} in the inventory, kept for Ansible and your playbooks):\n",
        unused.len()
    );
    for u in unused {
        let _ = writeln!(s, "#   {u}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell step runs its check, its apply and its verify, in that order; an upload runs
    /// only its check and verify (the file itself goes over SFTP); plan.txt numbers steps and
    /// their waits from 1.
    #[test]
    fn a_steps_commands_and_its_plan_txt_block() {
        let s = Step::shell("h", "n", "test -e /x", "touch /x").verify("test -s /x");
        assert_eq!(s.commands(), ["test -e /x", "touch /x", "test -s /x"]);
        let f = File {
            host: "h".into(),
            path: "/etc/x".into(),
            mode: 0o640,
            owner: "root:root".into(),
            content: "x".into(),
        };
        let u = upload(&f);
        let check = file_check("/etc/x", 0o640, "root:root", &sha256_hex(b"x"));
        assert!(
            u.commands().iter().all(|c| *c == check),
            "{:?}",
            u.commands()
        );
        assert!(!u.commands().is_empty());
        let mut p = Plan::default();
        let a = p.add(s.clone());
        p.add(s.after([a]).settle(Duration::from_secs(30)).attempts(3));
        let txt = plan_txt(&p);
        let first = "# 1. h: n\ncheck:  test -e /x\napply:  touch /x\nverify: test -s /x\n\n";
        assert!(txt.starts_with(first), "{txt}");
        // Only a step that settles or retries says so.
        let second = "# 2. h: n (after 1)\ncheck:  test -e /x\napply:  touch /x\nverify: test -s /x\nsettle: up to 30s\nattempts: 3\n\n";
        assert_eq!(&txt[first.len()..], second);
    }

    /// The check of an uploaded file, run by a real shell on a real file: it passes for the
    /// file as rendered, and fails when its content, its mode or its owner differs.
    #[test]
    fn a_files_check_passes_only_for_the_file_as_rendered() {
        let dir = std::env::temp_dir().join(format!("hadrill-file-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.conf");
        std::fs::write(&path, "a = 1\n").unwrap();
        let run = |mode: u32, owner: &str, content: &str| {
            let check = file_check(
                &path.to_string_lossy(),
                mode,
                owner,
                &sha256_hex(content.as_bytes()),
            );
            std::process::Command::new("sh")
                .args(["-c", &check])
                .status()
                .unwrap()
                .success()
        };
        let sh = |cmd: &str| {
            std::process::Command::new("sh")
                .args(["-c", cmd])
                .output()
                .unwrap()
        };
        let id = sh("id -un; id -gn");
        let id = String::from_utf8_lossy(&id.stdout).to_string();
        let mut lines = id.lines();
        let owner = format!("{}:{}", lines.next().unwrap(), lines.next().unwrap());
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        assert!(run(0o640, &owner, "a = 1\n"), "as rendered");
        assert!(!run(0o640, &owner, "a = 2\n"), "other content");
        assert!(!run(0o600, &owner, "a = 1\n"), "other mode");
        assert!(!run(0o640, "nobody:nogroup", "a = 1\n"), "other owner");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$x"), "'$x'");
    }

    /// The number of shell words of every command of a plan, with its step's name (None
    /// where a quote is left open).
    fn words(p: &Plan) -> Vec<(String, Option<usize>)> {
        let mut out = Vec::new();
        for s in &p.steps {
            let n = s
                .commands()
                .into_iter()
                .map(|c| shlex::split(c).map(|w| w.len()));
            out.extend(n.map(|n| (format!("{}: {}", s.host, s.name), n)));
        }
        out
    }

    #[test]
    fn strings_spliced_into_commands_stay_one_word() {
        // Models that `ClusterModel::check` would refuse: quoting is the second guard.
        let hostile = [
            "'; touch /tmp/x; echo '",
            " $(touch /tmp/x)",
            "\n touch x",
            "` id`",
        ];
        for profile in [Profile::Bare, Profile::Kubernetes] {
            let m = ClusterModel::seed(profile);
            let base = words(&plan(&m));
            assert!(
                base.iter().all(|(_, n)| n.is_some()),
                "{profile:?}: a quote left open"
            );
            for h in hostile {
                let mut bad = m.clone();
                bad.nodes[1].name = format!("node-2{h}");
                bad.nodes[2].storage_devices = vec![format!("/dev/sdb{h}")];
                bad.versions.kubernetes = format!("1.33.5{h}");
                bad.ceph.pool = format!("pool{h}");
                let got = words(&plan(&bad));
                assert_eq!(got.len(), base.len(), "{profile:?} {h:?}");
                for ((_, n), (step, want)) in got.iter().zip(&base) {
                    assert_eq!(n, want, "{profile:?} {h:?}: words of a command of {step}");
                }
            }
        }
    }

    #[test]
    fn sha256_of_empty() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn every_plan_points_backwards_and_is_deterministic() {
        for profile in [Profile::Bare, Profile::Kubernetes] {
            let m = ClusterModel::seed(profile);
            let p = plan(&m);
            assert_eq!(p, plan(&m));
            assert!(!p.steps.is_empty());
            for (i, s) in p.steps.iter().enumerate() {
                assert!(s.after.iter().all(|&a| a < i), "{}", s.name);
                assert!(m.node_by_name(&s.host).is_some(), "{}", s.host);
                let names = p.of_host(&s.host).filter(|(_, t)| t.name == s.name).count();
                assert_eq!(names, 1, "step names are unique per host: {}", s.name);
            }
        }
    }

    /// Whether `text` holds something shaped like a secret: a Ceph key (`AQ` + 38 base64 +
    /// `==`), a bootstrap token (`abcdef.0123456789abcdef`), or 64 hex digits given as a
    /// certificate key (file hashes are 64 hex digits too, and not secret).
    fn looks_secret(text: &str) -> Option<&str> {
        let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        let low = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let words: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || "'\"=:,".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        words
            .iter()
            .enumerate()
            .map(|(i, w)| (i, *w))
            .find_map(|(i, w)| {
                let ceph = w.len() == 40 && w.starts_with("AQ") && w.chars().all(b64);
                let token = w.len() == 23
                    && w.as_bytes()[6] == b'.'
                    && w.chars().enumerate().all(|(i, c)| i == 6 || low(c));
                let after_key =
                    i > 0 && ["--certificate-key", "certificateKey"].contains(&words[i - 1]);
                let key = after_key && w.len() == 64 && w.chars().all(hex);
                (ceph || token || key).then_some(w)
            })
    }

    #[test]
    fn no_plan_carries_a_secret() {
        assert!(looks_secret("--token abcdef.0123456789abcdef").is_some());
        assert!(looks_secret(&format!("--certificate-key {}", "0f".repeat(32))).is_some());
        for profile in [Profile::Bare, Profile::Kubernetes] {
            let txt = plan_txt(&plan(&ClusterModel::seed(profile)));
            assert_eq!(
                looks_secret(&txt),
                None,
                "{profile:?}: a secret in plan.txt"
            );
            for f in render::render(&ClusterModel::seed(profile)) {
                assert_eq!(looks_secret(&f.content), None, "{profile:?}: {}", f.path);
            }
        }
    }
}
