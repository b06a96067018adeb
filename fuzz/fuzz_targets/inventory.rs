//! Any bytes as an inventory (YAML or INI): never a panic; an error is one printable line that names the
//! file and shows no Rust type name, no library advice and no unknown line number.
#![no_main]

use libfuzzer_sys::fuzz_target;
use provisioner::model::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // YAML by its name; INI (Ansible's default, no extension) when the text says so.
    for name in ["inv.yml", "inv"] {
        for profile in [Profile::Bare, Profile::Kubernetes] {
            let path = std::path::Path::new(name);
            if let Err(e) = provisioner::inventory::parse(path, text, profile) {
                check_message(&e.to_string(), text, name);
            }
        }
    }
});

/// What every error message must be (the same rules as harness/tests/errors.rs).
fn check_message(m: &str, input: &str, name: &str) {
    assert!(m.starts_with(name), "names the file: {m}");
    assert!(
        !m.chars().any(char::is_control),
        "one printable line: {m:?}"
    );
    // A word the input itself holds may be quoted back (a key named "enum x"): not ours.
    for bad in ["struct ", "enum ", "Raw", "DuplicateKeyPolicy", ":0:"] {
        assert!(shows(input, bad) || !shows(m, bad), "shows `{bad}`: {m}");
    }
}

/// `word` stands in `m` as a word of its own, not inside another ("construct " holds "struct ").
fn shows(m: &str, word: &str) -> bool {
    m.match_indices(word)
        .any(|(i, _)| !m[..i].ends_with(|c: char| c.is_alphanumeric()))
}
