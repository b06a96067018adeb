//! Reading YAML input files (inventories here, scenarios in the harness) with errors that
//! name a line and a field path, never a panic.
//!
//! serde-saphyr parses (panic-free, with locations); when the typed parse fails, a second pass
//! over the generic document with serde_path_to_error finds the field path. This module owns
//! only the reading; what a document means is decided by its caller.
//!
//! **Invariant:** an [`Error`]'s message is one printable line in the user's words: serde's and
//! serde-saphyr's messages are rewritten ([`plain`]) so that no Rust type name (`struct Root`,
//! `untagged enum Hosts`), no library advice (`set DuplicateKeyPolicy…`) and no raw control
//! character reaches the user; keys and values in it are shown with [`crate::text::shown`].

use serde::de::DeserializeOwned;

use crate::text::{self, shown};

/// Longest input file read, in bytes; a larger one is refused rather than parsed.
pub const TEXT_LEN_MAX: usize = 1 << 20;

/// Reads an input file through the size cap: a file over [`TEXT_LEN_MAX`] (or an endless one,
/// such as `/dev/zero`) is refused after reading at most one byte more than the cap.
pub fn read(path: &std::path::Path) -> Result<String, crate::text::ReadError> {
    crate::text::read_capped(path, TEXT_LEN_MAX)
}

/// Why a document could not be read into its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// 1-based line (0 when unknown: say none rather than this).
    pub line: u64,
    /// Where in the document (`steps[0].fault`), or `(document)`.
    pub field: String,
    /// What is wrong, lower case, one printable line.
    pub message: String,
}

/// Parses `text` as a `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    if text.len() > TEXT_LEN_MAX {
        return Err(Error {
            line: 0,
            field: "(document)".into(),
            message: format!("file larger than {TEXT_LEN_MAX} bytes"),
        });
    }
    serde_saphyr::from_str_with_options::<T>(text, options())
        .map_err(|err| explain::<T>(text, &err))
}

/// How both passes read: YAML 1.2's booleans only (`true`, `false`), so that `n`, `off` or
/// `yes` stay the strings they look like, and the second pass (which finds the field path on a
/// generic value) sees the same document as the first.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// Reads a generic value (a part of a document already parsed) as a `T`; the error's field
/// is relative to the value and its line unknown.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| Error {
        line: 0,
        field: path_name(&e.path().to_string()),
        message: plain(&e.into_inner().to_string()),
    })
}

/// Turns a serde-saphyr error into line + field path + message.
fn explain<T: DeserializeOwned>(text: &str, err: &serde_saphyr::Error) -> Error {
    let line = err.location().map_or(0, |l| l.line());
    let generic = serde_saphyr::from_str_with_options::<serde_json::Value>(text, options());
    let (field, message) = match generic {
        Ok(value) => match serde_path_to_error::deserialize::<_, T>(value) {
            Err(e) => (path_name(&e.path().to_string()), e.into_inner().to_string()),
            Ok(_) => ("(document)".to_owned(), bare_message(err)),
        },
        Err(_) => ("(document)".to_owned(), bare_message(err)),
    };
    Error {
        line,
        field,
        message: plain(&message),
    }
}

fn path_name(p: &str) -> String {
    if p == "." || p.is_empty() {
        "(document)".to_owned()
    } else {
        p.to_owned()
    }
}

/// serde-saphyr's message without its own `error: line L column C:` prefix (the line is
/// printed once, in front).
fn bare_message(err: &serde_saphyr::Error) -> String {
    let s = err.to_string();
    let s = s.lines().next().unwrap_or("");
    let s = s.strip_prefix("error: ").unwrap_or(s);
    match s.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, rest)) => rest.to_owned(),
        None => s.to_owned(),
    }
}

/// serde's and serde-saphyr's message in the user's words, on one printable line: "expected a
/// mapping, found …" rather than "invalid type: …, expected struct Root"; keys shown with
/// [`shown`]; no library advice. Messages it does not know pass through, control characters
/// escaped.
pub fn plain(message: &str) -> String {
    let mut m = text::one_line(&rewrite(message));
    if let Some((i, _)) = m.char_indices().nth(MESSAGE_LEN_MAX) {
        m.truncate(i);
        m.push('…');
    }
    m
}

