//! Ansible's INI inventory (its default format), read into the same [`Tree`] as the YAML form.
//!
//! As Ansible's `ini` plugin reads it: hosts before any section are `ungrouped`; `[group]`
//! lists hosts, one per line, each with `key=value` variables split as a shell splits words
//! (`shlex`), and a `host:port` suffix for `ansible_port`; `[group:vars]` gives `key=value`
//! lines; `[group:children]` names child groups. A value is read as Python's `literal_eval`
//! would (a number, `True`/`False`/`None`, a list or a mapping), else kept as text. `#` and `;`
//! start a comment line; a `#` outside quotes ends a host line.
//! Fields in errors are `[group] host.key` and `[group:vars].key`, each with its line.

use std::collections::BTreeMap;
use std::path::Path;

use super::ansible::{expand, group_name, Tree, Vars};
use super::{shown, Field};

/// Whether `text` is an INI inventory: a file not named .yml, .yaml or .json whose first
/// line that says anything is a `[section]` or is not YAML's `key:` (Ansible's default
/// inventory, /etc/ansible/hosts, has no extension).
pub(super) fn is_ini(path: &Path, text: &str) -> bool {
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["yml", "yaml", "json"].contains(&e.to_ascii_lowercase().as_str()));
    if yaml {
        return false;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';') && l != &"---");
    match first {
        Some(l) if l.starts_with('[') => true,
        Some(l) => !(l.ends_with(':') || l.contains(": ") || l.starts_with('{')),
        None => false,
    }
}

/// A field named as in Ansible's YAML form (`all.vars.vip`, where the checks shared by both
/// forms name it) as an INI file names it (`[all:vars].vip`), so that an error points at what
/// the user wrote.
pub(super) fn field(yaml: &str) -> String {
    if yaml == "all.vars" {
        return "[all:vars]".to_owned();
    }
    if let Some(rest) = yaml.strip_prefix("all.vars.") {
        return format!("[all:vars].{rest}");
    }
    if yaml == "all.children" {
        return "[groups]".to_owned();
    }
    yaml.to_owned()
}

/// The line of `field`, or of the nearest field it is part of (0: none).
pub(super) fn line_of(lines: &BTreeMap<String, u64>, field: &str) -> u64 {
    let mut f = field;
    loop {
        if let Some(n) = lines.get(f) {
            return *n;
        }
        match f.rfind(['.', ' ']) {
            Some(i) => f = &f[..i],
            None => return 0,
        }
    }
}

/// The tree of an INI inventory, and the line of each field it names (for errors).
pub(super) fn tree(text: &str) -> Result<(Tree, BTreeMap<String, u64>), (u64, Field)> {
    let mut r = Reader {
        t: Tree::default(),
        lines: BTreeMap::new(),
        section: Section::Hosts("ungrouped".to_owned()),
    };
    r.t.group("all", "[all]");
    r.t.add_child("all", "[all]", "ungrouped", "[ungrouped]");
    for (n, raw) in text.lines().enumerate() {
        let n = n as u64 + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let read = match (line.strip_prefix('['), &r.section) {
            (Some(head), _) => r.header(line, head, n),
            (None, Section::Hosts(group)) => r.host(&group.clone(), line, n),
            (None, Section::Vars(group)) => r.var(&group.clone(), line, n),
            (None, Section::Children(group)) => r.child(&group.clone(), line, n),
        };
        read.map_err(|f| (n, f))?;
        if let Some(why) = r.t.too_big() {
            return Err((n, (line.to_owned(), why)));
        }
    }
    Ok((r.t, r.lines))
}

/// The tree so far, the line of each field, and the section being read.
struct Reader {
    t: Tree,
    lines: BTreeMap<String, u64>,
    section: Section,
}

impl Reader {
    /// `[group]`, `[group:vars]` or `[group:children]`.
    fn header(&mut self, line: &str, head: &str, n: u64) -> Result<(), Field> {
        // A comment may follow the header (`[kube]  # the nodes`), as Ansible allows.
        let head = head.split(['#', ';']).next().unwrap_or_default().trim_end();
        let inner = head.strip_suffix(']').ok_or_else(|| {
            (
                line.to_owned(),
                "a section is [group], [group:vars] or [group:children]".to_owned(),
            )
        })?;
        self.section = header(inner).map_err(|m| (format!("[{inner}]"), m))?;
        let (name, field) = self.section.group();
        let (name, gfield) = (name.to_owned(), format!("[{name}]"));
        self.lines.insert(field, n);
        self.lines.entry(gfield.clone()).or_insert(n);
        self.t.group(&name, &gfield);
        if name != "all" {
            self.t.add_child("all", "[all]", &name, &gfield);
        }
        Ok(())
    }

    /// A host (or a range of hosts) with its variables.
    fn host(&mut self, group: &str, line: &str, n: u64) -> Result<(), Field> {
        let gfield = format!("[{group}]");
        let (pattern, vars) =
            host_line(line).map_err(|m| (format!("{gfield} {}", first_word(line)), m))?;
        let field = format!("{gfield} {pattern}");
        self.lines.insert(field.clone(), n);
        for key in vars.keys() {
            self.lines.insert(format!("{field}.{key}"), n);
        }
        for host in expand(&pattern).map_err(|m| (field.clone(), m))? {
            self.t.add_host(group, &gfield, &host, &field, vars.clone());
        }
        Ok(())
    }

