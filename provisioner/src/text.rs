//! Values printed safely: inside a one-line message, and as a word of a command a user pastes.
//!
//! Every value that came from a user's file, flag or file name goes through one of these
//! before it reaches a terminal: [`shown`] inside messages (escaped, so a newline or an escape
//! sequence cannot split a line or drive the terminal), [`shell_word`] in a command line that
//! hadrill prints for pasting (quoted, so pasting it runs nothing a value holds). Reading a
//! user's file goes through [`read_capped`], which never holds more than its cap.
//!
//! **Boundary:** formatting only, plus the one capped read; no meaning is given to values here.

use std::io::Read as _;
use std::path::Path;

/// A value as it appears in a message: in backticks, with control characters, quotes and
/// backslashes escaped, so the message stays one printable line.
pub fn shown(value: &str) -> String {
    format!("`{}`", printable(value))
}

/// `value` with every control character (newlines, escape sequences, DEL) written as an
/// escape, and at most [`SHOWN_LEN_MAX`] characters of it; printable text is left as it is.
pub fn printable(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(SHOWN_LEN_MAX));
    for (i, c) in value.chars().enumerate() {
        if i == SHOWN_LEN_MAX {
            out.push('…');
            break;
        }
        push_printable(&mut out, c);
    }
    out
}

/// A whole message as one printable line: control characters escaped, nothing cut. The last
/// guard before a message reaches the terminal; values inside it should already be [`shown`].
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    message.chars().for_each(|c| push_printable(&mut out, c));
    out
}

/// Pushes `c`, or its escape when a terminal would act on it rather than show it.
fn push_printable(out: &mut String, c: char) {
    if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// Most characters of one value shown in a message.
pub const SHOWN_LEN_MAX: usize = 200;

/// One word of a shell command line, for a command hadrill prints for the user to paste:
/// left bare when it holds only characters no shell treats specially, else single-quoted;
/// a word with control characters is written in bash's `$'…'` form so that it stays on one
/// line.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    if !word.chars().any(char::is_control) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\'' => out.push_str(r"\'"),
            '\\' => out.push_str(r"\\"),
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c) & 0xff)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Words joined into one shell command line, each quoted with [`shell_word`].
pub fn shell_line<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> String {
    words
        .into_iter()
        .map(|w| shell_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path as a word of a printed command (lossy for names that are not UTF-8).
pub fn shell_path(path: &Path) -> String {
    shell_word(&path.to_string_lossy())
}

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The file holds more than the cap.
    #[error("larger than {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The file is not UTF-8 text.
    #[error("not UTF-8 text")]
    NotText,
}

/// Reads a text file of at most `max` bytes without ever holding more than `max + 1` of it,
/// whatever it is (`/dev/zero`, a huge file, a pipe).
pub fn read_capped(path: &Path, max: usize) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(ReadError::TooLarge { max });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values_stay_on_one_printable_line() {
        assert_eq!(shown("node-1"), "`node-1`");
        assert_eq!(shown("a\nb"), r"`a\nb`");
        assert_eq!(shown("\u{1b}[31mred"), r"`\u{1b}[31mred`");
        let long = "x".repeat(SHOWN_LEN_MAX + 10);
        assert_eq!(shown(&long).chars().count(), SHOWN_LEN_MAX + 3);
        for v in ["a\rb", "\u{7f}", "\u{2028}", "tab\there"] {
            assert!(!shown(v).chars().any(char::is_control), "{v:?}");
        }
    }

    #[test]
    fn a_message_is_one_line() {
        assert_eq!(one_line("a: b\nc"), r"a: b\nc");
        assert_eq!(one_line(&"y".repeat(500)).len(), 500);
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("scenarios/kill-vip-holder.yaml"),
            "scenarios/kill-vip-holder.yaml"
        );
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("x;touch y"), "'x;touch y'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
        assert_eq!(shell_word("a\nb'c"), r"$'a\nb\'c'");
        assert_eq!(
            shell_line(["hadrill", "drill", "a b"]),
            "hadrill drill 'a b'"
        );
    }

    #[test]
    fn a_capped_read_never_takes_more_than_its_cap() {
        let e = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { max: 1024 }), "{e}");
        let dir = std::env::temp_dir().join(format!("hadrill-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ok.yaml");
        std::fs::write(&f, "a: 1\n").unwrap();
        assert_eq!(read_capped(&f, 5).unwrap(), "a: 1\n");
        assert!(matches!(
            read_capped(&f, 4),
            Err(ReadError::TooLarge { .. })
        ));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_capped(&f, 4), Err(ReadError::NotText)));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
