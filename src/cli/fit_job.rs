//! The body of a `fit` job: design, solve (holding OUT's lock and checkpointing finished
//! blocks when it writes there), and render every output file in memory, so the
//! CLI writes them and the Python package can keep them for `Fit.save`.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use super::fit::{FitJob, FitOutcome, Solution};
use crate::analyse::fold_average;
use crate::analyse::heldout::{held_out, pooled};
use crate::analyse::tables::SCENARIO_MEAN;
use crate::base::error::{Error, Result};
use crate::base::lock::OutLock;
use crate::base::mcmc::diagnostics::{ESS_WARN, RHAT_WARN};
use crate::design::job_fingerprint;
use crate::design::{BatchDesign, SHARD_MANIFEST, Shard};
use crate::load::Dataset;
use crate::report::checkpoint::FitCheckpoint;
use crate::report::{self, FITTED_PARAS_DIR, csv_field};
use crate::solve::backend::GradientBackend;
use crate::solve::backend::engine::EngineBackend;
use crate::solve::map::fista::LaneResult;
use crate::solve::map::{MapBlockCheckpoint, MapOptions, solve_map_with};
use crate::solve::posterior::{BlockCheckpoint, BlockResult, solve_posterior_resumable};
use crate::solve::settings::{Estimator, EstimatorSettings};

/// How long finished MAP blocks wait before they are saved as one batch: 1 s, or
/// `PREFDISSECT_MAP_CHECKPOINT_MS` (the fault tests set 0, so every block of a small job is
/// saved and a kill can land between saves).
fn map_checkpoint_every() -> std::time::Duration {
    let ms = std::env::var("PREFDISSECT_MAP_CHECKPOINT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    std::time::Duration::from_millis(ms)
}

/// Where a job's checkpoint lives, and how the job uses it.
pub(crate) struct CheckpointAt<'a> {
    pub(crate) out: &'a Path,
    /// Continue from the blocks an earlier run left there.
    pub(crate) resume: bool,
    /// Fit only this shard's blocks and keep them there, rendering no outputs: the shard's
    /// manifest is the one file written.
    pub(crate) shard: Option<Shard>,
    /// Merging shards: the checkpoint holds every block (whatever backend made them) and the
    /// run computes none; a block missing is an error.
    pub(crate) merge: bool,
}

/// A solved job with what its writer still holds.
pub(crate) struct Solved {
    pub(crate) outcome: FitOutcome,
    pub(crate) checkpoint: Option<FitCheckpoint>,
    pub(crate) lock: Option<OutLock>,
    /// A MAP job whose fits missed the tolerance: its files are written, then the run fails.
    pub(crate) map_failure: Option<Error>,
}

