//! f64 evaluation of a fit: objective, gradient and KKT violation, independent of the kernel.
//!
//! The batched solver works in f32; every reported objective and KKT figure is recomputed here
//! in f64 from the weights it returns, so the numbers in `fits.jsonl` are the true ones.

use crate::base::features::MAX_K;
use crate::design::{Block, GroupDesign, KPAD, LANES};

/// Objective Σ c_r·logloss + λ‖w‖₁ and the gradient of its smooth part, in f64.
pub fn objective_f64(
    group: &GroupDesign,
    block: &Block,
    lane: usize,
    w: &[f64; MAX_K],
    lambda: f64,
) -> (f64, [f64; MAX_K]) {
    let mut loss = 0.0;
    let mut grad = [0f64; MAX_K];
    for i in 0..block.entries() {
        let c = block.c[i * LANES + lane] as f64;
        if c == 0.0 {
            continue;
        }
        let cy = block.cy[i * LANES + lane] as f64;
        let r = block.row(i);
        let x = &group.x[r * KPAD..r * KPAD + group.nf];
        let z: f64 = x.iter().zip(w).map(|(&a, &b)| a as f64 * b).sum();
        // c·softplus(z) − cy·z is c·logloss for y = cy / c; one exp serves both terms.
        let e = (-z.abs()).exp();
        let softplus = z.max(0.0) + e.ln_1p();
        let sig = if z >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        loss += c * softplus - cy * z;
        let resid = c * sig - cy;
        for (g, &xk) in grad.iter_mut().zip(x) {
            *g += resid * xk as f64;
        }
    }
    let l1: f64 = w.iter().map(|v| v.abs()).sum();
    (loss + lambda * l1, grad)
}

/// KKT violation of `w` for the L1-penalised problem, max over features:
/// |g_k + λ·sign(w_k)| where w_k ≠ 0, max(|g_k| − λ, 0) where w_k = 0.
pub fn kkt_violation(w: &[f64], grad: &[f64], lambda: f64) -> f64 {
    w.iter()
        .zip(grad)
        .map(|(&wk, &gk)| {
            if wk != 0.0 {
                (gk + lambda * wk.signum()).abs()
            } else {
                (gk.abs() - lambda).max(0.0)
            }
        })
        .fold(0.0, f64::max)
}
