//! The `hadrill` binary: a thin shell over `harness::cli`. `HADRILL_LOG` (an env-filter such
//! as `info` or `provisioner=debug`) turns on logs on stderr: steps, their timing, host keys.

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Ok(filter) = std::env::var("HADRILL_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    match harness::cli::run(std::env::args_os()) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // One printable line, whatever a value in it holds.
            let line = provisioner::text::one_line(&format!("{err:#}"));
            eprintln!("hadrill: {line}");
            ExitCode::from(2)
        }
    }
}
