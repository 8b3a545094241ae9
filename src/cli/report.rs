//! The `report` command: one self-contained HTML page from a fit (dissection chart,
//! similarity heatmap, tables, a SHAP waterfall).

use std::path::PathBuf;

use clap::Args;

use crate::Result;

/// Flags of `report`.
#[derive(Args)]
pub struct ReportArgs {
    /// A `fit` output directory, or a directory of `model_<group>_fitted_paras.jsonl` files.
    #[arg(long)]
    pub fit: PathBuf,
    /// A `bootstrap` output directory: adds similarity intervals.
    #[arg(long)]
    pub bootstrap: Option<PathBuf>,
    /// The data (a pairs table or the authors' directory): adds a SHAP waterfall for `--sample`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Judges in the dissection chart (comma-separated; default up to 4, human first).
    #[arg(long, value_delimiter = ',')]
    pub judges: Option<Vec<String>>,
    /// Sample of the SHAP waterfall.
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// The HTML file.
    #[arg(long)]
    pub out: PathBuf,
}

impl ReportArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let ReportArgs {
            fit,
            bootstrap,
            data,
            judges,
            sample,
            out,
        } = self;
        let charted = crate::report::html::report(&crate::report::html::ReportRequest {
            fit,
            bootstrap,
            data,
            judges,
            sample,
            out: out.clone(),
        })?;
        eprintln!("wrote {} (charted: {})", out.display(), charted.join(", "));
        Ok(())
    }
}
