//! Posterior means with zero-variance control variates: the same draws, a far smaller
//! Monte-Carlo error.
//!
//! Any h(w) whose posterior mean is known to be 0 can be subtracted from the draws, w − βᵀh,
//! without changing the expectation; with β the regression of w on h, the variance falls by the
//! share of w's variance that h explains (Assaraf & Caffarel 1999; Mira, Solgi & Imparato 2013).
//! By Stein's identity ∫ ∂ⱼ(φ·π) = 0, so for a posterior π two families qualify:
//!
//! - φ = 1: the score sⱼ = ∂ⱼ log π = −(∂ⱼ loss + λ·sign wⱼ). For a Gaussian posterior
//!   N(μ, Σ), w = μ − Σ·s exactly, so the weights the data pin down lose nearly all their
//!   Monte-Carlo error.
//! - φ = |wⱼ| (continuous, so φ·π is too): kⱼ = sign wⱼ + |wⱼ|·sⱼ. For the weights the data say
//!   little about, whose posterior is close to the Laplace prior itself, wⱼ = −kⱼ/λ − sⱼ/λ²
//!   exactly under the prior alone.
//!
//! Weight j is regressed on the 29 scores and its own kink term (30 regressors), over all
//! chains' draws of the fit. The Monte-Carlo error is that of the corrected series, from its
//! effective sample size like any chain average, and scaled by √(N / (N − 30)) for the 30
//! coefficients fitted on the same draws.

use super::sampler::ChainOutput;
use crate::analyse::diagnostics::{ess, split};
use crate::features::N_FEATURES;
use ndarray::{Array2, Axis, s};

/// Own terms per weight: kink (φ = |wⱼ|), φ = wⱼ and φ = wⱼ²/2.
const OWN: usize = 3;
/// Regressors per weight: the 29 scores and the weight's own terms.
const P: usize = N_FEATURES + OWN;

/// A fit's control-variate estimates.
#[derive(Clone, Debug)]
pub struct CvMeans {
    /// Posterior mean per weight.
    pub mean: [f64; N_FEATURES],
    /// Its Monte-Carlo standard error.
    pub mcse: [f64; N_FEATURES],
}

