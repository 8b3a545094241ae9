//! Per-fit step sizes for the proximal method, from the curvature bound of the logistic loss.
//!
//! The Hessian of Σ c_r logloss is at most H = Xᵀ diag(c) X / 4. Features differ a lot in how
//! often they are non-zero, so a single step 1/λmax(H) would crawl along the rare ones; a
//! diagonal scaling D = diag(H) with step 1/(λmax(D^-½ H D^-½) · D_k) per feature is still a
//! valid majoriser and cuts the iterations several-fold. Fits that share row weights (all judges
//! of one fold) share the result, so this costs one nf × nf Gram matrix per fold and group.

use crate::base::features::MAX_K;
use crate::design::{GroupDesign, KPAD};

/// Per-feature proximal step sizes of one row-weight vector.
#[derive(Clone, Debug)]
pub struct Steps {
    /// Step per feature (0 for a feature that is zero on every training row).
    pub step: [f64; MAX_K],
}

/// The diagonal of the curvature bound XᵀCX/4: a cheap per-feature precision estimate, which
/// also seeds the HMC sampler's mass matrix.
pub fn curvature_diag(group: &GroupDesign, c: &[f32]) -> [f64; MAX_K] {
    let mut d = [0f64; MAX_K];
    for r in 0..group.n_rows() {
        let w = c[r] as f64;
        if w == 0.0 {
            continue;
        }
        for (k, &x) in group.x[r * KPAD..r * KPAD + group.nf].iter().enumerate() {
            d[k] += w * (x as f64) * (x as f64) / 4.0;
        }
    }
    d
}

/// Step sizes for fits over `group` with row weights `c`.
pub fn steps_for(group: &GroupDesign, c: &[f32]) -> Steps {
    let nf = group.nf;
    let mut h = [[0f64; MAX_K]; MAX_K];
    for r in 0..group.n_rows() {
        let w = c[r] as f64;
        if w == 0.0 {
            continue;
        }
        let x = &group.x[r * KPAD..r * KPAD + nf];
        for i in 0..nf {
            if x[i] == 0.0 {
                continue;
            }
            let xi = w * x[i] as f64;
            for j in 0..=i {
                h[i][j] += xi * x[j] as f64;
            }
        }
    }
    let mut d = [0f64; MAX_K];
    for i in 0..nf {
        for j in 0..i {
            h[j][i] = h[i][j];
        }
        d[i] = h[i][i] / 4.0;
    }
    // Scaled curvature M = D^-½ (H/4) D^-½ over the features that occur.
    let inv_sqrt: Vec<f64> = d[..nf]
        .iter()
        .map(|&v| if v > 0.0 { 1.0 / v.sqrt() } else { 0.0 })
        .collect();
    let mut m = [[0f64; MAX_K]; MAX_K];
    for i in 0..nf {
        for j in 0..nf {
            m[i][j] = h[i][j] / 4.0 * inv_sqrt[i] * inv_sqrt[j];
        }
    }
    let lmax = largest_eigenvalue(&m, nf) * 1.01; // power iteration approaches from below
    let mut step = [0f64; MAX_K];
    for k in 0..nf {
        if d[k] > 0.0 {
            step[k] = 1.0 / (lmax * d[k]);
        }
    }
    Steps { step }
}

/// Largest eigenvalue of a symmetric PSD matrix (its leading `nf` × `nf` block) by power
/// iteration.
fn largest_eigenvalue(m: &[[f64; MAX_K]; MAX_K], nf: usize) -> f64 {
    let mut v = [1.0f64; MAX_K];
    let mut lambda = 0.0;
    for _ in 0..500 {
        let mut next = [0f64; MAX_K];
        for i in 0..nf {
            next[i] = (0..nf).map(|j| m[i][j] * v[j]).sum();
        }
        let norm = next[..nf].iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 1.0;
        }
        for i in 0..nf {
            v[i] = next[i] / norm;
        }
        let converged = (norm - lambda).abs() <= 1e-10 * norm;
        lambda = norm;
        if converged {
            break;
        }
    }
    lambda.max(f64::MIN_POSITIVE)
}
