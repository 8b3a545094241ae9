//! The `fit` command end to end: load → design → solve → analyse → report.

use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

pub use super::fit_job::check_finite;
use super::fit_job::{CheckpointAt, solve_loaded};
use crate::base::device::BackendChoice;
use crate::base::error::{Error, Result};
use crate::base::features::MAX_K;
pub use crate::design::SHARD_MANIFEST;
use crate::design::{BatchDesign, Shard};
use crate::load::{Dataset, Selection};
use crate::report;
use crate::solve::map::MapSolution;
use crate::solve::posterior::PosteriorSolution;
use crate::solve::settings::{Estimator, FitConfig};

/// Everything a `fit` run needs.
#[derive(Clone, Debug)]
pub struct FitRequest {
    /// The data: a pairs table (.parquet or .csv), or the authors' directory.
    pub data: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// Judges and groups to fit.
    pub selection: Selection,
    /// Settings (config file merged with flags).
    pub config: FitConfig,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Where the solvers run (`auto`: wgpu on a hardware adapter for a large batch; see
    /// [`crate::base::device::select`]).
    pub backend: BackendChoice,
}

/// The estimator's results.
#[derive(Clone, Debug)]
pub enum Solution {
    /// Posterior summaries (HMC).
    Posterior(PosteriorSolution),
    /// MAP fits (FISTA).
    Map(MapSolution),
}

impl Solution {
    /// The reported weights of every fit (posterior mean or MAP).
    pub fn weights(&self) -> Vec<[f64; MAX_K]> {
        match self {
            Solution::Posterior(s) => s.fits.iter().map(|f| f.mean).collect(),
            Solution::Map(s) => s.fits.iter().map(|f| f.weights).collect(),
        }
    }
}

/// What a finished run reports back (also written as `summary.json`).
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// The design that was solved.
    pub design: BatchDesign,
    /// The loaded data set.
    pub data: Dataset,
    /// Per-fit results.
    pub solution: Solution,
    /// The summary document.
    pub summary: Value,
    /// Human-readable warnings (also in the summary).
    pub warnings: Vec<String>,
    /// Those of `warnings` that are the sampler's mixing diagnostics (R-hat, ESS,
    /// divergences): expected under fast settings, where more draws settle them.
    pub mixing: Vec<String>,
    /// Every output file (path under OUT, contents), `summary.json` last: what `fit --out`
    /// writes, so an in-memory fit (the Python package's) saves the same bytes later.
    pub files: Vec<(String, String)>,
}

/// How a fit job was asked for, apart from its data.
#[derive(Clone, Copy, Debug)]
pub struct FitJob<'a> {
    /// Settings (config file merged with flags).
    pub config: &'a FitConfig,
    /// Where the solvers run.
    pub backend: BackendChoice,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// The input as `summary.json` names it.
    pub data_label: &'a str,
    /// Seconds spent loading the data (for `summary.json`).
    pub load_seconds: f64,
}

/// Solves a loaded data set in memory and renders (does not write) its output files; a MAP
/// fit that missed its tolerance comes back as the error beside the outcome.
pub fn fit_in_memory(data: Dataset, job: FitJob<'_>) -> Result<(FitOutcome, Option<Error>)> {
    let solved = solve_loaded(data, job, None)?;
    Ok((solved.outcome, solved.map_failure))
}

/// Runs a fit and writes its outputs.
pub fn fit(req: &FitRequest) -> Result<FitOutcome> {
    fit_resumable(req, false)
}

/// [`fit`], keeping a checkpoint of finished blocks in `OUT/.fit-checkpoint` as it goes; with
/// `resume`, continuing from the one an interrupted run left (both estimators).
pub fn fit_resumable(req: &FitRequest, resume: bool) -> Result<FitOutcome> {
    run_fit(req, FitMode::Whole { resume })
}

/// How a `fit` run uses its output directory.
#[derive(Clone, Copy, Debug)]
pub enum FitMode {
    /// The whole job; `resume` continues from OUT's checkpoint.
    Whole {
        /// Continue from the blocks an interrupted run left.
        resume: bool,
    },
    /// One shard's blocks, kept in OUT's checkpoint with a `shard.json` manifest.
    Shard {
        /// Which shard.
        shard: Shard,
        /// Continue from the blocks an interrupted run of this shard left.
        resume: bool,
    },
    /// The outputs of the whole job from the blocks `merge` gathered in OUT's checkpoint.
    Merge,
}

