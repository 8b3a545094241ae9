//! `prefdissect fidelity`: our posterior means against the authors' own numpyro runs on the dev
//! data (`numpyro/*.json`), in units of the combined Monte-Carlo error.
//!
//! For every weight, z = (ours − numpyro) / √(mcse_numpyro² + mcse_ours²). If both samplers
//! target the same posterior, z ~ N(0, 1); a wrong prior, likelihood, fold or adaptation shows
//! as |z| ≫ 1.

use clap::Args;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::features::{FEATURE_NAMES, PAPER_K};
use crate::base::stats::median;
use crate::design::BatchDesign;
use crate::load::{Dataset, Selection};
use crate::solve::backend::cpu::CpuBackend;
use crate::solve::backend::engine::EngineBackend;
use crate::solve::posterior::{ValidHmcParams, solve_posterior};
use crate::solve::settings::{Estimator, EstimatorSettings, FitConfig};

/// One (judge, group) row of the fidelity table.
#[derive(Clone, Debug, Serialize)]
pub struct FidelityRow {
    /// Source file.
    pub file: String,
    /// Judge.
    pub judge: String,
    /// Group.
    pub group: String,
    /// Fits compared (1 or 10 folds).
    pub fits: usize,
    /// Largest |ours − numpyro| over weights and folds.
    pub max_abs_delta: f64,
    /// Median |ours − numpyro|.
    pub median_abs_delta: f64,
    /// Largest |z|.
    pub max_abs_z: f64,
    /// For 10-fold rows: largest |Δ| of the fold-averaged weights (the paper's number).
    pub fold_avg_max_abs_delta: Option<f64>,
}

