//! The `fit` command end to end: load → design → solve → analyse → report.

use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::analyse::fold_average;
use crate::analyse::heldout::{held_out, pooled};
use crate::analyse::tables::SCENARIO_MEAN;
use crate::base::device::BackendChoice;
use crate::base::error::{Error, Result};
use crate::base::features::N_FEATURES;
use crate::base::lock::OutLock;
use crate::base::mcmc::diagnostics::{ESS_WARN, RHAT_WARN};
use crate::design::BatchDesign;
use crate::design::job_fingerprint;
use crate::load::{Dataset, Selection};
use crate::report::checkpoint::FitCheckpoint;
use crate::report::{self, FITTED_PARAS_DIR, csv_field};
use crate::solve::backend::GradientBackend;
use crate::solve::backend::engine::EngineBackend;
use crate::solve::map::MapSolution;
use crate::solve::map::solve_map;
use crate::solve::posterior::{
    BlockCheckpoint, BlockResult, PosteriorSolution, solve_posterior_resumable,
};
use crate::solve::settings::{Estimator, EstimatorSettings, FitConfig};

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
    pub fn weights(&self) -> Vec<[f64; N_FEATURES]> {
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

/// Where a job's checkpoint lives, and whether to resume from it.
struct CheckpointAt<'a> {
    out: &'a Path,
    resume: bool,
}

/// A solved job with what its writer still holds.
struct Solved {
    outcome: FitOutcome,
    checkpoint: Option<FitCheckpoint>,
    lock: Option<OutLock>,
    /// A MAP job whose fits missed the tolerance: its files are written, then the run fails.
    map_failure: Option<Error>,
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
/// `resume`, continuing from the one an interrupted run left (posterior mean; a MAP job is
/// refitted whole, it takes a second).
pub fn fit_resumable(req: &FitRequest, resume: bool) -> Result<FitOutcome> {
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
    let at = CheckpointAt {
        out: &req.out,
        resume,
    };
    let solved = solve_loaded(data, job, Some(at))?;
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

/// Designs and solves `data`, rendering the output files; with `at`, holding OUT's lock and
/// checkpointing finished posterior blocks there.
fn solve_loaded(data: Dataset, job: FitJob<'_>, at: Option<CheckpointAt<'_>>) -> Result<Solved> {
    let cfg = job.config;
    let folds = cfg.folds.unwrap_or(10);
    let fold_seed = cfg.fold_seed.unwrap_or(0);
    let settings = cfg.estimator_settings(Estimator::PosteriorMean)?;
    let t_load = job.load_seconds;
    let t1 = Instant::now();
    let design = BatchDesign::build(&data, folds, fold_seed)?;
    let t_design = t1.elapsed().as_secs_f64();
    // Held until the outputs are written: a second run into the same OUT stops here.
    let lock = at.as_ref().map(|at| OutLock::acquire(at.out)).transpose()?;
    let t2 = Instant::now();
    let lanes = match &settings {
        EstimatorSettings::Map(_) => design.fits.len(),
        EstimatorSettings::Posterior(p) => design.fits.len() * p.chains(),
    };
    let (engine, selected) =
        EngineBackend::select(job.backend, lanes.div_ceil(crate::design::LANES));
    let mut device_warnings: Vec<String> = selected.warning.iter().cloned().collect();
    // The posterior's checkpoint, removed once the outputs are written.
    let checkpoint: std::sync::Mutex<Option<FitCheckpoint>> = std::sync::Mutex::new(None);
    let solve = |backend: &EngineBackend| -> Result<Solution> {
        Ok(match &settings {
            EstimatorSettings::Map(p) => Solution::Map(solve_map(&design, backend, p)),
            EstimatorSettings::Posterior(p) => {
                let bar = progress_bar(job.progress);
                let tick = |total: usize| {
                    if let Some(bar) = &bar {
                        bar.set_length(total as u64);
                        bar.inc(1);
                    }
                };
                let Some(at) = &at else {
                    let s = solve_posterior_resumable(&design, &data, backend, p, &tick, None)?;
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
                    return Ok(Solution::Posterior(s));
                };
                let mut ckpt = FitCheckpoint::open(
                    at.out,
                    &job_fingerprint(
                        &data,
                        &design.groups,
                        &json!({"settings": settings.to_json(), "folds": folds,
                                "fold_seed": fold_seed}),
                    ),
                    &backend.name(),
                    at.resume,
                )?;
                let done = std::mem::take(&mut ckpt.done);
                let failed = std::sync::Mutex::new(None);
                let save = |key: usize, block: &BlockResult| {
                    if let Err(e) = ckpt.save(key, block) {
                        failed.lock().expect("lock").get_or_insert(e);
                    }
                };
                let blocks = BlockCheckpoint { done, save: &save };
                let s =
                    solve_posterior_resumable(&design, &data, backend, p, &tick, Some(&blocks))?;
                if let Some(e) = failed.into_inner().expect("lock") {
                    return Err(e);
                }
                *checkpoint.lock().expect("lock") = Some(ckpt);
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                Solution::Posterior(s)
            }
        })
    };
    let (solution, fell_back) = engine.run_or_cpu(solve);
    if fell_back {
        device_warnings.push("the wgpu backend failed during the run; redid it on the CPU".into());
    }
    let solution = solution?;
    let t_solve = t2.elapsed().as_secs_f64();

    let judge_names: Vec<String> = data.judges.iter().map(|j| j.name.clone()).collect();
    check_finite(&design, &judge_names, &solution)?;
    let weights = solution.weights();
    let averaged = fold_average(&design, &weights);
    let mut files = Vec::new();
    for (gi, g) in design.groups.iter().enumerate() {
        let entries: Vec<_> = averaged.iter().filter(|e| e.group == gi).collect();
        files.push((
            format!("{FITTED_PARAS_DIR}/{}", report::fitted_paras_file(&g.name)),
            report::render_fitted_paras(&entries, &judge_names),
        ));
    }
    let held = held_out(&design, &data, &weights);
    let fit_lines: Vec<Value> = design
        .fits
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut line = json!({
                "judge": judge_names[f.judge],
                "group": design.groups[f.group].name,
                "fold": f.fold,
                "n_train": f.n_train,
            });
            let extra = match &solution {
                Solution::Map(s) => report::map_fit_json(&s.fits[i]),
                Solution::Posterior(s) => report::posterior_fit_json(&s.fits[i]),
            };
            line.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            if let Some(h) = &held[i] {
                line["heldout"] = json!({"n": h.n, "accuracy": h.accuracy(),
                                         "log_loss": h.log_loss()});
            }
            line
        })
        .collect();
    files.push(("fits.jsonl".into(), report::render_jsonl(&fit_lines)));
    let pooled_heldout = pooled(&design, &data, &held);
    if !pooled_heldout.is_empty() {
        let mut text = String::from("judge,group,n,accuracy,log_loss\n");
        for (j, group, h) in &pooled_heldout {
            text.push_str(&format!(
                "{},{},{},{},{}\n",
                csv_field(&judge_names[*j]),
                csv_field(group),
                h.n,
                h.accuracy(),
                h.log_loss()
            ));
        }
        files.push(("heldout.csv".into(), text));
    }

