//! Warm-started proximal Newton for many fits near a known solution (bootstrap replicates).
//!
//! A replicate's MAP lies within a few standard errors of the plain fit ŵ, where the logistic
//! loss is close to its quadratic model. Each lane therefore steps with a fixed metric M, its
//! own Hessian Σ c σ(1−σ) x xᵀ at the starting point ŵ (the replicate's counts c; one curvature
//! kernel call per block, `kernels/cpu_curvature.rs`): the step minimises
//! gᵀd + ½ dᵀMd + λ‖w + d‖₁ by coordinate descent (29 unknowns, no data), so a step costs one
//! fused gradient call like a FISTA step but corrects the curvature of all features at once.
//! With the model's plain-fit Hessian shared by all replicates instead, the count noise in the
//! metric cost 10 gradient calls a fit; with each replicate's own, about 7. A step is kept only
//! if it lowers the lane's KKT violation; otherwise the lane continues with the FISTA of
//! [`super::fista`] from its best point, whose convergence is guaranteed. The lock-step loop is
//! [`super::fista::drive_lanes`], shared with FISTA; lanes are independent.

use super::fista::{LaneResult, LaneSolver, drive_lanes, fista_step};
use super::precondition::Steps;
use crate::base::features::MAX_K;
use crate::design::{Block, GroupDesign, LANES};
use crate::solve::backend::GradientBackend;

/// A model's curvature at its plain fit.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Features (the design's slots); the rest of `h` and `inv_diag` is zero.
    pub nf: usize,
    /// Σ_r c_r σ_r(1 − σ_r) x_r x_rᵀ, row-major.
    pub h: [[f64; MAX_K]; MAX_K],
    /// 1 / h_kk (0 where h_kk = 0), so the coordinate sweeps need no division.
    pub inv_diag: [f64; MAX_K],
}

impl Metric {
    /// A metric from a row-major nf × nf Hessian.
    pub fn from_hessian(h: &[f64], nf: usize) -> Metric {
        let h: [[f64; MAX_K]; MAX_K] = std::array::from_fn(|i| {
            std::array::from_fn(|j| if i < nf && j < nf { h[i * nf + j] } else { 0.0 })
        });
        let inv_diag = std::array::from_fn(|k| if h[k][k] > 0.0 { 1.0 / h[k][k] } else { 0.0 });
        Metric { nf, h, inv_diag }
    }
}

/// The proximal Newton point: argmin_u gᵀ(u − w) + ½(u − w)ᵀM(u − w) + λ‖u‖₁, by cyclic
/// coordinate descent. Features with no curvature (absent from the rows) keep their value.
pub fn newton_point(m: &Metric, w: &[f64; MAX_K], g: &[f64; MAX_K], lambda: f64) -> [f64; MAX_K] {
    // The sweeps' row updates are nf-long f64 axpys: 4-wide with AVX2 (the crate's baseline
    // target is SSE2), so the same code is compiled twice and picked at run time.
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { newton_point_avx2(m, w, g, lambda) };
        }
    }
    newton_point_body(m, w, g, lambda)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn newton_point_avx2(
    m: &Metric,
    w: &[f64; MAX_K],
    g: &[f64; MAX_K],
    lambda: f64,
) -> [f64; MAX_K] {
    newton_point_body(m, w, g, lambda)
}

