//! The `simulate` command: a paper-shaped synthetic data set in the authors' format, with
//! known true weights.

use std::path::PathBuf;

use clap::Args;

use crate::Result;
use crate::simulate;

/// Flags of `simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SimulateArgs {
    /// Runs `simulate`.
    pub fn run(self) -> Result<()> {
        let SimulateArgs { out, seed } = self;

        let sim = simulate::simulate(seed);
        simulate::write_simulated(&sim, &out, seed)?;
        eprintln!(
            "wrote a simulated data set ({} samples, {} groups, {} judges) to {}",
            sim.records.len(),
            sim.groups.len(),
            sim.labels.len(),
            out.display()
        );
        Ok(())
    }
}