    /// `key=value` of a group.
    fn var(&mut self, group: &str, line: &str, n: u64) -> Result<(), Field> {
        let field = format!("[{group}:vars]");
        let Some((k, v)) = line.split_once('=') else {
            return Err((field, format!("{}: expected key=value", shown(line))));
        };
        let (k, v) = (k.trim(), v.trim());
        self.lines.insert(format!("{field}.{k}"), n);
        let vars = Vars::from([(k.to_owned(), literal(v))]);
        let g = self.t.group(group, &format!("[{group}]"));
        match g.vars.iter_mut().find(|(f, _)| *f == field) {
            Some((_, block)) => block.extend(vars),
            None => g.vars.push((field, vars)),
        }
        Ok(())
    }

    /// A child group's name.
    fn child(&mut self, group: &str, line: &str, n: u64) -> Result<(), Field> {
        let field = format!("[{group}:children] {line}");
        self.lines.insert(field.clone(), n);
        if !group_name(line) {
            return Err((
                field,
                format!(
                    "{} is not a group name (letters, digits, _ and -)",
                    shown(line)
                ),
            ));
        }
        self.lines.entry(format!("[{line}]")).or_insert(n);
        let cfield = format!("[{line}]");
        self.t
            .add_child(group, &format!("[{group}]"), line, &cfield);
        Ok(())
    }
}

/// What the lines under a header are.
enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

impl Section {
    /// The group the section is about, and the section's field.
    fn group(&self) -> (&str, String) {
        match self {
            Section::Hosts(g) => (g, format!("[{g}]")),
            Section::Vars(g) => (g, format!("[{g}:vars]")),
            Section::Children(g) => (g, format!("[{g}:children]")),
        }
    }
}

/// `group`, `group:vars` or `group:children`.
fn header(inner: &str) -> Result<Section, String> {
    let (name, kind) = match inner.split_once(':') {
        Some((name, kind)) => (name, Some(kind)),
        None => (inner, None),
    };
    if !group_name(name) {
        return Err(format!(
            "{} is not a group name (letters, digits, _ and -)",
            shown(name)
        ));
    }
    match kind {
        None => Ok(Section::Hosts(name.to_owned())),
        Some("vars") => Ok(Section::Vars(name.to_owned())),
        Some("children") => Ok(Section::Children(name.to_owned())),
        Some(other) => Err(format!(
            "{}: a section is [group], [group:vars] or [group:children]",
            shown(other)
        )),
    }
}

fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

/// A host line: its pattern and its variables (`host:2222` sets `ansible_port`).
fn host_line(line: &str) -> Result<(String, Vars), String> {
    let words =
        shlex::split(uncommented(line)).ok_or_else(|| "a quote is not closed".to_owned())?;
    let mut words = words.into_iter();
    let mut pattern = words.next().unwrap_or_default();
    let mut vars = Vars::new();
    // host:port (a range's colons are inside its brackets).
    if let Some((host, port)) = pattern.rsplit_once(':') {
        if !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && !colon_outside_brackets(host)
        {
            vars.insert("ansible_port".into(), literal(port));
            pattern = host.to_owned();
        }
    }
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("{}: expected key=value after the host", shown(&w)))?;
        vars.insert(k.to_owned(), literal(v));
    }
    Ok((pattern, vars))
}

/// A `:` outside `[…]` (an address with colons, not a host name).
fn colon_outside_brackets(s: &str) -> bool {
    let mut depth = 0usize;
    s.chars().any(|c| {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == ':' && depth == 0
    })
}

/// The line up to a `#` outside quotes, as Python's shlex with comments reads it (Ansible
/// splits a host line so): a `#` ends the line even inside a word; a backslash outside single
/// quotes escapes the next character.
fn uncommented(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some('\'') if c == '\'' => quote = None,
            Some('\'') => {}
            Some(q) if c == q => quote = None,
            Some(_) | None if c == '\\' => escaped = true,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' => return &line[..i],
            None => {}
        }
    }
    line
}

/// A value as Python's `ast.literal_eval` reads it where it can (Ansible's rule), else text:
/// whole numbers, `True`/`False`/`None`, quoted strings, lists and mappings (read as YAML's
/// flow style, which Python's literals of strings and numbers are).
fn literal(v: &str) -> serde_json::Value {
    use serde_json::Value;
    if let Ok(n) = v.parse::<i64>() {
        return Value::from(n);
    }
    match v {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            if v.len() >= 2 && !inner.contains(q) {
                return Value::String(inner.to_owned());
            }
        }
    }
    if v.starts_with('[') || v.starts_with('{') {
        if let Ok(parsed) = serde_saphyr::from_str::<Value>(v) {
            return parsed;
        }
    }
    Value::String(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_field_names_become_ini_names() {
        assert_eq!(field("all.vars.vip"), "[all:vars].vip");
        assert_eq!(field("all.vars"), "[all:vars]");
        assert_eq!(field("all.children"), "[groups]");
        assert_eq!(
            field("[kube] node-1.ansible_port"),
            "[kube] node-1.ansible_port"
        );
        assert_eq!(field("all.variables"), "all.variables");
    }
}
