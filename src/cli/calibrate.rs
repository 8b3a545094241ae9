//! The `calibrate` command: the bootstrap checked on simulated data (bootstrap sd against the
//! true sampling sd over fresh data sets, and interval coverage per property).

use std::path::PathBuf;

use clap::Args;

use crate::Result;

/// Flags of `calibrate`.
#[derive(Args)]
pub struct CalibrateArgs {
    /// Fresh simulated data sets.
    #[arg(long, default_value_t = 200)]
    pub refits: usize,
    /// Bootstrap replicates per data set.
    #[arg(long, default_value_t = 200)]
    pub replicates: usize,
    /// Judges.
    #[arg(long, default_value_t = 8)]
    pub judges: usize,
    /// Rows of each group (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "400,400,820")]
    pub group_sizes: Vec<usize>,
    /// Interval coverage.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the full report (every weight) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where the fits run.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: crate::base::device::BackendChoice,
}

impl CalibrateArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let CalibrateArgs {
            refits,
            replicates,
            judges,
            group_sizes,
            level,
            seed,
            json,
            backend,
        } = self;
        use crate::bootstrap::calibrate;
        if refits < 3 || replicates < 2 || judges == 0 || group_sizes.iter().any(|&n| n < 2) {
            return Err(crate::Error::Setting {
                name: "calibrate",
                message: "needs refits >= 3, replicates >= 2, judges >= 1, groups of >= 2 rows"
                    .into(),
            });
        }
        let report = calibrate::calibrate(&calibrate::CalibrationParams {
            refits,
            replicates,
            judges,
            group_sizes,
            level,
            seed,
            backend,
        })?;
        print!("{}", calibrate::render(&report));
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&report).expect("json");
            crate::base::atomic::write_atomic(&path, text.as_bytes())?;
        }
        Ok(())
    }
}