/// Runs a fit job in `mode`, writing its outputs (or, for a shard, its blocks and manifest).
pub fn run_fit(req: &FitRequest, mode: FitMode) -> Result<FitOutcome> {
    let t0 = Instant::now();
    req.config.estimator_settings(Estimator::PosteriorMean)?;
    check_out_dir(&req.out)?;
    let data = Dataset::load(&req.data, &req.selection)?;
    let data_label = req.data.display().to_string();
    let job = FitJob {
        config: &req.config,
        backend: req.backend,
        progress: req.progress,
        data_label: &data_label,
        load_seconds: t0.elapsed().as_secs_f64(),
    };
    let (resume, shard, merge) = match mode {
        FitMode::Whole { resume } => (resume, None, false),
        FitMode::Shard { shard, resume } => (resume, Some(shard), false),
        FitMode::Merge => (true, None, true),
    };
    let at = CheckpointAt {
        out: &req.out,
        resume,
        shard,
        merge,
    };
    let mut solved = solve_loaded(data, job, Some(at))?;
    if shard.is_some() {
        // What `merge` needs to redo the whole job's outputs from the shards' blocks.
        let mut manifest = solved.outcome.summary.clone();
        manifest["request"] = json!({
            "data": req.data,
            "judges": req.selection.judges,
            "groups": req.selection.groups,
            "config": req.config,
            "backend": req.backend,
        });
        solved.outcome.files = vec![(
            SHARD_MANIFEST.into(),
            serde_json::to_string_pretty(&manifest).expect("json") + "\n",
        )];
        solved.outcome.summary = manifest;
    }
    report::write_all(&req.out, &solved.outcome.files)?;
    if let Some(c) = solved.checkpoint {
        c.finish()?;
    }
    if let Some(e) = solved.map_failure {
        return Err(e);
    }
    // Said to the user, not recorded: a resumed run's files are an uninterrupted run's.
    let mut outcome = solved.outcome;
    if let Some(w) = solved.lock.and_then(|l| l.warning.clone()) {
        outcome.warnings.insert(0, w);
    }
    Ok(outcome)
}

fn check_out_dir(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(Error::Setting {
            name: "out",
            message: format!("{} exists and is not a directory", out.display()),
        });
    }
    Ok(())
}

/// Flags of `fit`.
#[derive(Args)]
pub struct FitArgs {
    /// The data: a pairs table (.parquet or .csv), or the authors' directory (resolved.jsonl, query_aware_idxs.json, labels/JUDGE.json).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory (created; files in it are replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Settings file (configs/*.json); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Judges to fit (comma-separated file stems); default all.
    #[arg(long, value_delimiter = ',')]
    pub judges: Option<Vec<String>>,
    /// Groups to fit (comma-separated); default all 16.
    #[arg(long, value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    // No doc comment: clap would print it in --help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub settings: FitConfig,
    /// Where the solvers run: `auto` (the CPU for now, see README), `cpu`, or `wgpu`
    /// (Vulkan; falls back to the CPU with a warning when no adapter comes up).
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: crate::base::device::BackendChoice,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Continue from the checkpoint an interrupted fit left in OUT (same data and settings;
    /// the outputs are those of an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Fit only shard K of N (0-based, `--shard 2/8`): whole blocks of fits, deterministic;
    /// OUT gets the shard's blocks and a shard.json for `prefdissect merge` (posterior mean).
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

impl FitArgs {
    /// Runs `fit`.
    pub fn run(self) -> Result<()> {
        let FitArgs {
            data,
            out,
            config,
            judges,
            groups,
            settings: flags,
            backend,
            quiet,
            resume,
            shard,
        } = self;

        let req = FitRequest {
            data,
            out: out.clone(),
            selection: Selection { judges, groups },
            config: FitConfig::load(config.as_deref(), &flags)?,
            progress: !quiet,
            backend,
        };
        if let Some(shard) = shard {
            let outcome = run_fit(&req, FitMode::Shard { shard, resume })?;
            eprintln!(
                "fitted shard {shard}: {} of {} fits; wrote {} (merge with `prefdissect merge`)",
                outcome.summary["fits"],
                outcome.summary["of_fits"],
                out.join(SHARD_MANIFEST).display()
            );
            return Ok(());
        }
        let outcome = fit_resumable(&req, resume)?;
        let s = &outcome.summary;
        eprintln!(
            "fitted {} models ({} judges × {} groups × {} folds, {}) on {} in {:.3} s; wrote {}",
            s["counts"]["fits"],
            s["counts"]["judges"],
            s["counts"]["groups"],
            s["settings"]["folds"],
            s["settings"]["estimator"].as_str().unwrap_or("?"),
            s["backend"].as_str().unwrap_or("?"),
            s["timings_s"]["solve"].as_f64().unwrap_or(0.0),
            out.display()
        );
        for w in &outcome.warnings {
            eprintln!("warning: {w}");
        }
        Ok(())
    }
}

/// `--shard K/N` for clap, with the library's message.
pub fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.to_string())
}
