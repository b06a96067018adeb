//! The `hadrill` binary: a thin shell over `harness::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match harness::cli::run(std::env::args_os()) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("hadrill: {err:#}");
            ExitCode::from(2)
        }
    }
}