/// Most characters of a rewritten message (a value in it is shown shorter still).
pub const MESSAGE_LEN_MAX: usize = 400;

/// One of serde-saphyr's limits on a document (its defaults), which it names by its Debug form
/// (`Depth { depth: 65 }`), in words.
fn budget(breach: &str) -> String {
    let what = match breach.split([' ', '{']).next().unwrap_or(breach) {
        "Depth" => {
            return "nested more than 64 maps and lists deep (the YAML reader's limit)".to_owned()
        }
        "Events" => "parser events",
        "Aliases" => "aliases",
        "Anchors" => "anchors",
        "InclusionDepth" => "nested includes",
        "Documents" => "documents",
        "Nodes" => "nodes",
        "ScalarBytes" => "bytes of values",
        "CommentBytes" => "bytes of comments",
        "MergeKeys" => "merge keys",
        _ => "its size",
    };
    format!("past the YAML reader's limit on {what}")
}

fn rewrite(m: &str) -> String {
    // A library's advice to the programmer ("…; use Option<String>") is not the user's.
    let m = m.split_once("; use ").map_or(m, |(head, _)| head);
    if let Some(what) = m.strip_prefix("cannot deserialize null into ") {
        return format!("expected {}, found nothing", expected(what));
    }
    if m.starts_with("expected end of mapping after enum variant value") {
        // A step, fault or target written as a map of more than one key.
        return "expected a map of one key (as `fault: {power-off: node-1}`), found more keys"
            .to_owned();
    }
    if m.starts_with("externally tagged enum expected scalar or mapping") {
        // A step, fault or target (one of several kinds) given as something else.
        return "expected a name or a map of one key (as `fault: {power-off: node-1}`)".to_owned();
    }
    if let Some(rest) = m.strip_prefix("tagged enum `") {
        // A YAML tag (`!name value`) where one of several kinds was expected: the tag is the
        // user's, the target enum's name is ours.
        let tag = rest.split_once("` does not match").map_or(rest, |(t, _)| t);
        return format!(
            "unknown tag {} (expected a name or a map of one key, as `fault: {{power-off: node-1}}`)",
            shown(&format!("!{tag}"))
        );
    }
    if let Some(breach) = m.strip_prefix("budget breached: ") {
        return budget(breach);
    }
    if m.starts_with("recursive references require") {
        return "an alias refers to its own anchor (a recursive reference)".to_owned();
    }
    let typed = m
        .strip_prefix("invalid type: ")
        .or_else(|| m.strip_prefix("invalid value: "));
    if let Some((found, want)) = typed.and_then(|r| r.rsplit_once(", expected ")) {
        return format!("expected {}, found {}", expected(want), unexpected(found));
    }
    if let Some((n, want)) = m
        .strip_prefix("invalid length ")
        .and_then(|r| r.split_once(", expected "))
    {
        let want = expected(want);
        // A struct read from a list says so by its length: "found 0" would tell nothing.
        let found = if want == "a mapping" { "a list" } else { n };
        return format!("expected {want}, found {found}");
    }
    for what in ["field", "variant"] {
        if let Some(rest) = m.strip_prefix(&format!("unknown {what} `")) {
            return unknown_name(what, rest);
        }
    }
    if m.starts_with("data did not match any variant of untagged enum") {
        return "not one of the forms this field takes".to_owned();
    }
    if let Some(rest) = m.strip_prefix("duplicate mapping key: ") {
        // The library's advice ends the key, sometimes followed by a location (" at line
        // N, column M") that the message's own prefix already gives.
        let key = rest
            .rfind(", set DuplicateKeyPolicy")
            .map_or(rest, |i| &rest[..i]);
        return format!("duplicate key {}", shown(key));
    }
    if m.starts_with("multiple YAML documents detected") {
        return "more than one YAML document (expected one)".to_owned();
    }
    if let Some(event) = m.strip_prefix("unexpected event: expected ") {
        let what = match event {
            "mapping start" => "a mapping",
            "sequence start" => "a list",
            "string scalar" => "a string",
            other => other,
        };
        return format!("expected {what}");
    }
    if m == "invalid IPv4 address syntax" {
        return "expected an IPv4 address".to_owned();
    }
    m.to_owned()
}