/// Designs and solves `data`, rendering the output files; with `at`, holding OUT's lock and
/// checkpointing finished blocks there.
pub(crate) fn solve_loaded(
    data: Dataset,
    job: FitJob<'_>,
    at: Option<CheckpointAt<'_>>,
) -> Result<Solved> {
    let cfg = job.config;
    let folds = cfg.folds.unwrap_or(10);
    let fold_seed = cfg.fold_seed.unwrap_or(0);
    let settings = cfg.estimator_settings(Estimator::PosteriorMean)?;
    let t_load = job.load_seconds;
    let t1 = Instant::now();
    let map = matches!(settings, EstimatorSettings::Map(_));
    // No lane blocks: the CPU solvers build each block when they solve it (the MAP's every
    // fit's row weights at once are 12 GB for a 1M-pair table); the device path, which keeps
    // every block resident, gets them built below.
    let mut design = BatchDesign::build_with(&data, folds, fold_seed, false)?;
    let t_design = t1.elapsed().as_secs_f64();
    if at.as_ref().is_some_and(|at| at.shard.is_some())
        && matches!(settings, EstimatorSettings::Map(_))
    {
        return Err(Error::Setting {
            name: "shard",
            message: "the MAP job runs whole (the paper's 5,280 fits take a second); shard the \
                      posterior mean or the bootstrap"
                .into(),
        });
    }
    // Held until the outputs are written: a second run into the same OUT stops here.
    let lock = at.as_ref().map(|at| OutLock::acquire(at.out)).transpose()?;
    let fingerprint = job_fingerprint(
        &data,
        &design.groups,
        &json!({"settings": settings.to_json(), "folds": folds, "fold_seed": fold_seed}),
    );
    let t2 = Instant::now();
    let lanes = match &settings {
        EstimatorSettings::Map(_) => design.fits.len(),
        EstimatorSettings::Posterior(p) => design.fits.len() * p.chains(),
    };
    let (engine, selected) =
        EngineBackend::select(job.backend, lanes.div_ceil(crate::design::LANES));
    if map && engine.is_wgpu() {
        design.blocks = design.chain_blocks(&data, 1)?;
    }
    let design = design;
    let mut device_warnings: Vec<String> = selected.warning.iter().cloned().collect();
    // The job's checkpoint, removed once the outputs are written.
    let checkpoint: std::sync::Mutex<Option<FitCheckpoint>> = std::sync::Mutex::new(None);
    let solve = |backend: &EngineBackend| -> Result<Solution> {
        Ok(match &settings {
            EstimatorSettings::Map(p) => {
                let Some(at) = &at else {
                    let options = MapOptions {
                        data: Some(&data),
                        ..MapOptions::default()
                    };
                    return Ok(Solution::Map(solve_map_with(&design, backend, p, options)));
                };
                let mut ckpt =
                    FitCheckpoint::open(at.out, &fingerprint, &backend.name(), at.resume, false)?;
                let done = std::mem::take(&mut ckpt.done_map);
                let failed = std::sync::Mutex::new(None);
                // MAP blocks take milliseconds: they are saved in batches, once a batch is
                // `map_checkpoint_every()` old, so the paper's one-second job writes no file
                // and a long one loses at most that much on a kill.
                let every = map_checkpoint_every();
                let pending = std::sync::Mutex::new((Vec::new(), Instant::now()));
                let save = |block: usize, lanes: &[LaneResult]| {
                    let mut p = pending.lock().expect("lock");
                    p.0.push((block, lanes.to_vec()));
                    if p.1.elapsed() >= every {
                        let batch = std::mem::take(&mut p.0);
                        p.1 = Instant::now();
                        drop(p);
                        if let Err(e) = ckpt.save_map(&batch) {
                            failed.lock().expect("lock").get_or_insert(e);
                        }
                    }
                };
                let blocks = MapBlockCheckpoint { done, save: &save };
                let options = MapOptions {
                    checkpoint: Some(&blocks),
                    data: Some(&data),
                    ..MapOptions::default()
                };
                let s = solve_map_with(&design, backend, p, options);
                if let Some(e) = failed.into_inner().expect("lock") {
                    return Err(e);
                }
                *checkpoint.lock().expect("lock") = Some(ckpt);
                Solution::Map(s)
            }
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
                    &fingerprint,
                    &backend.name(),
                    at.resume || at.merge,
                    at.merge,
                )?;
                let done = std::mem::take(&mut ckpt.done);
                let n_fits = design.fits.len();
                let have: std::collections::HashSet<usize> = done.keys().copied().collect();
                let skip = |key: usize| match at.shard {
                    Some(shard) => !shard.owns(key, n_fits),
                    None => at.merge && !have.contains(&key),
                };
                let failed = std::sync::Mutex::new(None);
                // A block that cannot be saved (a full disk) stops the job at the next block
                // instead of sampling on for a checkpoint that cannot hold the work.
                let save = |key: usize, block: &BlockResult| {
                    if let Err(e) = ckpt.save(key, block) {
                        failed.lock().expect("lock").get_or_insert(e);
                        crate::base::cancel::request();
                    }
                };
                let sharded = at.shard.is_some() || at.merge;
                let blocks = BlockCheckpoint {
                    done,
                    save: &save,
                    skip: sharded.then_some(&skip as &(dyn Fn(usize) -> bool + Sync)),
                };
                let s = solve_posterior_resumable(&design, &data, backend, p, &tick, Some(&blocks));
                if let Some(e) = failed.into_inner().expect("lock") {
                    crate::base::cancel::reset(); // the stop asked for above
                    return Err(e);
                }
                let s = s?;
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
    let solved_fits = match &solution {
        Solution::Posterior(s) => s.fits.len(),
        Solution::Map(s) => s.fits.len(),
    };
    if let Some(at) = &at {
        if let Some(shard) = at.shard {
            // A shard's results are its checkpoint's blocks: no output is rendered from them.
            let manifest = json!({
                "kind": "fit",
                "shard": shard,
                "fingerprint": fingerprint,
                "fits": solved_fits,
                "of_fits": design.fits.len(),
                // The blocks held: those whose first fit's index falls in this range.
                "block_starts": shard.range(design.fits.len()),
                "backend": backend_name(&solution),
                "complete": true,
            });
            return Ok(Solved {
                outcome: FitOutcome {
                    design,
                    data,
                    solution,
                    summary: manifest.clone(),
                    warnings: device_warnings,
                    mixing: Vec::new(),
                    files: vec![(
                        SHARD_MANIFEST.into(),
                        serde_json::to_string_pretty(&manifest).expect("json") + "\n",
                    )],
                },
                checkpoint: None,
                lock,
                map_failure: None,
            });
        }
        if at.merge && solved_fits != design.fits.len() {
            return Err(Error::Setting {
                name: "merge",
                message: format!(
                    "the shards hold {solved_fits} of the job's {} fits",
                    design.fits.len()
                ),
            });
        }
    }

    let judge_names: Vec<String> = data.judges.iter().map(|j| j.name.clone()).collect();
    check_finite(&design, &judge_names, &solution)?;
    let weights = solution.weights();
    let averaged = fold_average(&design, &weights);
    let mut files = Vec::new();
    for (gi, g) in design.groups.iter().enumerate() {
        let entries: Vec<_> = averaged.iter().filter(|e| e.group == gi).collect();
        files.push((
            format!("{FITTED_PARAS_DIR}/{}", report::fitted_paras_file(&g.name)),
            report::render_fitted_paras(&entries, &judge_names, design.k()),
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
                Solution::Map(s) => report::map_fit_json(&s.fits[i], design.k()),
                Solution::Posterior(s) => report::posterior_fit_json(&s.fits[i]),
            };
            line.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            // A fold whose held-out rows this judge did not label has no held-out figures.
            if let Some(h) = held[i].as_ref().filter(|h| h.n > 0) {
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
    // The sampler's mixing diagnostics: warnings, also kept apart (the demo's fast settings
    // expect them, and say so instead of warning).
    let mut mixing = Vec::new();
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
                mixing.push(format!(
                    "{unresolved_rhat} fits have a weight with R-hat > {RHAT_WARN} and above \
                     what their draws resolve; more draws (--draws, or configs/paper.json) settle it \
                     (docs/fidelity.md, \"R-hat warnings\")"
                ));
            }
            if low_ess > 0 {
                mixing.push(format!(
                    "{low_ess} fits have a weight with ESS < {ESS_WARN}; more draws \
                     (--draws, or configs/paper.json) raise it"
                ));
            }
            if divergent > 0 {
                mixing.push(format!("{divergent} fits had divergent transitions"));
            }
            warnings.extend(mixing.iter().cloned());
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
                        .flat_map(|f| f.mcse[..f.k].iter().copied())
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
        // The property names, feature order: `analyze`, `report` and `manipulate` read them
        // here (the authors' `fitted_paras` files carry only the numbers).
        "properties": design.properties,
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
            mixing,
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
        let k = design.k();
        let fields: Vec<(&'static str, &[f64])> = match solution {
            Solution::Map(s) => vec![("weights", &s.fits[i].weights[..k])],
            Solution::Posterior(s) => vec![
                ("mean", &s.fits[i].mean[..k]),
                ("sd", &s.fits[i].sd[..k]),
                ("mcse", &s.fits[i].mcse[..k]),
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

fn backend_name(solution: &Solution) -> String {
    match solution {
        Solution::Posterior(s) => s.backend.clone(),
        Solution::Map(s) => s.backend.clone(),
    }
}
