//! Batched FISTA for the L1-penalised logistic MAP, one lane block at a time.
//!
//! Every lane is an independent fit; all lanes of a block step together through one fused
//! gradient call. A lane stops (its weights freeze) as soon as its KKT violation at the point
//! where the gradient was taken is below the tolerance, so a fit's result never depends on which
//! other fits share its block. Momentum restarts when it points uphill (O'Donoghue & Candès),
//! which keeps FISTA monotone-ish on these strongly convex problems.

use super::objective::kkt_violation;
use super::precondition::Steps;
use crate::base::features::MAX_K;
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::solve::backend::GradientBackend;

/// What one lane ended with.
#[derive(Clone, Debug)]
pub struct LaneResult {
    /// Final weights (the f32 point whose gradient met the tolerance).
    pub w: [f32; MAX_K],
    /// Gradient evaluations used.
    pub iterations: usize,
    /// KKT violation as seen by the f32 kernel at `w`.
    pub kkt_f32: f64,
    /// Whether the tolerance was met before the iteration cap.
    pub converged: bool,
}

/// A per-lane solver driven by [`drive_lanes`]: what it does with the gradient at the point it
/// asked for, and what it reports if it runs out of iterations.
pub trait LaneSolver {
    /// Lane `lane` was evaluated at `p` (the f32 point the kernel saw) with gradient `g`, and
    /// its KKT violation `kkt` is above the tolerance: the next point to evaluate.
    fn step(&mut self, lane: usize, p: &[f64; MAX_K], g: &[f64; MAX_K], kkt: f64) -> [f64; MAX_K];
    /// The weights of a lane that did not converge.
    fn unconverged(&self, lane: usize) -> [f64; MAX_K];
}

/// Iterations a lane may go without lowering its best KKT violation by a tenth before it stops
/// unconverged. On the paper's data a fit converges in at most ~40 iterations; at ~30,000 rows
/// per fit the f32 gradient's rounding keeps about half the fits just above the 1e-4 tolerance
/// forever, and each would otherwise run to `max_iter` (measured on a 1M-pair table, issue 17).
pub const STALL_ITERATIONS: usize = 100;
/// The factor a new best KKT violation must beat.
const STALL_GAIN: f64 = 0.9;

/// The lock-step loop every batched MAP solver shares: evaluate all lanes of `block` at their
/// current points in one gradient call, stop each lane whose KKT violation is at most `tol`
/// (its weights freeze at that point) or has stalled (no new best by a tenth in
/// [`STALL_ITERATIONS`]: the f32 floor, left to the f64 polish), and let `solver` move the
/// others. `start[lane]` is each lane's first point. Returns one result per fit of the block
/// (empty lanes are skipped).
#[allow(clippy::too_many_arguments)] // the loop's whole state, passed once per block
pub fn drive_lanes<B: GradientBackend + ?Sized>(
    backend: &B,
    group: &GroupDesign,
    block: &Block,
    start: &[[f64; MAX_K]],
    lambda: f64,
    tol: f64,
    max_iter: usize,
    solver: &mut impl LaneSolver,
) -> Vec<LaneResult> {
    let lanes = block.fits.len();
    let mut eval = [[0f64; MAX_K]; LANES];
    eval[..lanes].copy_from_slice(&start[..lanes]);
    let mut active = [false; LANES];
    active[..lanes].fill(true);
    let mut out: Vec<LaneResult> = (0..lanes)
        .map(|_| LaneResult {
            w: [0.0; MAX_K],
            iterations: 0,
            kkt_f32: f64::INFINITY,
            converged: false,
        })
        .collect();
    let mut w32 = vec![0f32; KPAD * LANES];
    let mut grad = vec![0f64; KPAD * LANES];
    // Each lane's best KKT violation so far and when it was reached.
    let mut best = [(f64::INFINITY, 0usize); LANES];
    for it in 0..max_iter {
        for l in 0..LANES {
            for k in 0..MAX_K {
                w32[k * LANES + l] = eval[l][k] as f32;
            }
        }
        backend.block_gradient(group, block, &w32, &mut grad, None);
        let mut any_active = false;
        for l in 0..lanes {
            if !active[l] {
                continue;
            }
            let mut p = [0f64; MAX_K];
            let mut g = [0f64; MAX_K];
            for k in 0..MAX_K {
                p[k] = w32[k * LANES + l] as f64;
                g[k] = grad[k * LANES + l];
            }
            let kkt = kkt_violation(&p, &g, lambda);
            out[l].iterations = it + 1;
            out[l].kkt_f32 = kkt;
            if kkt <= tol {
                active[l] = false;
                out[l].converged = true;
                out[l].w = p.map(|v| v as f32);
                continue;
            }
            if kkt < STALL_GAIN * best[l].0 {
                best[l] = (kkt, it);
            } else if it - best[l].1 >= STALL_ITERATIONS {
                // The f32 gradient's rounding floor lies above the tolerance (tens of thousands
                // of rows per fit): iterating on cannot get there; the f64 polish does.
                active[l] = false;
                out[l].w = p.map(|v| v as f32);
                continue;
            }
            any_active = true;
            eval[l] = solver.step(l, &p, &g, kkt);
        }
        if !any_active {
            break;
        }
    }
    for l in 0..lanes {
        if active[l] {
            out[l].w = solver.unconverged(l).map(|v| v as f32);
        }
    }
    out
}

