//! Reading YAML input files (inventories here, scenarios in the harness) with errors that
//! name a line and a field path, never a panic.
//!
//! serde-saphyr parses (panic-free, with locations); when the typed parse fails, a second pass
//! over the generic document with serde_path_to_error finds the field path. This module owns
//! only the reading; what a document means is decided by its caller.

use serde::de::DeserializeOwned;

/// Longest input file read, in bytes; a larger one is refused rather than parsed.
pub const TEXT_LEN_MAX: usize = 1 << 20;

/// Why a document could not be read into its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// Where in the document (`steps[0].fault`), or `(document)`.
    pub field: String,
    /// What is wrong, lower case, one line.
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
    serde_saphyr::from_str::<T>(text).map_err(|err| explain::<T>(text, &err))
}

/// Turns a serde-saphyr error into line + field path + message.
fn explain<T: DeserializeOwned>(text: &str, err: &serde_saphyr::Error) -> Error {
    let line = err.location().map_or(0, |l| l.line());
    let generic = serde_saphyr::from_str::<serde_json::Value>(text);
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
        message,
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

/// The 1-based line of a dotted field path (`all.children.kube.hosts.opti`), best effort: each
/// key is looked for after the line of the one before it, and the deepest key found wins (0
/// when none is). For errors found after parsing, when serde has no location.
pub fn line_of_key(text: &str, field: &str) -> u64 {
    let lines: Vec<&str> = text.lines().collect();
    let mut at: Option<usize> = None;
    for seg in field.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        if key.is_empty() {
            continue;
        }
        let pat = format!("{key}:");
        let from = at.map_or(0, |i| i + 1);
        let found = lines[from.min(lines.len())..].iter().position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&pat)
        });
        match found {
            Some(k) => at = Some(from + k),
            None => break,
        }
    }
    at.map_or(0, |i| i as u64 + 1)
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
}
