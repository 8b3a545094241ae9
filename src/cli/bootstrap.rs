//! The `bootstrap` command: intervals for every judge × group model (and the probabilities
//! and similarities read from them) in one batched job.

use std::path::PathBuf;

use clap::Args;

use crate::Result;
use crate::load::Selection;
use crate::solve::settings::FitConfig;

/// Flags of `bootstrap`.
#[derive(Args)]
pub struct BootstrapArgs {
    /// The data: a pairs table (.parquet or .csv), or the authors' directory (resolved.jsonl, query_aware_idxs.json, labels/JUDGE.json).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory: bootstrap_ci.csv, bootstrap_ci.json, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Replicates per model.
    #[arg(long)]
    pub replicates: usize,
    /// Settings file (configs/*.json) for the estimator; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Judges (comma-separated file stems); default all.
    #[arg(long, value_delimiter = ',')]
    pub judges: Option<Vec<String>>,
    /// Groups (comma-separated); default all 16.
    #[arg(long, value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    /// Resample rows with independent Poisson(1) counts instead of multinomially.
    #[arg(long)]
    pub poisson: bool,
    /// Resampling scheme (`--poisson` is short for `--resampling poisson`).
    #[arg(
        long,
        value_enum,
        default_value = "multinomial",
        conflicts_with = "poisson"
    )]
    pub resampling: crate::bootstrap::Resampling,
    /// Coverage of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Also compute BCa intervals (acceleration from a delete-a-group jackknife).
    #[arg(long)]
    pub bca: bool,
    /// Groups of that jackknife.
    #[arg(long, default_value_t = 20)]
    pub jackknife_groups: usize,
    /// Memory for the kept replicates and those in flight (e.g. 512MiB, 4GiB).
    #[arg(long, default_value = "1GiB", value_parser = crate::bootstrap::parse_size)]
    pub memory_budget: u64,
    /// Continue from the checkpoint an interrupted run left in OUT.
    #[arg(long)]
    pub resume: bool,
    /// Where the solvers run: `auto` (the CPU for now), `cpu`, or `wgpu`.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: crate::base::device::BackendChoice,
    // No doc comment: clap would print it in --help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub settings: FitConfig,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl BootstrapArgs {
    /// Runs `bootstrap`.
    pub fn run(self) -> Result<()> {
        let BootstrapArgs {
            data,
            out,
            replicates,
            config,
            judges,
            groups,
            poisson,
            resampling,
            level,
            bca,
            jackknife_groups,
            memory_budget,
            resume,
            backend,
            settings: flags,
            quiet,
        } = self;

        let config = FitConfig::load(config.as_deref(), &flags)?;
        let resampling = if poisson {
            crate::bootstrap::Resampling::Poisson
        } else {
            resampling
        };
        let params = crate::bootstrap::BootstrapParams::new()
            .replicates(replicates)
            .resampling(resampling)
            .level(level)
            .bca(bca)
            .jackknife_groups(jackknife_groups)
            .memory_budget(memory_budget)
            .seed(config.seed.unwrap_or(0))
            .check()?;
        let req = crate::bootstrap::BootstrapRequest {
            data,
            out: out.clone(),
            selection: Selection { judges, groups },
            config,
            params,
            resume,
            progress: !quiet,
            stop_after_chunks: None,
            backend,
        };
        let outcome = crate::bootstrap::bootstrap(&req)?;
        let s = &outcome.summary;
        eprintln!(
            "bootstrapped {} models × {} replicates ({} fits, {}) in {:.2} s ({:.0} replicate fits/s); wrote {}",
            s["counts"]["models"],
            s["counts"]["replicates"],
            s["counts"]["replicate_fits"],
            s["settings"]["estimator"]["estimator"]
                .as_str()
                .unwrap_or("?"),
            s["timings_s"]["total_this_call"].as_f64().unwrap_or(0.0),
            s["throughput"]["replicate_fits_per_s"]
                .as_f64()
                .unwrap_or(0.0),
            out.display()
        );
        for w in &outcome.warnings {
            eprintln!("warning: {w}");
        }
        Ok(())
    }
}
