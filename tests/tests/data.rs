//! Data files agree with the code that uses them.

use std::path::Path;

#[test]
fn disk_profiles_file_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vm-templates/disk-profiles.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    for name in harness::disk::PROFILES {
        let p = harness::disk::profile(name).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(
            line.contains(&format!("total_iops_sec: {},", p.iops)),
            "{line}"
        );
        assert!(
            line.contains(&format!("total_bytes_sec: {},", p.bytes_per_sec)),
            "{line}"
        );
        let ms = p.sync_write.as_secs_f64() * 1000.0;
        assert!(
            line.contains(&format!("sync_write_ms: {ms}}}")),
            "{line} vs {ms}"
        );
    }
}
