//! f64 finishing pass for the rare fit whose f32 answer misses the KKT tolerance in f64.
//!
//! The batched kernel accumulates in f32 per tile; on a badly conditioned fit the f32 gradient
//! noise can sit near the tolerance. Those fits continue here, one at a time, with the same
//! proximal method on the exact f64 gradient, until the f64 KKT test passes.

use super::fista::soft_threshold;
use super::objective::{kkt_violation, objective_f64};
use super::precondition::Steps;
use crate::design::{Block, GroupDesign};
use crate::features::N_FEATURES;

/// Continues FISTA in f64 from `w0`; returns the weights, objective, KKT and iterations used.
#[allow(clippy::too_many_arguments)] // one fit's coordinates in the batch + solver settings
pub fn polish_f64(
    group: &GroupDesign,
    block: &Block,
    lane: usize,
    steps: &Steps,
    w0: &[f64; N_FEATURES],
    lambda: f64,
    tol: f64,
    max_iter: usize,
) -> ([f64; N_FEATURES], f64, f64, usize) {
    let mut x = *w0;
    let mut y = *w0;
    let mut t = 1.0f64;
    for it in 0..max_iter {
        let (obj, g) = objective_f64(group, block, lane, &y, lambda);
        let kkt = kkt_violation(&y, &g, lambda);
        if kkt <= tol {
            return (y, obj, kkt, it + 1);
        }
        let mut x_new = [0f64; N_FEATURES];
        for k in 0..N_FEATURES {
            let s = steps.step[k];
            x_new[k] = soft_threshold(y[k] - s * g[k], lambda * s);
        }
        let uphill: f64 = (0..N_FEATURES)
            .map(|k| (y[k] - x_new[k]) * (x_new[k] - x[k]))
            .sum();
        if uphill > 0.0 {
            t = 1.0;
            y = x_new;
        } else {
            let t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
            let beta = (t - 1.0) / t_next;
            for k in 0..N_FEATURES {
                y[k] = x_new[k] + beta * (x_new[k] - x[k]);
            }
            t = t_next;
        }
        x = x_new;
    }
    let (obj, g) = objective_f64(group, block, lane, &y, lambda);
    (y, obj, kkt_violation(&y, &g, lambda), max_iter)
}
