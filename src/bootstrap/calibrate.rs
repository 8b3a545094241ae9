//! Is the bootstrap right? A calibration study on simulated data, where the truth is known.
//!
//! A fixed population (feature rates and correlations as in the simulator, true weights per
//! judge and group) yields `refits` fresh data sets. Each is fitted (MAP) and bootstrapped.
//! The spread of the fits over data sets is the estimator's true sampling sd; a good bootstrap
//! sd matches it on average, and a 95% percentile interval covers the estimator's mean in
//! about 95% of data sets. An L1 MAP sits exactly at zero with positive probability, where
//! the bootstrap is known to misbehave; weights whose MAP is non-zero in fewer than 95% of the
//! refits are reported separately, not hidden.

use super::calibration_report::report;
pub use super::calibration_report::{
    CalibrationReport, FeatureCalibration, SimilarityCalibration, WeightCalibration, render,
};
use super::engine::{WarmStart, jackknife_vectors, replicate_vectors, solve_vectors, unit_vectors};
use super::intervals::{quantile, summarise};
use super::params::Resampling;
use crate::base::error::Result;
use crate::base::features::{FEATURE_NAMES, PAPER_K};
use crate::base::rng::Rng;
use crate::design::GroupDesign;
use crate::load::{Annotations, Dataset, Group, Judge};
use crate::simulate::CONSENSUS;
use crate::solve::backend::engine::EngineBackend;
use crate::solve::map::MapParams;
use crate::solve::settings::EstimatorSettings;

/// Settings of a calibration study.
#[derive(Clone, Debug)]
pub struct CalibrationParams {
    /// Fresh data sets.
    pub refits: usize,
    /// Bootstrap replicates per data set.
    pub replicates: usize,
    /// Judges.
    pub judges: usize,
    /// Rows of each group.
    pub group_sizes: Vec<usize>,
    /// Interval coverage.
    pub level: f64,
    /// Seed of the population and the data sets.
    pub seed: u64,
    /// Where the fits run (`--backend`); a wgpu failure reruns the refit on the CPU.
    pub backend: crate::base::device::BackendChoice,
}

/// The fixed population: feature rates, correlations and true weights.
struct Population {
    rate: [f64; PAPER_K],
    loading: [f64; PAPER_K],
    /// `[group][judge]` true weights.
    truth: Vec<Vec<[f64; PAPER_K]>>,
}

impl Population {
    fn new(seed: u64, groups: usize, judges: usize) -> Self {
        let mut rng = Rng::new(seed);
        let rate = std::array::from_fn(|_| 0.15 + 0.45 * rng.uniform());
        let loading = std::array::from_fn(|_| 0.8 * rng.uniform());
        let judge_dev: Vec<[f64; PAPER_K]> = (0..judges)
            .map(|_| std::array::from_fn(|_| 0.35 * rng.normal()))
            .collect();
        let truth = (0..groups)
            .map(|_| {
                let tilt: [f64; PAPER_K] = std::array::from_fn(|_| 0.25 * rng.normal());
                judge_dev
                    .iter()
                    .map(|d| std::array::from_fn(|k| CONSENSUS[k] + d[k] + tilt[k]))
                    .collect()
            })
            .collect();
        Population {
            rate,
            loading,
            truth,
        }
    }

    /// A fresh data set: new rows for every group, new labels for every judge.
    fn draw(&self, rng: &mut Rng, sizes: &[usize]) -> Dataset {
        let total: usize = sizes.iter().sum();
        let judges = self.truth[0].len();
        let mut signs = ndarray::Array2::<f32>::zeros((total, PAPER_K));
        let mut labels = vec![vec![false; total]; judges];
        let mut groups = Vec::new();
        let mut s = 0;
        for (g, &n) in sizes.iter().enumerate() {
            groups.push(Group {
                name: format!("group-{g}"),
                samples: (s..s + n).collect(),
            });
            for _ in 0..n {
                let quality = rng.normal();
                for k in 0..PAPER_K {
                    if rng.uniform() < self.rate[k] {
                        let v = self.loading[k] * quality + rng.normal();
                        signs[[s, k]] = if v >= 0.0 { 1.0 } else { -1.0 };
                    }
                }
                for (j, l) in labels.iter_mut().enumerate() {
                    let z: f64 = (0..PAPER_K)
                        .map(|k| self.truth[g][j][k] * signs[[s, k]] as f64)
                        .sum();
                    l[s] = rng.uniform() < crate::base::logistic::sigmoid(z);
                }
                s += 1;
            }
        }
        Dataset {
            source: "<calibration population>".into(),
            annotations: Annotations {
                values: signs,
                unchecked: vec![false; total],
                names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
                missing_cells: Vec::new(),
            },
            ids: None,
            groups,
            judges: labels
                .into_iter()
                .enumerate()
                .map(|(j, prefers_a)| Judge {
                    name: format!("judge-{j}"),
                    prefers_a,
                    labelled: None,
                })
                .collect(),
        }
    }
}

