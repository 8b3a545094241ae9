//! Solves a batch of row-weight vectors (bootstrap counts, jackknife masks, the plain fit) for
//! every judge with the chosen estimator, on the same engine and kernel as `fit`.

use super::params::Resampling;
use super::resample;
use crate::base::error::Result;
use crate::base::features::MAX_K;
use crate::base::mcmc::diagnostics::ESS_WARN;
use crate::design::{BatchDesign, GroupDesign, RowWeights};
use crate::load::Dataset;
use crate::solve::backend::GradientBackend;
use crate::solve::map::MapOptions;
use crate::solve::map::solve_map_with;
use crate::solve::posterior::solve_posterior;
use crate::solve::settings::EstimatorSettings;

/// One weight vector per (row-weight vector, judge): fit `v · J + j`.
#[derive(Clone, Debug, Default)]
pub struct VectorFits {
    /// Weights per fit.
    pub weights: Vec<[f64; MAX_K]>,
    /// Fits in doubt: a MAP over the KKT tolerance, or a posterior with R-hat > 1.01, ESS <
    /// 400 or a divergence.
    pub flagged: usize,
    /// Useful GFLOP the gradient kernel did.
    pub kernel_gflop: f64,
}

/// Where MAP replicate fits start: each model's plain fit. Model `m = group · J + judge`,
/// groups in the order of the `groups` slice.
pub struct WarmStart<'a> {
    /// Plain-fit weights per model.
    pub point: &'a [[f64; MAX_K]],
}

/// One all-ones vector per group: the plain whole-group fits.
pub fn unit_vectors(groups: &[GroupDesign]) -> Vec<RowWeights> {
    groups
        .iter()
        .enumerate()
        .map(|(g, gd)| RowWeights {
            group: g,
            c: gd.weights_from(|_| 1.0),
        })
        .collect()
}

/// Bootstrap replicates `replicates` of every group, replicate-major: vector
/// `(r − start) · G + g` is replicate r of group g.
pub fn replicate_vectors(
    groups: &[GroupDesign],
    scheme: Resampling,
    seed: u64,
    replicates: std::ops::Range<usize>,
) -> Vec<RowWeights> {
    let mut out = Vec::with_capacity(replicates.len() * groups.len());
    for r in replicates {
        for (g, gd) in groups.iter().enumerate() {
            let counts = resample::counts(scheme, seed, &gd.name, r as u64, gd.n_rows());
            out.push(RowWeights {
                group: g,
                c: gd.weights_from(|row| counts[row] as f32),
            });
        }
    }
    out
}

/// The delete-a-group jackknife of every group, group-major: vector `g · jg + d` leaves out
/// part d of group g's rows (a group with fewer rows than `jg` has one part a row, repeated).
pub fn jackknife_vectors(groups: &[GroupDesign], seed: u64, jg: usize) -> Vec<RowWeights> {
    let mut out = Vec::with_capacity(groups.len() * jg);
    for (g, gd) in groups.iter().enumerate() {
        let parts = jg.min(gd.n_rows());
        let part = resample::jackknife_partition(seed, &gd.name, gd.n_rows(), parts);
        for drop in 0..jg {
            out.push(RowWeights {
                group: g,
                c: gd.weights_from(|r| if part[r] == drop % parts { 0.0 } else { 1.0 }),
            });
        }
    }
    out
}

/// Fits every judge on every vector of `vectors`. Every vector of a group keys its chains by
/// the group (see [`crate::design::Fit::seed_key`]), so a model's replicates reuse the plain
/// fit's chain seeds; a MAP with `warm` starts each fit at its model's plain fit and solves by
/// proximal Newton with its Hessian there.
pub fn solve_vectors<B: GradientBackend>(
    data: &Dataset,
    groups: &[GroupDesign],
    vectors: Vec<RowWeights>,
    settings: &EstimatorSettings,
    warm: Option<&WarmStart<'_>>,
    backend: &B,
) -> Result<VectorFits> {
    let map = matches!(settings, EstimatorSettings::Map(_));
    let nj = data.judges.len();
    let seed_keys: Vec<u64> = vectors.iter().map(|v| v.group as u64).collect();
    let design = BatchDesign::from_row_weights(data, groups.to_vec(), vectors, &seed_keys, map);
    let useful = |iterations: &dyn Fn(usize) -> f64| -> f64 {
        design
            .fits
            .iter()
            .enumerate()
            .map(|(i, f)| iterations(i) * f.n_train as f64 * 4.0 * design.nf() as f64)
            .sum::<f64>()
            / 1e9
    };
    match settings {
        EstimatorSettings::Map(p) => {
            let model = |i: usize| design.fits[i].group * nj + design.fits[i].judge;
            let init = |i: usize| warm.map_or([0.0; MAX_K], |w| w.point[model(i)]);
            let options = MapOptions {
                init: warm.map(|_| &init as &(dyn Fn(usize) -> [f64; MAX_K] + Sync)),
                newton: warm.is_some(),
                skip_f64_check: true,
                checkpoint: None,
                data: None,
            };
            let s = solve_map_with(&design, backend, p, options);
            let kernel_gflop = useful(&|i| s.fits[i].iterations as f64);
            Ok(VectorFits {
                flagged: s.unconverged(p.kkt_tol()),
                weights: s.fits.into_iter().map(|f| f.weights).collect(),
                kernel_gflop,
            })
        }
        EstimatorSettings::Posterior(p) => {
            let s = solve_posterior(&design, data, backend, p, &|_| {})?;
            let flagged = s
                .fits
                .iter()
                .filter(|f| {
                    f.rhat_unresolved(p.chains())
                        || f.min_ess().is_nan()
                        || f.min_ess() < ESS_WARN
                        || f.divergences > 0
                })
                .count();
            Ok(VectorFits {
                flagged,
                weights: s.fits.into_iter().map(|f| f.mean).collect(),
                kernel_gflop: s.timings.kernel_gflop,
            })
        }
    }
}
