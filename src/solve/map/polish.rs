//! f64 finishing pass for the rare fit whose f32 answer misses the KKT tolerance in f64.
//!
//! The batched kernel accumulates in f32 per tile; on a badly conditioned fit the f32 gradient
//! noise can sit near the tolerance. Those fits continue here, one at a time, with the same
//! proximal method on the exact f64 gradient, until the f64 KKT test passes.

use super::fista::fista_step;
use super::objective::{kkt_violation, objective_f64};
use super::precondition::Steps;
use crate::base::features::MAX_K;
use crate::design::{Block, GroupDesign};

/// Continues FISTA in f64 from `w0`; returns the weights, objective, KKT and iterations used.
#[allow(clippy::too_many_arguments)] // one fit's coordinates in the batch + solver settings
pub fn polish_f64(
    group: &GroupDesign,
    block: &Block,
    lane: usize,
    steps: &Steps,
    w0: &[f64; MAX_K],
    lambda: f64,
    tol: f64,
    max_iter: usize,
) -> ([f64; MAX_K], f64, f64, usize) {
    let mut x = *w0;
    let mut y = *w0;
    let mut t = 1.0f64;
    for it in 0..max_iter {
        let (obj, g) = objective_f64(group, block, lane, &y, lambda);
        let kkt = kkt_violation(&y, &g, lambda);
        if kkt <= tol {
            return (y, obj, kkt, it + 1);
        }
        fista_step(&mut x, &mut y, &mut t, &g, &steps.step, lambda);
    }
    let (obj, g) = objective_f64(group, block, lane, &y, lambda);
    (y, obj, kkt_violation(&y, &g, lambda), max_iter)
}
