//! Solves a batch of row-weight vectors (bootstrap counts, jackknife masks, the plain fit) for
//! every judge with the chosen estimator, on the same engine and kernel as `fit`.

use crate::config::EstimatorSettings;
use crate::design::{BatchDesign, GroupDesign, RowWeights};
use crate::error::Result;
use crate::features::N_FEATURES;
use crate::load::Dataset;
use crate::run::{ESS_WARN, RHAT_WARN};
use crate::solve::hmc::solve_posterior;
use crate::solve::{GradientBackend, MapOptions, solve_map_with};

/// One weight vector per (row-weight vector, judge): fit `v · J + j`.
#[derive(Clone, Debug, Default)]
pub struct VectorFits {
    /// Weights per fit.
    pub weights: Vec<[f64; N_FEATURES]>,
    /// Fits in doubt: a MAP over the KKT tolerance, or a posterior with R-hat > 1.01, bulk
    /// ESS < 400 or a divergence.
    pub flagged: usize,
    /// Useful GFLOP the gradient kernel did.
    pub kernel_gflop: f64,
}

/// Where MAP replicate fits start: each model's plain fit. Model `m = group · J + judge`,
/// groups in the order of the `groups` slice.
pub struct WarmStart<'a> {
    /// Plain-fit weights per model.
    pub point: &'a [[f64; N_FEATURES]],
}

/// Fits every judge on every vector of `vectors`. `seed_keys[v]` keys vector v's chains (see
/// [`crate::design::Fit::seed_key`]); a MAP with `warm` starts each fit at its model's plain
/// fit and solves by proximal Newton with its Hessian there.
pub fn solve_vectors<B: GradientBackend>(
    data: &Dataset,
    groups: &[GroupDesign],
    vectors: Vec<RowWeights>,
    seed_keys: &[u64],
    settings: &EstimatorSettings,
    warm: Option<&WarmStart<'_>>,
    backend: &B,
) -> Result<VectorFits> {
    let map = matches!(settings, EstimatorSettings::Map(_));
    let nj = data.judges.len();
    let design = BatchDesign::from_row_weights(data, groups.to_vec(), vectors, seed_keys, map);
    let useful = |iterations: &dyn Fn(usize) -> f64| -> f64 {
        design
            .fits
            .iter()
            .enumerate()
            .map(|(i, f)| iterations(i) * f.n_train as f64 * 4.0 * N_FEATURES as f64)
            .sum::<f64>()
            / 1e9
    };
    match settings {
        EstimatorSettings::Map(p) => {
            let model = |i: usize| design.fits[i].group * nj + design.fits[i].judge;
            let init = |i: usize| warm.map_or([0.0; N_FEATURES], |w| w.point[model(i)]);
            let options = MapOptions {
                init: warm.map(|_| &init as &(dyn Fn(usize) -> [f64; N_FEATURES] + Sync)),
                newton: warm.is_some(),
                skip_f64_check: true,
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
                    !(f.max_rhat() <= RHAT_WARN && f.min_ess() >= ESS_WARN && f.divergences == 0)
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
