//! Any bytes as a scenario: never a panic; an error is one printable line that names the file
//! and shows no Rust type name, no library advice and no unknown line number.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("t.yaml");
    if let Err(e) = hadrill_core::scenario::parse(path, text) {
        let m = e.to_string();
        assert!(m.starts_with("t.yaml"), "names the file: {m}");
        assert!(
            !m.chars().any(char::is_control),
            "one printable line: {m:?}"
        );
        // A word the input itself holds may be quoted back (a key named "enum x"): not ours.
        for bad in ["struct ", "enum ", "Raw", "DuplicateKeyPolicy", ":0:"] {
            assert!(shows(text, bad) || !shows(&m, bad), "shows `{bad}`: {m}");
        }
    }
});

/// `word` stands in `m` as a word of its own, not inside another ("construct " holds "struct ").
fn shows(m: &str, word: &str) -> bool {
    m.match_indices(word)
        .any(|(i, _)| !m[..i].ends_with(|c: char| c.is_alphanumeric()))
}
