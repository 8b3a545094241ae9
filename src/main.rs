//! The `prefdissect` command line: parses the arguments and runs the command (`src/cli/`).

use std::process::ExitCode;

use clap::Parser;

use prefdissect::cli::Command;

/// Batch compute engine for dissecting what LLM judges and humans prefer.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    prefdissect::base::device::quiet_probe_environment();
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
