//! The `fit` command end to end: load → design → solve → analyse → report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::analyse::fold_average;
use crate::config::{Estimator, FitConfig};
use crate::design::BatchDesign;
use crate::error::{Error, Result};
use crate::load::{Dataset, Selection};
use crate::report::{self, FITTED_PARAS_DIR};
use crate::solve::{CpuBackend, MapParams, MapSolution, solve_map};

/// Everything a `fit` run needs.
#[derive(Clone, Debug)]
pub struct FitRequest {
    /// Data directory in the authors' format.
    pub data: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// Judges and groups to fit.
    pub selection: Selection,
    /// Settings (config file merged with flags).
    pub config: FitConfig,
}

/// What a finished run reports back (also written as `summary.json`).
#[derive(Clone, Debug)]
pub struct FitOutcome {
    /// The design that was solved.
    pub design: BatchDesign,
    /// The loaded data set.
    pub data: Dataset,
    /// Per-fit results.
    pub solution: MapSolution,
    /// The summary document.
    pub summary: Value,
}

/// Runs a fit and writes its outputs.
pub fn fit(req: &FitRequest) -> Result<FitOutcome> {
    let t0 = Instant::now();
    let cfg = &req.config;
    let folds = cfg.folds.unwrap_or(10);
    let seed = cfg.fold_seed.unwrap_or(0);
    let estimator = cfg.estimator.unwrap_or(Estimator::Map);
    let mut params = MapParams::new();
    if let Some(b) = cfg.prior_scale {
        params = params.prior_scale(b);
    }
    if let Some(t) = cfg.kkt_tol {
        params = params.kkt_tol(t);
    }
    if let Some(m) = cfg.max_iter {
        params = params.max_iter(m);
    }
    let params = params.check()?;
    check_out_dir(&req.out)?;

    let data = Dataset::load(&req.data, &req.selection)?;
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let design = BatchDesign::build(&data, folds, seed)?;
    let t_design = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let solution = match estimator {
        Estimator::Map => solve_map(&design, &CpuBackend, &params),
    };
    let t_solve = t2.elapsed().as_secs_f64();

    let judge_names: Vec<String> = data.judges.iter().map(|j| j.name.clone()).collect();
    let per_fit: Vec<_> = solution.fits.iter().map(|f| f.weights).collect();
    let averaged = fold_average(&design, &per_fit);
    let mut files = Vec::new();
    for (gi, g) in design.groups.iter().enumerate() {
        let entries: Vec<_> = averaged.iter().filter(|e| e.group == gi).collect();
        files.push((
            format!("{FITTED_PARAS_DIR}/{}", report::fitted_paras_file(&g.name)),
            report::render_fitted_paras(&entries, &judge_names),
        ));
    }
    let fit_lines: Vec<Value> = design
        .fits
        .iter()
        .zip(&solution.fits)
        .map(|(f, r)| {
            json!({
                "judge": judge_names[f.judge],
                "group": design.groups[f.group].name,
                "fold": f.fold,
                "n_train": f.n_train,
                "weights": r.weights.to_vec(),
                "objective": r.objective,
                "kkt": r.kkt,
                "iterations": r.iterations,
                "polish_iterations": r.polish_iterations,
            })
        })
        .collect();
    files.push(("fits.jsonl".into(), report::render_jsonl(&fit_lines)));
    let tol = params.kkt_tol();
    let unconverged = solution.unconverged(tol);
    let max_kkt = solution.fits.iter().map(|f| f.kkt).fold(0.0, f64::max);
    let summary = json!({
        "tool": concat!("prefdissect ", env!("CARGO_PKG_VERSION")),
        "data": req.data.display().to_string(),
        "settings": {
            "estimator": estimator,
            "folds": folds,
            "fold_seed": seed,
            "prior_scale": params.prior_scale(),
            "kkt_tol": tol,
            "max_iter": params.max_iter(),
        },
        "backend": solution.backend,
        // What this run wrote: files of other groups in OUT are from earlier runs.
        "judges": judge_names,
        "groups": design.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        "counts": {
            "judges": data.judges.len(),
            "groups": design.groups.len(),
            "fits": design.fits.len(),
            "blocks": design.blocks.len(),
            "samples": data.annotations.n_samples(),
            "samples_unchecked_999": data.annotations.unchecked.iter().filter(|&&u| u).count(),
            "fits_over_kkt_tol": unconverged,
            "fits_polished_f64": solution.fits.iter().filter(|f| f.polish_iterations > 0).count(),
        },
        "max_kkt": max_kkt,
        "timings_s": {
            "load": t_load,
            "design": t_design,
            "solve": t_solve,
            "solve_detail": solution.timings,
        },
    });
    files.push((
        "summary.json".into(),
        serde_json::to_string_pretty(&summary).expect("json") + "\n",
    ));
    report::write_all(&req.out, &files)?;
    if unconverged > 0 {
        return Err(Error::NotConverged {
            count: unconverged,
            tol,
            max_iter: params.max_iter(),
        });
    }
    Ok(FitOutcome {
        design,
        data,
        solution,
        summary,
    })
}

/// The output must be a directory (or not exist yet); a file there is an error, not overwritten.
fn check_out_dir(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        return Err(Error::Setting {
            name: "out",
            message: format!("{} exists and is not a directory", out.display()),
        });
    }
    Ok(())
}