    let mut warnings = device_warnings;
    // A MAP run whose fits missed the KKT tolerance still writes its files, then fails.
    let mut map_failure = None;
    let (backend, counts, detail) = match (&settings, &solution) {
        (EstimatorSettings::Map(p), Solution::Map(s)) => {
            let over = s.unconverged(p.kkt_tol());
            if over > 0 {
                map_failure = Some(Error::NotConverged {
                    count: over,
                    tol: p.kkt_tol(),
                    max_iter: p.max_iter(),
                });
                warnings.push(format!(
                    "{over} fits did not reach KKT <= {:e}",
                    p.kkt_tol()
                ));
            }
            (
                s.backend.clone(),
                json!({
                    "fits_over_kkt_tol": over,
                    "fits_polished_f64": s.fits.iter().filter(|f| f.polish_iterations > 0).count(),
                    "max_kkt": s.fits.iter().map(|f| f.kkt).fold(0.0, f64::max),
                }),
                serde_json::to_value(&s.timings).expect("json"),
            )
        }
        (EstimatorSettings::Posterior(p), Solution::Posterior(s)) => {
            let high_rhat = s
                .fits
                .iter()
                .filter(|f| f.max_rhat().is_nan() || f.max_rhat() > RHAT_WARN)
                .count();
            // Warned about: R-hat above what the fit's own draws can resolve (fits.jsonl and
            // the count above keep every figure as it is).
            let unresolved_rhat = s
                .fits
                .iter()
                .filter(|f| f.rhat_unresolved(p.chains()))
                .count();
            let low_ess = s
                .fits
                .iter()
                .filter(|f| f.min_ess().is_nan() || f.min_ess() < ESS_WARN)
                .count();
            let divergent = s.fits.iter().filter(|f| f.divergences > 0).count();
            if unresolved_rhat > 0 {
                warnings.push(format!(
                    "{unresolved_rhat} fits have a weight with R-hat > {RHAT_WARN} and above \
                     what their draws resolve; more draws (--draws, or configs/paper.json) settle it \
                     (docs/fidelity.md, \"R-hat warnings\")"
                ));
            }
            if low_ess > 0 {
                warnings.push(format!(
                    "{low_ess} fits have a weight with bulk ESS < {ESS_WARN}; more draws \
                     (--draws, or configs/paper.json) raise it"
                ));
            }
            if divergent > 0 {
                warnings.push(format!("{divergent} fits had divergent transitions"));
            }
            (
                s.backend.clone(),
                json!({
                    "fits_rhat_over_1.01": high_rhat,
                    "fits_rhat_over_resolution": unresolved_rhat,
                    "fits_ess_under_400": low_ess,
                    "fits_with_divergences": divergent,
                    "max_rhat": s.fits.iter().map(|f| f.max_rhat()).fold(f64::NAN, f64::max),
                    "min_ess": s.fits.iter().map(|f| f.min_ess()).fold(f64::NAN, f64::min),
                    "max_mcse": s.fits.iter()
                        .flat_map(|f| f.mcse.iter().copied())
                        .fold(f64::NAN, f64::max),
                }),
                serde_json::to_value(&s.timings).expect("json"),
            )
        }
        _ => unreachable!("the solution comes from the settings"),
    };
    let mut settings_json = settings.to_json();
    settings_json["folds"] = json!(folds);
    settings_json["fold_seed"] = json!(fold_seed);
    let mut counts_json = json!({
        "judges": data.judges.len(),
        "groups": design.groups.len(),
        "fits": design.fits.len(),
        "samples": data.annotations.n_samples(),
        "samples_unchecked_999": data.annotations.unchecked.iter().filter(|&&u| u).count(),
    });
    counts_json
        .as_object_mut()
        .expect("object")
        .extend(counts.as_object().expect("object").clone());
    let summary = json!({
        "tool": concat!("prefdissect ", env!("CARGO_PKG_VERSION")),
        "data": job.data_label,
        "settings": settings_json,
        "backend": backend,
        "device": {
            "requested": job.backend,
            "kind": selected.kind,
            "adapter": selected.adapter,
            "note": selected.note,
        },
        // What this run wrote: files of other groups in OUT are from earlier runs.
        "judges": judge_names,
        "groups": design.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        "counts": counts_json,
        "warnings": warnings,
        // Each fold's model predicting its left-out rows, pooled over the scenario groups.
        "heldout_scenarios": pooled_heldout.iter()
            .filter(|(_, g, _)| g == SCENARIO_MEAN)
            .map(|(j, _, h)| (judge_names[*j].clone(),
                              json!({"n": h.n, "accuracy": h.accuracy(), "log_loss": h.log_loss()})))
            .collect::<serde_json::Map<String, Value>>(),
        "timings_s": {
            "load": t_load,
            "design": t_design,
            "solve": t_solve,
            "solve_detail": detail,
        },
    });
    files.push((
        "summary.json".into(),
        serde_json::to_string_pretty(&summary).expect("json") + "\n",
    ));
    Ok(Solved {
        outcome: FitOutcome {
            design,
            data,
            solution,
            summary,
            warnings,
            files,
        },
        checkpoint: checkpoint.into_inner().expect("lock"),
        lock,
        map_failure,
    })
}