/// FISTA's per-lane state: iterate x, momentum point y (the point evaluated), step counter t.
struct FistaLanes<'a> {
    x: [[f64; MAX_K]; LANES],
    y: [[f64; MAX_K]; LANES],
    t: [f64; LANES],
    steps: &'a [&'a Steps],
    lambda: f64,
}

impl LaneSolver for FistaLanes<'_> {
    fn step(&mut self, l: usize, _p: &[f64; MAX_K], g: &[f64; MAX_K], _kkt: f64) -> [f64; MAX_K] {
        fista_step(
            &mut self.x[l],
            &mut self.y[l],
            &mut self.t[l],
            g,
            &self.steps[l].step,
            self.lambda,
        );
        self.y[l]
    }

    /// The last iterate as it stands.
    fn unconverged(&self, l: usize) -> [f64; MAX_K] {
        self.x[l]
    }
}

/// Runs FISTA on every lane of `block`; `steps[lane]` are that lane's per-feature steps and
/// `init[lane]` its starting point (zero when `None`; a bootstrap replicate starts at the
/// point estimate, a few steps from its own optimum). Returns one result per fit of the block
/// (empty lanes are skipped).
#[allow(clippy::too_many_arguments)] // the solver's whole state, passed once per block
pub fn fista_block<B: GradientBackend + ?Sized>(
    backend: &B,
    group: &GroupDesign,
    block: &Block,
    steps: &[&Steps],
    init: Option<&[[f64; MAX_K]]>,
    lambda: f64,
    tol: f64,
    max_iter: usize,
) -> Vec<LaneResult> {
    let lanes = block.fits.len();
    let mut x = [[0f64; MAX_K]; LANES];
    if let Some(init) = init {
        x[..lanes].copy_from_slice(&init[..lanes]);
    }
    let mut solver = FistaLanes {
        x,
        y: x,
        t: [1.0; LANES],
        steps,
        lambda,
    };
    drive_lanes(
        backend,
        group,
        block,
        &x[..lanes],
        lambda,
        tol,
        max_iter,
        &mut solver,
    )
}

/// One FISTA step with adaptive restart: from the gradient `g` at the momentum point `y`, a
/// proximal step gives the new iterate `x`; momentum restarts (t = 1) when the step and the
/// momentum disagree (O'Donoghue & Candès), else `y` extrapolates past `x`.
pub fn fista_step(
    x: &mut [f64; MAX_K],
    y: &mut [f64; MAX_K],
    t: &mut f64,
    g: &[f64; MAX_K],
    step: &[f64; MAX_K],
    lambda: f64,
) {
    let mut x_new = [0f64; MAX_K];
    for k in 0..MAX_K {
        x_new[k] = soft_threshold(y[k] - step[k] * g[k], lambda * step[k]);
    }
    let uphill: f64 = (0..MAX_K)
        .map(|k| (y[k] - x_new[k]) * (x_new[k] - x[k]))
        .sum();
    if uphill > 0.0 {
        *t = 1.0;
        *y = x_new;
    } else {
        let t_next = 0.5 * (1.0 + (1.0 + 4.0 * *t * *t).sqrt());
        let beta = (*t - 1.0) / t_next;
        for k in 0..MAX_K {
            y[k] = x_new[k] + beta * (x_new[k] - x[k]);
        }
        *t = t_next;
    }
    *x = x_new;
}

/// The proximal map of t·|·|.
#[inline]
pub fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}