/// `unknown field `KEY`, expected one of …`: the key shown (it is the user's, and may hold
/// anything), the list of known names kept.
fn unknown_name(what: &str, rest: &str) -> String {
    let tails = ["`, expected ", "`, there are no "];
    let cut = tails.iter().filter_map(|t| rest.rfind(t)).max();
    match cut {
        Some(i) => format!("unknown {what} {}, {}", shown(&rest[..i]), &rest[i + 3..]),
        None => format!(
            "unknown {what} {}",
            shown(rest.strip_suffix('`').unwrap_or(rest))
        ),
    }
}

/// What serde's `expected …` says, in the user's words: no Rust type names.
fn expected(want: &str) -> String {
    let known = match want {
        "a map" | "map" => "a mapping",
        "a sequence" | "sequence" => "a list",
        "a string" | "a borrowed string" | "string" => "a string",
        "a boolean" => "true or false",
        "a character" | "char" => "one character",
        "IPv4 address" => "an IPv4 address",
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "unit" => "nothing",
        "string or map" => "a name, or a mapping of one name to its value",
        "option" => "a value or nothing",
        _ => "",
    };
    if !known.is_empty() {
        known.to_owned()
    } else if want.starts_with("struct ") || want.starts_with("struct variant ") {
        "a mapping".to_owned()
    } else if let Some(n) = want.strip_prefix("a tuple of size ") {
        format!("a list of {n} items")
    } else if want.starts_with("tuple") {
        "a list".to_owned()
    } else if want.starts_with("enum ") || want.contains("variant") {
        "one of the names this field takes".to_owned()
    } else {
        want.to_owned()
    }
}

/// What serde's unexpected value says, without type words (`newtype struct`, `map`).
fn unexpected(found: &str) -> String {
    let say = |s: &str| s.to_owned();
    match found {
        "map" => say("a mapping"),
        "sequence" => say("a list"),
        "null" | "unit value" => say("nothing"),
        "Option value" | "newtype struct" => say("a value"),
        "enum" | "unit variant" | "newtype variant" | "tuple variant" | "struct variant" => {
            say("a tagged value")
        }
        "byte array" => say("bytes"),
        other => match other
            .strip_prefix("string \"")
            .and_then(|s| s.strip_suffix('"'))
        {
            // serde writes the string with Rust's escapes; show it as every value is shown.
            Some(escaped) => format!("the string {}", shown(&unescape(escaped))),
            None => other.chars().take(text::SHOWN_LEN_MAX).collect(),
        },
    }
}

/// Undoes Rust's `escape_debug` (what serde's `string "…"` holds), so that the value can be
/// shown like any other; an escape it does not know is kept as written.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let rest: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let code = rest
                    .strip_prefix('{')
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                match code.and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => out.push_str(&format!("\\u{rest}}}")),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The 1-based line of a field path (`all.children.kube.hosts.opti`, `nodes[2].roles[0]`) in a
/// block-style document, best effort, for errors found after parsing (serde has no location
/// then): each key is looked for inside the block of the one before it, and an index `[i]`
/// picks the i-th `- ` item of a block list. The deepest part found wins (an item in a flow
/// list `[a, b]` is on its key's line); 0 when not even the first key is found.
pub fn line_of_key(text: &str, field: &str) -> u64 {
    let lines: Vec<&str> = text.lines().collect();
    let mut at: Option<Anchor> = None;
    'path: for seg in field.split('.') {
        let mut parts = seg.split('[');
        let key = parts.next().unwrap_or(seg);
        if !key.is_empty() {
            match find_key(&lines, at.as_ref(), key) {
                Some(found) => at = Some(found),
                None => break,
            }
        }
        for index in parts {
            let item = index
                .strip_suffix(']')
                .and_then(|i| i.parse::<usize>().ok());
            match (at.as_ref(), item) {
                (Some(a), Some(i)) => match find_item(&lines, a, i) {
                    Some(found) => at = Some(found),
                    None => break 'path,
                },
                _ => break 'path,
            }
        }
    }
    at.map_or(0, |a| a.line as u64 + 1)
}

/// A key or list item found by [`line_of_key`]: its line, and the column its block is
/// indented past.
struct Anchor {
    line: usize,
    column: usize,
    item: bool,
}

/// A line's indentation and its text after any `- ` item marks (the column a key starts at).
fn columns(line: &str) -> (usize, usize, &str) {
    let t = line.trim_start();
    let indent = line.len() - t.len();
    let mut key = t;
    while let Some(rest) = key.strip_prefix("- ") {
        key = rest.trim_start();
    }
    (indent, line.len() - key.len(), key)
}