fn progress_bar(show: bool) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} blocks of chains, ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    Some(bar)
}

/// The output must be a directory (or not exist yet); a file there is an error, not overwritten.
/// NaN or infinity never reaches an output file: every estimate of every fit (weights; a
/// posterior's means, sds and MCSEs) must be finite, else the run fails naming the first fit
/// that is not. (Diagnostics such as R-hat may be undefined and are written as `null`.)
pub fn check_finite(design: &BatchDesign, judges: &[String], solution: &Solution) -> Result<()> {
    for (i, f) in design.fits.iter().enumerate() {
        let fields: Vec<(&'static str, &[f64])> = match solution {
            Solution::Map(s) => vec![("weights", &s.fits[i].weights[..])],
            Solution::Posterior(s) => vec![
                ("mean", &s.fits[i].mean[..]),
                ("sd", &s.fits[i].sd[..]),
                ("mcse", &s.fits[i].mcse[..]),
            ],
        };
        for (field, values) in fields {
            if let Some(&value) = values.iter().find(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    fit: format!(
                        "{} / {} / {}",
                        judges[f.judge],
                        design.groups[f.group].name,
                        f.fold.map_or("all rows".into(), |k| format!("fold {k}"))
                    ),
                    field,
                    value,
                });
            }
        }
    }
    Ok(())
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
    /// Continue from the checkpoint an interrupted posterior fit left in OUT (same data and
    /// settings; the outputs are those of an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
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
        } = self;

        let req = FitRequest {
            data,
            out: out.clone(),
            selection: Selection { judges, groups },
            config: FitConfig::load(config.as_deref(), &flags)?,
            progress: !quiet,
            backend,
        };
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