/// The control-variate estimate of every weight's posterior mean from one fit's chains (all of
/// the same length, with scores recorded). `None` when there are too few draws to fit the
/// coefficients (fewer than 4 per coefficient) or the regressors are degenerate.
pub fn cv_means(chains: &[ChainOutput]) -> Option<CvMeans> {
    let n = chains[0].draws.len() / N_FEATURES;
    let total = n * chains.len();
    if total < 4 * P || chains.iter().any(|c| c.scores.len() != c.draws.len()) {
        return None;
    }
    // Columns: 29 scores, 29 × OWN own terms (weight-major), 29 weights; one row per draw.
    const COLS: usize = N_FEATURES * (2 + OWN);
    const K0: usize = N_FEATURES;
    const W0: usize = N_FEATURES * (1 + OWN);
    let mut z = Array2::<f64>::zeros((total, COLS));
    for (row, (c, d)) in chains
        .iter()
        .flat_map(|c| (0..n).map(move |d| (c, d)))
        .enumerate()
    {
        let at = d * N_FEATURES..(d + 1) * N_FEATURES;
        let (w, s) = (&c.draws[at.clone()], &c.scores[at]);
        let mut out = z.row_mut(row);
        for j in 0..N_FEATURES {
            let (wj, sj) = (w[j] as f64, s[j] as f64);
            let sign = if wj > 0.0 {
                1.0
            } else if wj < 0.0 {
                -1.0
            } else {
                0.0
            };
            out[j] = sj;
            let own = [sign + wj.abs() * sj, 1.0 + wj * sj, wj + 0.5 * wj * wj * sj];
            for (o, v) in own.into_iter().enumerate() {
                out[K0 + j * OWN + o] = v;
            }
            out[W0 + j] = wj;
        }
    }
    // Centred cross-products of the scores with everything (one GEMM), and of each weight's
    // own terms with themselves and the weight.
    let means = z.mean_axis(Axis(0))?;
    let centred = &z - &means;
    // Hand-written rather than ndarray's dot: its threaded GEMM would spin up threads inside
    // the sampler's rayon tasks (a sixth of a run's time went to the scheduler).
    let mut g = Array2::<f64>::zeros((N_FEATURES, COLS));
    for row in centred.rows() {
        let row = row.as_slice().expect("standard layout");
        for a in 0..N_FEATURES {
            let x = row[a];
            let out = g.row_mut(a).into_slice().expect("standard layout");
            for (o, &v) in out.iter_mut().zip(row) {
                *o += x * v;
            }
        }
    }
    let mut out = CvMeans {
        mean: [0.0; N_FEATURES],
        mcse: [0.0; N_FEATURES],
    };
    let inflation = (total as f64 / (total - P) as f64).sqrt();
    // β per weight: scores' coefficients in a 29 × 29 matrix (column j), own terms apart.
    let mut beta_s = Array2::<f64>::zeros((N_FEATURES, N_FEATURES));
    let mut beta_own = [[0f64; OWN]; N_FEATURES];
    for j in 0..N_FEATURES {
        let own = centred.slice(s![.., K0 + j * OWN..K0 + (j + 1) * OWN]);
        let g_kk = own.t().dot(&own);
        let g_kw = own.t().dot(&centred.column(W0 + j));
        let mut m = [[0f64; P]; P];
        let mut rhs = [0f64; P];
        for a in 0..N_FEATURES {
            for b in 0..N_FEATURES {
                m[a][b] = g[[a, b]];
            }
            for o in 0..OWN {
                m[a][N_FEATURES + o] = g[[a, K0 + j * OWN + o]];
                m[N_FEATURES + o][a] = m[a][N_FEATURES + o];
            }
            rhs[a] = g[[a, W0 + j]];
        }
        for o in 0..OWN {
            for p in 0..OWN {
                m[N_FEATURES + o][N_FEATURES + p] = g_kk[[o, p]];
            }
            rhs[N_FEATURES + o] = g_kw[o];
        }
        let beta = solve_spd(m, rhs)?;
        for a in 0..N_FEATURES {
            beta_s[[a, j]] = beta[a];
        }
        beta_own[j].copy_from_slice(&beta[N_FEATURES..]);
    }
    // Corrected draws f = w − βᵀh (h uncentred: its posterior mean is 0, not its sample mean).
    let mut f = z.slice(s![.., W0..]).to_owned();
    for (mut f_row, z_row) in f.rows_mut().into_iter().zip(z.rows()) {
        for a in 0..N_FEATURES {
            let x = z_row[a];
            f_row.zip_mut_with(&beta_s.row(a), |v, &b| *v -= x * b);
        }
    }
    for j in 0..N_FEATURES {
        for o in 0..OWN {
            let (b, col) = (beta_own[j][o], z.column(K0 + j * OWN + o));
            f.column_mut(j).zip_mut_with(&col, |v, &h| *v -= b * h);
        }
    }
    let mut series: Vec<Vec<f64>> = vec![vec![0.0; n]; chains.len()];
    for j in 0..N_FEATURES {
        let column = f.column(j);
        for (c, trace) in series.iter_mut().enumerate() {
            for (d, v) in trace.iter_mut().enumerate() {
                *v = column[c * n + d];
            }
        }
        let mean = column.sum() / total as f64;
        let var = column.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (total - 1) as f64;
        let refs: Vec<&[f64]> = series.iter().map(|t| t.as_slice()).collect();
        let halves = split(&refs);
        let half_refs: Vec<&[f64]> = halves.iter().map(|t| t.as_slice()).collect();
        out.mean[j] = mean;
        out.mcse[j] = if var > 0.0 {
            (var / ess(&half_refs)).sqrt() * inflation
        } else {
            0.0
        };
    }
    Some(out)
}

/// Solves the symmetric positive semi-definite system `m·x = rhs` by Cholesky, with a ridge of
/// 1e-10 of the mean diagonal so exactly collinear regressors (a feature absent from every
/// training row has sⱼ = −λ·sign wⱼ) still factor. `None` if it does not factor.
fn solve_spd(mut m: [[f64; P]; P], rhs: [f64; P]) -> Option<[f64; P]> {
    let ridge = 1e-10 * (0..P).map(|i| m[i][i]).sum::<f64>() / P as f64;
    if !(ridge > 0.0 && ridge.is_finite()) {
        return None;
    }
    for (i, row) in m.iter_mut().enumerate() {
        row[i] += ridge;
    }
    // In-place lower Cholesky factor.
    for i in 0..P {
        for j in 0..=i {
            let mut v = m[i][j];
            for k in 0..j {
                v -= m[i][k] * m[j][k];
            }
            if i == j {
                if v <= 0.0 {
                    return None;
                }
                m[i][i] = v.sqrt();
            } else {
                m[i][j] = v / m[j][j];
            }
        }
    }
    let mut y = [0f64; P];
    for i in 0..P {
        y[i] = (rhs[i] - (0..i).map(|k| m[i][k] * y[k]).sum::<f64>()) / m[i][i];
    }
    let mut x = [0f64; P];
    for i in (0..P).rev() {
        x[i] = (y[i] - (i + 1..P).map(|k| m[k][i] * x[k]).sum::<f64>()) / m[i][i];
    }
    Some(x)
}