#[inline(always)]
fn newton_point_body(m: &Metric, w: &[f64; MAX_K], g: &[f64; MAX_K], lambda: f64) -> [f64; MAX_K] {
    let mut u = *w;
    let mut r = [0f64; MAX_K]; // M (u − w)
    // The point only steers the next gradient evaluation, where the KKT test is made: an
    // inexact Newton step converges as well, so sweeps stop once the moves are small against
    // the first sweep's (or below 1e-8, far under a replicate's spread).
    let mut first = f64::INFINITY;
    let nf = m.nf;
    for sweep in 0..100 {
        let mut biggest = 0f64;
        for k in 0..nf {
            let inv = m.inv_diag[k];
            if inv == 0.0 {
                continue;
            }
            let v = u[k] - (g[k] + r[k]) * inv;
            let t = lambda * inv;
            let new = if v > t {
                v - t
            } else if v < -t {
                v + t
            } else {
                0.0
            };
            let delta = new - u[k];
            if delta != 0.0 {
                // M is symmetric: row k is column k, and contiguous.
                for (ri, &hki) in r[..nf].iter_mut().zip(&m.h[k][..nf]) {
                    *ri += delta * hki;
                }
                u[k] = new;
                biggest = biggest.max(delta.abs());
            }
        }
        if sweep == 0 {
            first = biggest;
        }
        if biggest <= 1e-8f64.max(0.05 * first) {
            break;
        }
    }
    u
}

/// Newton's per-lane state: the best point so far (lowest KKT) and its gradient, and the
/// FISTA state of a lane that fell back.
struct NewtonLanes<'a, 's> {
    metrics: &'a [Metric],
    steps: &'a (dyn Fn(usize) -> &'s Steps + Sync),
    lambda: f64,
    best: [[f64; MAX_K]; LANES],
    best_g: [[f64; MAX_K]; LANES],
    best_kkt: [f64; LANES],
    newton: [bool; LANES],
    x: [[f64; MAX_K]; LANES],
    y: [[f64; MAX_K]; LANES],
    t: [f64; LANES],
}

impl LaneSolver for NewtonLanes<'_, '_> {
    fn step(&mut self, l: usize, p: &[f64; MAX_K], g: &[f64; MAX_K], kkt: f64) -> [f64; MAX_K] {
        let mut g = *g;
        if self.newton[l] {
            if kkt < self.best_kkt[l] {
                self.best[l] = *p;
                self.best_g[l] = g;
                self.best_kkt[l] = kkt;
                return newton_point(&self.metrics[l], p, &g, self.lambda);
            }
            // The Newton step did not help: FISTA from the best point, whose gradient is
            // known, so its first step needs no extra evaluation.
            self.newton[l] = false;
            self.x[l] = self.best[l];
            self.y[l] = self.best[l];
            self.t[l] = 1.0;
            g = self.best_g[l];
        }
        fista_step(
            &mut self.x[l],
            &mut self.y[l],
            &mut self.t[l],
            &g,
            &(self.steps)(l).step,
            self.lambda,
        );
        self.y[l]
    }

    /// The best point seen (Newton), or FISTA's last iterate.
    fn unconverged(&self, l: usize) -> [f64; MAX_K] {
        if self.newton[l] {
            self.best[l]
        } else {
            self.x[l]
        }
    }
}

/// Solves every lane of `block` from `init[lane]` with metric `metrics[lane]`, falling back to
/// FISTA with `steps(lane)` (computed only then); a lane stops when its KKT violation is at
/// most `tol`.
#[allow(clippy::too_many_arguments)] // the solver's whole state, passed once per block
pub fn newton_block<'s, B: GradientBackend + ?Sized>(
    backend: &B,
    group: &GroupDesign,
    block: &Block,
    steps: &(dyn Fn(usize) -> &'s Steps + Sync),
    metrics: &[Metric],
    init: &[[f64; MAX_K]],
    lambda: f64,
    tol: f64,
    max_iter: usize,
) -> Vec<LaneResult> {
    let mut solver = NewtonLanes {
        metrics,
        steps,
        lambda,
        best: [[0.0; MAX_K]; LANES],
        best_g: [[0.0; MAX_K]; LANES],
        best_kkt: [f64::INFINITY; LANES],
        newton: [true; LANES],
        x: [[0.0; MAX_K]; LANES],
        y: [[0.0; MAX_K]; LANES],
        t: [1.0; LANES],
    };
    drive_lanes(
        backend,
        group,
        block,
        init,
        lambda,
        tol,
        max_iter,
        &mut solver,
    )
}