/// Whether a line is part of the block under `a` (blank lines and comments are skipped by the
/// callers): indented past it, or an item of a list under a key at the key's own column.
fn in_block(line: &str, a: &Anchor) -> bool {
    let (indent, _, _) = columns(line);
    indent > a.column || (!a.item && indent == a.column && line.trim_start().starts_with('-'))
}

fn blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The first `key:` inside `within`'s block (a top-level key when None); an item's own line
/// counts, since its first key is on it.
fn find_key(lines: &[&str], within: Option<&Anchor>, key: &str) -> Option<Anchor> {
    let pat = format!("{key}:");
    let from = within.map_or(0, |a| if a.item { a.line } else { a.line + 1 });
    let top = lines
        .iter()
        .find(|l| !blank(l) && !l.starts_with("---"))
        .map(|l| columns(l).0);
    for (i, l) in lines.iter().enumerate().skip(from) {
        if blank(l) {
            continue;
        }
        let own_item_line = within.is_some_and(|a| a.item && a.line == i);
        if !own_item_line && within.is_some_and(|a| !in_block(l, a)) {
            return None;
        }
        let (indent, column, text) = columns(l);
        if within.is_none() && (Some(column) != top || indent != column) {
            continue;
        }
        if text.starts_with(&pat) {
            return Some(Anchor {
                line: i,
                column,
                item: false,
            });
        }
    }
    None
}

