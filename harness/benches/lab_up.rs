//! The real-VM mode's speed target: from a cached image, `hadrill up` to SSH-ready for three
//! VMs in ≤ 90 s under TCG on the 2-core build machine (much less under KVM). Each iteration
//! makes a lab and removes it; criterion's ten samples take about fifteen minutes, so this
//! runs in the nightly job (`cargo bench -p harness --features real --bench lab_up`).

#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

fn hadrill(home: &std::path::Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_hadrill"))
        .env("HADRILL_HOME", home)
        .args(args)
        .output()
        .expect("run hadrill");
    assert!(
        out.status.success(),
        "hadrill {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bench(c: &mut Criterion) {
    let home = std::env::temp_dir().join(format!("hadrill-bench-{}", std::process::id()));
    // The image and the accelerator probe are cached before the clock starts.
    hadrill(&home, &["image", "build"]);
    hadrill(&home, &["up", "--lab", "bench"]);
    hadrill(&home, &["down", "--lab", "bench"]);
    let mut group = c.benchmark_group("lab");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(900));
    group.bench_function("up_three_vms_to_ssh_ready", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = harness::wall::now();
                hadrill(&home, &["up", "--lab", "bench"]);
                total += start.elapsed();
                hadrill(&home, &["down", "--lab", "bench"]);
            }
            total
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(home);
}

criterion_group!(benches, bench);
criterion_main!(benches);