/// The paper's similarity of judges a and b: Pearson of their weights, averaged over groups
/// (`w(g, j)` gives a model's weights).
fn similarity<'w>(groups: usize, a: usize, b: usize, w: impl Fn(usize, usize) -> &'w [f64]) -> f64 {
    crate::analyse::mean_similarity((0..groups).map(|g| crate::analyse::pearson(w(g, a), w(g, b))))
}

/// Runs the study (MAP, multinomial resampling, percentile intervals).
pub fn calibrate(p: &CalibrationParams) -> Result<CalibrationReport> {
    let settings = EstimatorSettings::Map(MapParams::new().check()?);
    // The largest batch: one refit's replicates of every model.
    let blocks = (p.replicates * p.judges * p.group_sizes.len()).div_ceil(crate::design::LANES);
    let (engine, selected) = EngineBackend::select(p.backend, blocks);
    if let Some(w) = &selected.warning {
        eprintln!("warning: {w}");
    }
    let pop = Population::new(p.seed, p.group_sizes.len(), p.judges);
    let (nj, ng) = (p.judges, p.group_sizes.len());
    let models = nj * ng;
    let alpha = 1.0 - p.level;
    // Per refit, model, feature: point, bootstrap sd, interval.
    let mut point = vec![[0f64; PAPER_K]; p.refits * models];
    let mut sd = vec![[0f64; PAPER_K]; p.refits * models];
    let mut lo = vec![[0f64; PAPER_K]; p.refits * models];
    let mut hi = vec![[0f64; PAPER_K]; p.refits * models];
    let mut bca_lo = vec![[0f64; PAPER_K]; p.refits * models];
    let mut bca_hi = vec![[0f64; PAPER_K]; p.refits * models];
    const JACKKNIFE: usize = 20;
    let pairs: Vec<(usize, usize)> = (0..nj)
        .flat_map(|a| (a + 1..nj).map(move |b| (a, b)))
        .collect();
    // Per refit and pair: point, bootstrap mean, sd, 2.5% and 97.5% quantiles.
    let mut sims = vec![[0f64; 5]; p.refits * pairs.len()];
    for i in 0..p.refits {
        let mut rng = Rng::new(p.seed ^ (0x5bd1_e995 * (i as u64 + 1)));
        let data = pop.draw(&mut rng, &p.group_sizes);
        let groups = GroupDesign::build_all(&data, 1, 0)?;
        let seed = p.seed.wrapping_add(i as u64);
        // One refit's three solves; a wgpu failure reruns them on the CPU.
        let (solved, _) = engine.run_or_cpu(|b| -> Result<_> {
            let fit = solve_vectors(&data, &groups, unit_vectors(&groups), &settings, None, b)?;
            let vectors =
                replicate_vectors(&groups, Resampling::Multinomial, seed, 0..p.replicates);
            let warm = WarmStart {
                point: &fit.weights,
            };
            let boot = solve_vectors(&data, &groups, vectors, &settings, Some(&warm), b)?;
            // Delete-a-group jackknife for the BCa acceleration, as `bootstrap --bca` does.
            let jvectors = jackknife_vectors(&groups, seed, JACKKNIFE);
            let jack = solve_vectors(&data, &groups, jvectors, &settings, Some(&warm), b)?;
            Ok((fit, boot, jack))
        });
        let (fit, boot, jack) = solved?;
        for (q, &(a, b)) in pairs.iter().enumerate() {
            let pt = similarity(ng, a, b, |g, j| &fit.weights[g * nj + j]);
            let mut v: Vec<f64> = (0..p.replicates)
                .map(|r| similarity(ng, a, b, |g, j| &boot.weights[r * models + g * nj + j]))
                .filter(|v| v.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var =
                v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() as f64 - 1.0);
            sims[i * pairs.len() + q] = [
                pt,
                mean,
                var.sqrt(),
                quantile(&v, alpha / 2.0),
                quantile(&v, 1.0 - alpha / 2.0),
            ];
        }
        for m in 0..models {
            let at = i * models + m;
            point[at] = std::array::from_fn(|k| fit.weights[m][k]);
            let (g, j) = (m / nj, m % nj);
            for k in 0..PAPER_K {
                let v: Vec<f64> = (0..p.replicates)
                    .map(|r| boot.weights[r * models + m][k])
                    .collect();
                let jk: Vec<f64> = (0..JACKKNIFE)
                    .map(|d| jack.weights[(g * JACKKNIFE + d) * nj + j][k])
                    .collect();
                let interval = summarise(fit.weights[m][k], &v, p.level, Some(&jk));
                sd[at][k] = interval.boot_sd;
                lo[at][k] = interval.ci_low;
                hi[at][k] = interval.ci_high;
                bca_lo[at][k] = interval.bca_low.unwrap_or(f64::NAN);
                bca_hi[at][k] = interval.bca_high.unwrap_or(f64::NAN);
            }
        }
    }

    let mut weights = Vec::new();
    for m in 0..models {
        let (g, j) = (m / nj, m % nj);
        for k in 0..PAPER_K {
            let pts: Vec<f64> = (0..p.refits).map(|i| point[i * models + m][k]).collect();
            let n = pts.len() as f64;
            let mean = pts.iter().sum::<f64>() / n;
            let true_sd =
                (pts.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
            let boot_sd = (0..p.refits).map(|i| sd[i * models + m][k]).sum::<f64>() / n;
            let cover = |target: f64| {
                (0..p.refits)
                    .filter(|&i| lo[i * models + m][k] <= target && target <= hi[i * models + m][k])
                    .count() as f64
                    / n
            };
            let bca_cover = |target: f64| {
                (0..p.refits)
                    .filter(|&i| {
                        bca_lo[i * models + m][k] <= target && target <= bca_hi[i * models + m][k]
                    })
                    .count() as f64
                    / n
            };
            let truth = pop.truth[g][j][k];
            weights.push(WeightCalibration {
                judge: j,
                group: g,
                feature: FEATURE_NAMES[k],
                true_weight: truth,
                estimator_mean: mean,
                true_sd,
                boot_sd,
                ratio: boot_sd / true_sd,
                nonzero: pts.iter().filter(|&&x| x != 0.0).count() as f64 / n,
                coverage_of_mean: cover(mean),
                coverage_of_truth: cover(truth),
                bca_coverage_of_mean: bca_cover(mean),
            });
        }
    }
    let similarity = similarity_report(&pop, &pairs, &sims, p.refits, ng);
    Ok(report(p, weights, similarity))
}

fn similarity_report(
    pop: &Population,
    pairs: &[(usize, usize)],
    sims: &[[f64; 5]],
    refits: usize,
    groups: usize,
) -> SimilarityCalibration {
    let np = pairs.len();
    let (mut est_bias, mut boot_bias, mut ratios) = (0.0, 0.0, Vec::new());
    let (mut pm, mut bm, mut pt, mut bt, mut miss) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (q, &(a, b)) in pairs.iter().enumerate() {
        let truth = similarity(groups, a, b, |g, j| &pop.truth[g][j][..]);
        let at = |i: usize| sims[i * np + q];
        let n = refits as f64;
        let mean = (0..refits).map(|i| at(i)[0]).sum::<f64>() / n;
        let sd = ((0..refits).map(|i| (at(i)[0] - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        est_bias += mean - truth;
        ratios.push((0..refits).map(|i| at(i)[2]).sum::<f64>() / n / sd);
        for i in 0..refits {
            let [point, bmean, _, lo, hi] = at(i);
            boot_bias += bmean - point;
            let (blo, bhi) = (2.0 * point - hi, 2.0 * point - lo);
            pm += (lo <= mean && mean <= hi) as u8 as f64;
            bm += (blo <= mean && mean <= bhi) as u8 as f64;
            pt += (lo <= truth && truth <= hi) as u8 as f64;
            bt += (blo <= truth && truth <= bhi) as u8 as f64;
            miss += !(lo <= point && point <= hi) as u8 as f64;
        }
    }
    let all = (np * refits).max(1) as f64;
    SimilarityCalibration {
        pairs: np,
        estimator_bias: est_bias / np.max(1) as f64,
        bootstrap_bias: boot_bias / all,
        median_ratio: crate::base::stats::median(ratios),
        percentile_covers_mean: pm / all,
        basic_covers_mean: bm / all,
        percentile_covers_truth: pt / all,
        basic_covers_truth: bt / all,
        percentile_misses_point: miss / all,
    }
}