/// The `index`-th `- ` item of the block list under the key `a`; None for a flow list or a
/// list too short.
fn find_item(lines: &[&str], a: &Anchor, index: usize) -> Option<Anchor> {
    if a.item {
        return None;
    }
    let mut dash = None;
    let mut seen = 0;
    for (i, l) in lines.iter().enumerate().skip(a.line + 1) {
        if blank(l) {
            continue;
        }
        if !in_block(l, a) {
            return None;
        }
        let (indent, _, _) = columns(l);
        let is_item = l.trim_start().starts_with('-');
        let d = *dash.get_or_insert(indent);
        if indent < d || (indent == d && !is_item) {
            return None;
        }
        if indent == d && is_item {
            if seen == index {
                return Some(Anchor {
                    line: i,
                    column: d,
                    item: true,
                });
            }
            seen += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only through Deserialize
    struct Doc {
        name: String,
        port: u16,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        either: Option<Either>,
        #[serde(default)]
        choice: Option<Choice>,
        #[serde(default)]
        pair: Option<(u8, u8)>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        on: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Either {
        Word(String),
        List(Vec<u8>),
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    #[allow(dead_code)]
    enum Choice {
        PowerOff(String),
    }

    /// The message for a document, which must also be one printable line in the user's words.
    fn message(text: &str) -> String {
        let e = from_str::<Doc>(text).expect_err(text);
        let m = &e.message;
        assert!(!m.chars().any(char::is_control), "{text:?}: {m}");
        for word in [
            "struct ",
            "enum ",
            "Raw",
            "Doc",
            "Inner",
            "DuplicateKeyPolicy",
            "from_multiple",
        ] {
            assert!(!m.contains(word), "{text:?}: {m}");
        }
        e.message
    }

    /// `text`'s message contains `want`.
    fn check(text: &str, want: &str) {
        let m = message(text);
        assert!(m.contains(want), "{text:?}: `{m}` lacks `{want}`");
    }

    #[test]
    fn messages_are_in_the_users_words() {
        check("x", "expected a mapping, found the string `x`");
        check("", "expected a mapping, found nothing");
        check(
            "name: a\nport: 1\ninner: 3\n",
            "expected a mapping, found integer `3`",
        );
        check(
            "name: a\nport: 1\ninner: {on: 2}\n",
            "expected true or false",
        );
        check(
            "name: a\nport: 70000\n",
            "expected a whole number from 0 to 65535, found integer `70000`",
        );
        check(
            "name: a\nport: 1\neither: {a: 1}\n",
            "not one of the forms this field takes",
        );
        check(
            "name: a\nport: 1\nchoice: {power-of: x}\n",
            "unknown variant `power-of`, expected `power-off`",
        );
        check(
            "name: a\nport: 1\nchoice: 3\n",
            "expected a name, or a mapping of one name",
        );
        check(
            "name: a\nport: 1\npair: [1]\n",
            "expected a list of 2 items, found 1",
        );
        check("name: a\nport: 1\nname: b\n", "duplicate key `name`");
        check(
            "name: a\nport: 1\n---\nname: b\nport: 2\n",
            "more than one YAML document",
        );
        check(
            "\"na\\nme\\u001b\": 1\n",
            r"unknown field `na\nme\u{1b}`, expected one of `name`",
        );
        check(
            "name: \"a\\tb\\u001b\"\nport: \"a\\nb\"\n",
            r"found the string `a\nb`",
        );
        check("name: a\nport: 1\ninner: []\n", "found a list");
        check("[a]: 1\n", "expected");
        // A YAML tag on a field of several kinds (found by the scenario fuzzer).
        check(
            "name: a\nport: 1\nchoice: !the a: {n\n",
            "unknown tag `!the` (expected a name or a map of one key",
        );
    }

    #[test]
    fn values_are_read_from_generic_values_with_plain_errors() {
        let e = from_value::<Doc>(serde_json::json!({"name": "a", "port": "x"})).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (0, "port"));
        assert_eq!(
            e.message,
            "expected a whole number from 0 to 65535, found the string `x`"
        );
    }

    #[test]
    fn lines_of_indexed_fields() {
        let text = "cluster:\n  vip: 1\nnodes:\n  - name: a\n    roles: [x]\n  - name: b\n    ssh:\n      port: 2\n\n  # note\n  - name: c\n    roles:\n    - master\n    - boss\nssh:\n  port: 3\n";
        assert_eq!(line_of_key(text, "nodes[0].name"), 4);
        assert_eq!(line_of_key(text, "nodes[1]"), 6);
        assert_eq!(line_of_key(text, "nodes[1].ssh.port"), 8);
        assert_eq!(
            line_of_key(text, "nodes[0].roles[0]"),
            5,
            "a flow list: its key's line"
        );
        assert_eq!(line_of_key(text, "nodes[2].roles[1]"), 14);
        assert_eq!(
            line_of_key(text, "nodes[2].ssh.port"),
            11,
            "not the next block's port"
        );
        assert_eq!(
            line_of_key(text, "nodes[3].name"),
            3,
            "no such node: the list's line"
        );
        assert_eq!(line_of_key(text, "ssh.port"), 16);
        assert_eq!(line_of_key(text, "(document)"), 0);
        assert_eq!(
            line_of_key("nodes:\n- name: a\n- name: b\n", "nodes[1].name"),
            3
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = from_str::<Doc>("name: a\nport: lots\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.field, "port");
        let e = from_str::<Doc>("name: a\nport: 1\nextra: 2\n").unwrap_err();
        assert!(e.message.contains("extra"), "{e:?}");
        let e = from_str::<Doc>("name: [\n").unwrap_err();
        assert_eq!(e.field, "(document)");
        assert_eq!(line_of_key("a:\n  b:\n    port: 1\n", "a.b.port"), 3);
        let text = "x:\n  port: 1\ny:\n  port: 2\n";
        assert_eq!(line_of_key(text, "y.port"), 4);
        assert_eq!(line_of_key(text, "y.missing"), 3);
    }

    #[test]
    fn yaml_1_1_words_stay_strings_and_the_right_field_is_blamed() {
        // `n` is a string in the typed pass; the generic pass must agree, or it blames `name`.
        let e = from_str::<Doc>("name: n\nport: 1\nextra: 2\n").unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{e:?}");
        let e = from_str::<Doc>("name: a\nport: 1\ninner: {on: yes}\n").unwrap_err();
        assert_eq!(e.field, "inner.on", "{e:?}");
        assert!(e.message.starts_with("expected true or false"), "{e:?}");
    }

    #[test]
    fn no_library_advice_and_no_endless_lines() {
        let m = plain("cannot deserialize null into string; use Option<String>");
        assert_eq!(m, "expected a string, found nothing");
        let m = plain("recursive references require weak recursion types");
        assert!(!m.contains("weak"), "{m}");
        let long = plain(&format!("unknown thing {}", "k".repeat(5000)));
        assert_eq!(long.chars().count(), MESSAGE_LEN_MAX + 1);
    }
}