/// One weight of one fit, compared.
#[derive(Clone, Debug, Serialize)]
pub struct WeightRow {
    /// Judge.
    pub judge: String,
    /// Group.
    pub group: String,
    /// Fold (0 for whole-group fits).
    pub fold: usize,
    /// Feature index.
    pub feature: usize,
    /// Our posterior mean.
    pub ours: f64,
    /// numpyro's posterior mean.
    pub numpyro: f64,
    /// Our MCSE.
    pub mcse_ours: f64,
    /// numpyro's MCSE.
    pub mcse_numpyro: f64,
    /// (ours − numpyro) / combined MCSE.
    pub z: f64,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct FidelityReport {
    /// Per (judge, group) rows.
    pub rows: Vec<FidelityRow>,
    /// Weights compared.
    pub n_weights: usize,
    /// Standard deviation of all z (≈ 1 when only Monte-Carlo noise differs).
    pub sd_z: f64,
    /// Mean of all z.
    pub mean_z: f64,
    /// Largest |z|.
    pub max_abs_z: f64,
    /// Median |Δ| over all weights.
    pub median_abs_delta: f64,
    /// Largest |Δ| of a fold-averaged weight (10-fold file).
    pub fold_avg_max_abs_delta: f64,
    /// Median MCSE of our means, and of numpyro's.
    pub median_mcse_ours: f64,
    /// Median MCSE of numpyro's means.
    pub median_mcse_numpyro: f64,
    /// Our sampling time, seconds.
    pub our_seconds: f64,
    /// Every weight compared.
    pub weights: Vec<WeightRow>,
    /// numpyro's summed wall time for the same fits, seconds.
    pub numpyro_seconds: f64,
}

/// Per-weight figures gathered over all compared fits.
#[derive(Default)]
struct Accum {
    zs: Vec<f64>,
    deltas: Vec<f64>,
    mcse_ours: Vec<f64>,
    mcse_numpyro: Vec<f64>,
    our_s: f64,
    numpyro_s: f64,
    weights: Vec<WeightRow>,
}

struct Reference {
    judge: String,
    group: String,
    fold: usize,
    mean: Vec<f64>,
    mcse: Vec<f64>,
    wall_s: f64,
}

fn read_reference(path: &Path) -> Result<Vec<Reference>> {
    let text = crate::base::text::read_text(path)?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_owned(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let field = |m: &str| Error::Field {
        path: path.to_owned(),
        line: 0,
        field: "fits".into(),
        message: m.into(),
    };
    let fits = doc["fits"].as_array().ok_or_else(|| field("missing"))?;
    let floats = |v: &Value| -> Result<Vec<f64>> {
        v.as_array()
            .ok_or_else(|| field("expected a list"))?
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| field("expected numbers")))
            .collect()
    };
    fits.iter()
        .map(|f| {
            Ok(Reference {
                judge: f["judge"].as_str().ok_or_else(|| field("judge"))?.into(),
                group: f["group"].as_str().ok_or_else(|| field("group"))?.into(),
                fold: f["fold"].as_u64().ok_or_else(|| field("fold"))? as usize,
                mean: floats(&f["posterior_mean"])?,
                mcse: floats(&f["mcse"])?,
                wall_s: f["wall_s"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

/// Compares against `numpyro/<file>` of `dev`, fitting with `folds` folds; `limit` keeps only
/// the first (judge, group) pairs (for a quick test).
fn compare_file(
    dev: &Path,
    file: &str,
    folds: usize,
    params: &ValidHmcParams,
    limit: Option<usize>,
    backend: &EngineBackend,
    acc: &mut Accum,
) -> Result<Vec<FidelityRow>> {
    let mut refs = read_reference(&dev.join("numpyro").join(file))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for r in &refs {
        let key = (r.judge.clone(), r.group.clone());
        if !pairs.contains(&key) {
            pairs.push(key);
        }
    }
    if let Some(n) = limit {
        pairs.truncate(n);
        refs.retain(|r| pairs.contains(&(r.judge.clone(), r.group.clone())));
    }
    let mut judges: Vec<String> = pairs.iter().map(|p| p.0.clone()).collect();
    let mut groups: Vec<String> = pairs.iter().map(|p| p.1.clone()).collect();
    judges.dedup();
    judges.sort();
    judges.dedup();
    groups.sort();
    groups.dedup();
    let data = Dataset::load(
        dev,
        &Selection {
            judges: Some(judges),
            groups: Some(groups),
        },
    )?;
    let design = BatchDesign::build(&data, folds, 0)?;
    let sol = solve_posterior(&design, &data, backend, params, &|_| {})?;
    acc.our_s += sol.timings.sampling_s;
    let mut rows = Vec::new();
    for (judge, group) in &pairs {
        let mine: Vec<&Reference> = refs
            .iter()
            .filter(|r| &r.judge == judge && &r.group == group)
            .collect();
        let (mut row_d, mut row_z) = (Vec::new(), Vec::new());
        let (mut avg_ours, mut avg_theirs) = ([0f64; PAPER_K], [0f64; PAPER_K]);
        for r in &mine {
            acc.numpyro_s += r.wall_s;
            let fit = design
                .fits
                .iter()
                .position(|f| {
                    data.judges[f.judge].name == r.judge
                        && design.groups[f.group].name == r.group
                        && f.fold.map_or(0, usize::from) == r.fold
                })
                .ok_or_else(|| Error::Setting {
                    name: "fidelity",
                    message: format!("no fit for {} {} fold {}", r.judge, r.group, r.fold),
                })?;
            let ours = &sol.fits[fit];
            for k in 0..PAPER_K {
                let d = ours.mean[k] - r.mean[k];
                let z = d / (ours.mcse[k].powi(2) + r.mcse[k].powi(2)).sqrt();
                // Too few draws for an MCSE (or two exact zeros) leave no z to report.
                for (field, value) in [("mean", ours.mean[k]), ("mcse", ours.mcse[k]), ("z", z)] {
                    if !value.is_finite() {
                        return Err(Error::NonFinite {
                            fit: format!(
                                "fidelity {} / {} / fold {} / {}",
                                r.judge, r.group, r.fold, FEATURE_NAMES[k]
                            ),
                            field,
                            value,
                        });
                    }
                }
                row_d.push(d.abs());
                row_z.push(z.abs());
                acc.weights.push(WeightRow {
                    judge: r.judge.clone(),
                    group: r.group.clone(),
                    fold: r.fold,
                    feature: k,
                    ours: ours.mean[k],
                    numpyro: r.mean[k],
                    mcse_ours: ours.mcse[k],
                    mcse_numpyro: r.mcse[k],
                    z,
                });
                acc.zs.push(z);
                acc.deltas.push(d.abs());
                acc.mcse_ours.push(ours.mcse[k]);
                acc.mcse_numpyro.push(r.mcse[k]);
                avg_ours[k] += ours.mean[k] / mine.len() as f64;
                avg_theirs[k] += r.mean[k] / mine.len() as f64;
            }
        }
        let fold_avg = (mine.len() > 1).then(|| {
            (0..PAPER_K)
                .map(|k| (avg_ours[k] - avg_theirs[k]).abs())
                .fold(0.0, f64::max)
        });
        rows.push(FidelityRow {
            file: file.into(),
            judge: judge.clone(),
            group: group.clone(),
            fits: mine.len(),
            max_abs_delta: row_d.iter().copied().fold(0.0, f64::max),
            median_abs_delta: median(row_d),
            max_abs_z: row_z.iter().copied().fold(0.0, f64::max),
            fold_avg_max_abs_delta: fold_avg,
        });
    }
    Ok(rows)
}

/// The report as a text table (one row per judge × group, then the totals).
pub fn render(r: &FidelityReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<20} {:<18} {:>5} {:>9} {:>9} {:>7} {:>11}",
        "judge", "group", "fits", "max|Δ|", "med|Δ|", "max|z|", "fold-avg|Δ|"
    );
    for row in &r.rows {
        let _ = writeln!(
            s,
            "{:<20} {:<18} {:>5} {:>9.4} {:>9.4} {:>7.2} {:>11}",
            row.judge,
            row.group,
            row.fits,
            row.max_abs_delta,
            row.median_abs_delta,
            row.max_abs_z,
            row.fold_avg_max_abs_delta
                .map_or("-".to_string(), |v| format!("{v:.4}"))
        );
    }
    let _ = writeln!(
        s,
        "\n{} weights: sd(z) {:.3} (want 0.8–1.25), mean(z) {:+.3}, max|z| {:.2} (≤ 5), \
         median|Δ| {:.4} (≤ 0.002), 10-fold average max|Δ| {:.4} (≤ 0.003)",
        r.n_weights, r.sd_z, r.mean_z, r.max_abs_z, r.median_abs_delta, r.fold_avg_max_abs_delta
    );
    let _ = writeln!(
        s,
        "median MCSE: ours {:.4}, numpyro {:.4}; time: ours {:.1} s, numpyro {:.0} s for the same fits",
        r.median_mcse_ours, r.median_mcse_numpyro, r.our_seconds, r.numpyro_seconds
    );
    s
}

/// Runs the comparison on both numpyro files of `dev` (`limit`: first pairs of each only).
pub fn compare(
    dev: &Path,
    params: &ValidHmcParams,
    limit: Option<usize>,
) -> Result<FidelityReport> {
    compare_on(dev, params, limit, &EngineBackend::Cpu(CpuBackend))
}

/// [`compare`] with our fits on `backend` (`fidelity --backend wgpu` checks the GPU path
/// against the authors' runs).
pub fn compare_on(
    dev: &Path,
    params: &ValidHmcParams,
    limit: Option<usize>,
    backend: &EngineBackend,
) -> Result<FidelityReport> {
    let mut acc = Accum::default();
    let one_fold = "three_judges_16_groups_one_fold.json";
    let mut rows = compare_file(dev, one_fold, 1, params, limit, backend, &mut acc)?;
    let ten_fold = "human_2_groups_10_folds.json";
    rows.extend(compare_file(
        dev, ten_fold, 10, params, limit, backend, &mut acc,
    )?);
    let zs = &acc.zs;
    let n = zs.len() as f64;
    let mean_z = zs.iter().sum::<f64>() / n;
    let sd_z = (zs.iter().map(|z| (z - mean_z).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    Ok(FidelityReport {
        n_weights: zs.len(),
        sd_z,
        mean_z,
        max_abs_z: zs.iter().map(|z| z.abs()).fold(0.0, f64::max),
        median_abs_delta: median(acc.deltas),
        fold_avg_max_abs_delta: rows
            .iter()
            .filter_map(|r| r.fold_avg_max_abs_delta)
            .fold(0.0, f64::max),
        median_mcse_ours: median(acc.mcse_ours),
        median_mcse_numpyro: median(acc.mcse_numpyro),
        our_seconds: acc.our_s,
        numpyro_seconds: acc.numpyro_s,
        weights: acc.weights,
        rows,
    })
}

/// Flags of `fidelity`.
#[derive(Args)]
pub struct FidelityArgs {
    /// The dev data directory (with numpyro/*.json).
    #[arg(long, default_value = "../shared/data/dev")]
    pub dev: PathBuf,
    /// Sampler settings file (configs/paper.json, configs/fast.json); the flags below
    /// override it [default: the paper's settings].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Chains per fit.
    #[arg(long)]
    pub chains: Option<usize>,
    /// Warm-up iterations.
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Draws per chain.
    #[arg(long)]
    pub draws: Option<usize>,
    /// Leapfrog steps per iteration.
    #[arg(long)]
    pub leapfrog_steps: Option<usize>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// What moves an HMC trajectory (`surrogate` or `exact`).
    #[arg(long, value_enum)]
    pub trajectory: Option<crate::solve::posterior::Trajectory>,
    /// Only the first N (judge, group) pairs of each file.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also write the full report (every weight's Δ and z) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where our fits run (`wgpu` checks the GPU path against the authors' runs).
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: crate::base::device::BackendChoice,
}

impl FidelityArgs {
    /// Runs `fidelity`.
    pub fn run(self) -> Result<()> {
        let flags = FitConfig {
            chains: self.chains,
            warmup: self.warmup,
            draws: self.draws,
            leapfrog_steps: self.leapfrog_steps,
            seed: self.seed,
            trajectory: self.trajectory,
            ..FitConfig::default()
        };
        let FidelityArgs {
            dev,
            config,
            limit,
            json,
            backend,
            ..
        } = self;
        let settings = FitConfig::load(config.as_deref(), &flags)?;
        let params = match settings.estimator_settings(Estimator::PosteriorMean)? {
            EstimatorSettings::Posterior(p) => p,
            EstimatorSettings::Map(_) => {
                return Err(crate::base::error::Error::Setting {
                    name: "estimator",
                    message: "fidelity compares posterior means; the config asks for the MAP"
                        .into(),
                });
            }
        };
        // 68 fits: never enough for `auto` to start a GPU.
        let (engine, selected) = crate::solve::backend::engine::EngineBackend::select(backend, 0);
        if let Some(w) = &selected.warning {
            eprintln!("warning: {w}");
        }
        let report = compare_on(&dev, &params, limit, &engine)?;
        print!("{}", render(&report));
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&report).expect("json");
            crate::base::atomic::write_atomic(&path, text.as_bytes())?;
        }
        Ok(())
    }
}
