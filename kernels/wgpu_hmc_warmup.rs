//! The warm-up of surrogate-trajectory HMC for wgpu (CubeCL → SPIR-V on Vulkan), so that a
//! posterior run is all on the device after its first point: an iteration is the propose
//! kernel and the gradient kernel of the sampling phase, then [`hmc_warmup_accept()`], which
//! besides the Metropolis test adapts each lane as the CPU sampler does (`adapt.rs`): dual
//! averaging of the step size on the model Hamiltonian's energy error, Welford variances in
//! the slow windows, the metric and step-size restart at a window's close, and the gradient
//! moments of the tail for the model's final fit ([`hmc_fit_model()`], the GPU twin of
//! `QuadraticModel::fit_to`). The host drives the schedule (the same for every lane) through
//! the `flags` of each launch and relaunches the gradient and curvature kernels where the
//! model moves. References: the CPU's `DualAveraging`, `Welford`, `GradientMoments` and
//! `fit_to`, which `tests/wgpu_hmc.rs` replays.

// Nested ifs keep each read behind the bounds test that guards it, whatever the #[cube] macro
// makes of `&&` on device values; `!(x > 0)` is meant: it is true for NaN too.
#![allow(clippy::collapsible_if, clippy::neg_cmp_op_on_partial_ord)]

use cubecl::prelude::*;

use crate::solve::backend::wgpu::hmc::kernel::metropolis;

/// `flags`: the iteration lies in a slow window (Welford adds the state).
pub const IN_WINDOW: u32 = 1;
/// `flags`: the iteration closes a slow window (metric, centre, restarts).
pub const CLOSES_WINDOW: u32 = 2;
/// `flags`: the iteration is in the tail (the moments add the state and its true gradient).
pub const TAIL: u32 = 4;
/// `flags`: the last warm-up iteration (averaged step size; centre = the moments' mean).
pub const LAST: u32 = 8;
/// `flags`: the gradient kernel computed the true gradient at the proposals (control
/// variates, or the tail): an accepted lane keeps it.
pub const GRADIENT: u32 = 16;
/// `flags`: the model moves to the current state after this iteration.
pub const CENTRE_AT_STATE: u32 = 32;
/// `flags`: the tail starts: the moments are taken relative to the current state.
pub const TAIL_START: u32 = 64;

/// Per lane, the moments' entries at `nf` features: n, Σ(q − s), Σg, Σ(q − s)(q − s)ᵀ,
/// Σ(q − s)gᵀ (s = the state at the tail's start, which keeps the f32 sums from cancelling).
pub const fn moments_len(nf: usize) -> usize {
    qg_at(nf) + nf * nf
}

/// Where Σ(q − s)(q − s)ᵀ starts among a lane's moments (after n, Σ(q − s) and Σg).
pub const fn qq_at(nf: usize) -> usize {
    1 + 2 * nf
}

/// Where Σ(q − s)gᵀ starts among a lane's moments.
pub const fn qg_at(nf: usize) -> usize {
    qq_at(nf) + nf * nf
}

/// Lane i's first moment (`n`); its entries lie 16 lanes apart, `moments_len(nf)` of them.
#[cube]
fn lane_moments(i: usize, #[comptime] nf: usize) -> usize {
    (i / 16) * comptime!(moments_len(nf) * 16) + i % 16
}
/// Dual-averaging state per lane: μ, h̄, log ε̄, count.
pub const DUAL: usize = 4;

/// One warm-up iteration's accept and adaptation (see the module doc). Field buffers are
/// `blocks × kpad × 16` (lane i at `(i / 16) · kpad · 16 + k · 16 + i % 16`), per-lane ones
/// `blocks × 16`, `dual` `blocks × 16 × 4`, `moments` `blocks × moments_len(nf) × 16`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)] // the lane's whole warm-up state, one buffer each
pub fn hmc_warmup_accept(
    q: &mut [f32],
    u: &mut [f32],
    grad_u: &mut [f32],
    qn: &[f32],
    grad: &[f32],
    dk: &[f32],
    dv: &[f32],
    accept_u: &[f32],
    live: &[u32],
    eps: &mut [f32],
    dual: &mut [f32],
    welford: &mut [f32],
    inv_mass: &mut [f32],
    sqrt_mass: &mut [f32],
    centre: &mut [f32],
    shift: &mut [f32],
    moments: &mut [f32],
    lambda: f32,
    target: f32,
    flags: u32,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let block = i / 16;
            let lane = i % 16;
            let field = comptime!(kpad * 16);
            let base = block * field + lane;
            // The Metropolis test on the true Hamiltonian, as in the sampling phase.
            let mut keep = 0u32;
            if (flags & GRADIENT) != 0u32 {
                keep = 1u32;
            }
            metropolis(
                q, u, grad_u, qn, grad, dk, accept_u, i, base, lambda, keep, nf,
            );
            // Dual averaging on the model Hamiltonian's acceptance (Hoffman & Gelman 2014).
            let mut tuned = f32::min(f32::exp(-(dv[i] + dk[i])), 1.0f32);
            if !(tuned >= 0.0) {
                tuned = 0.0;
            }
            let d = i * 4;
            let count = dual[d + 3] + 1.0;
            let t = count + 10.0;
            let h_bar = (1.0 - 1.0 / t) * dual[d + 1] + (target - tuned) / t;
            let log_eps = dual[d] - f32::sqrt(count) / 0.05 * h_bar;
            let w = f32::powf(count, -0.75f32);
            let log_eps_bar = w * log_eps + (1.0 - w) * dual[d + 2];
            dual[d + 1] = h_bar;
            dual[d + 2] = log_eps_bar;
            dual[d + 3] = count;
            let mut e = f32::exp(log_eps);
            // Welford: n per lane in `welford[i]`, means and M2 after the lanes.
            let lanes = live.len();
            let wm = lanes + block * field * 2 + lane;
            if (flags & IN_WINDOW) != 0u32 {
                let n = welford[i] + 1.0;
                welford[i] = n;
                for k in 0..nf {
                    let x = q[base + k * 16];
                    let mean = welford[wm + k * 16];
                    let dx = x - mean;
                    let mean_new = mean + dx / n;
                    welford[wm + k * 16] = mean_new;
                    welford[wm + field + k * 16] += dx * (x - mean_new);
                }
            }
            if (flags & CLOSES_WINDOW) != 0u32 {
                // Stan's regularised variance becomes the metric; the model moves to the mean.
                let n = welford[i];
                for k in 0..nf {
                    let mut var = 0.0f32;
                    if n > 1.0 {
                        var = welford[wm + field + k * 16] / (n - 1.0);
                    }
                    let v = (n / (n + 5.0)) * var + 1.0e-3 * (5.0 / (n + 5.0));
                    inv_mass[base + k * 16] = v;
                    sqrt_mass[base + k * 16] = f32::sqrt(1.0 / v);
                    centre[base + k * 16] = welford[wm + k * 16];
                    welford[wm + k * 16] = 0.0;
                    welford[wm + field + k * 16] = 0.0;
                }
                welford[i] = 0.0;
                dual[d] = f32::ln(10.0 * e);
                dual[d + 1] = 0.0;
                dual[d + 2] = 0.0;
                dual[d + 3] = 0.0;
            }
            if (flags & LAST) != 0u32 {
                e = f32::exp(log_eps_bar);
            }
            eps[i] = e;
            let mb = lane_moments(i, nf);
            if (flags & TAIL_START) != 0u32 {
                for k in 0..nf {
                    shift[base + k * 16] = q[base + k * 16];
                }
            }
            if (flags & TAIL) != 0u32 {
                moments[mb] += 1.0;
                let mut dq = Array::<f32>::new(kpad);
                for k in 0..nf {
                    dq[k] = q[base + k * 16] - shift[base + k * 16];
                    moments[mb + (1 + k) * 16] += dq[k];
                    moments[mb + (1 + nf + k) * 16] += grad_u[base + k * 16];
                }
                for k in 0..nf {
                    for j in 0..nf {
                        moments[mb + comptime!(qq_at(nf) * 16) + (k * nf + j) * 16] +=
                            dq[k] * dq[j];
                        moments[mb + comptime!(qg_at(nf) * 16) + (k * nf + j) * 16] +=
                            dq[k] * grad_u[base + j * 16];
                    }
                }
            }
            if (flags & CENTRE_AT_STATE) != 0u32 {
                for k in 0..nf {
                    centre[base + k * 16] = q[base + k * 16];
                }
            }
            if (flags & LAST) != 0u32 {
                // The final fit's centre: the tail's mean state (s when it is empty).
                let n = f32::max(moments[mb], 1.0);
                for k in 0..nf {
                    centre[base + k * 16] = shift[base + k * 16] + moments[mb + (1 + k) * 16] / n;
                }
            }
        }
    }
}

/// The model's final fit to the tail's draws, after the host has refitted the Taylor model at
/// the draws' mean (`mgrad`, `hess` there): intercept = the mean true gradient, slopes =
/// H + sym(D), D the ridge least-squares slopes of the Taylor model's residual gradients
/// (C_qq (1 + κ on the diagonal) D = C_qg − C_qq H), solved by Cholesky. A lane with fewer than
/// `min_draws` draws, or whose system is not positive definite, keeps its Taylor model — as
/// `QuadraticModel::fit_to` does. Five launches, in place of the tail's moments (their last
/// use), each unit's loops short: llvmpipe cuts a shader's loops off after 65,535 iterations,
/// which one unit doing the whole fit of a lane passed at 38 features
/// (`solve::backend::wgpu::warmup::launch_model_fit` runs them):
///
/// 1. [`hmc_fit_model()`], a unit per lane: a = C_qq and b = C_qg, centred;
/// 2. [`hmc_fit_model_taylor()`], a unit per lane and column: b −= a H;
/// 3. [`hmc_fit_model_cholesky()`], a unit per lane: the ridge, a = L Lᵀ;
/// 4. [`hmc_fit_model_solve()`], a unit per lane and column: D = a⁻¹ b;
/// 5. [`hmc_fit_model_finish()`], a unit per lane: the model's intercept and slopes.
#[cube(launch)]
pub fn hmc_fit_model(
    moments: &mut [f32],
    live: &[u32],
    min_draws: f32,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let mb = lane_moments(i, nf);
            let n = moments[mb];
            if n >= min_draws {
                let mut mq = Array::<f32>::new(kpad);
                let mut mg = Array::<f32>::new(kpad);
                for k in 0..nf {
                    mq[k] = moments[mb + (1 + k) * 16] / n;
                    mg[k] = moments[mb + (1 + nf + k) * 16] / n;
                }
                // a = C_qq, b = C_qg, each in place of the sums it comes from: an nf × nf
                // matrix a lane in private memory would not compile on every driver at 64.
                let qa = mb + comptime!(qq_at(nf) * 16);
                let qb = mb + comptime!(qg_at(nf) * 16);
                for k in 0..nf {
                    for j in 0..nf {
                        moments[qa + (k * nf + j) * 16] -= n * mq[k] * mq[j];
                        moments[qb + (k * nf + j) * 16] -= n * mq[k] * mg[j];
                    }
                }
            }
        }
    }
}

/// Step 2 of the final fit: column `col` of b = C_qr = C_qg − C_qq H.
#[cube(launch)]
pub fn hmc_fit_model_taylor(
    moments: &mut [f32],
    live: &[u32],
    hess: &[f32],
    min_draws: f32,
    #[comptime] nf: usize,
) {
    let unit = ABSOLUTE_POS;
    let i = unit / nf;
    let col = unit % nf;
    if i < live.len() {
        if live[i] != 0u32 {
            let block = i / 16;
            let lane = i % 16;
            let hbase = block * (nf * nf * 16) + lane;
            let mb = lane_moments(i, nf);
            let qa = mb + comptime!(qq_at(nf) * 16);
            let qb = mb + comptime!(qg_at(nf) * 16);
            if moments[mb] >= min_draws {
                for k in 0..nf {
                    let mut ch = 0.0f32;
                    for m in 0..nf {
                        ch += moments[qa + (k * nf + m) * 16] * hess[hbase + (m * nf + col) * 16];
                    }
                    moments[qb + (k * nf + col) * 16] -= ch;
                }
            }
        }
    }
}

/// Step 3 of the final fit: the ridge on a's diagonal, then a = L Lᵀ in place (lower
/// triangle); a lane whose system is not positive definite keeps its Taylor model: its count
/// goes to 0, so the later steps pass it by.
#[cube(launch)]
pub fn hmc_fit_model_cholesky(
    moments: &mut [f32],
    live: &[u32],
    ridge: f32,
    min_draws: f32,
    #[comptime] nf: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let mb = lane_moments(i, nf);
            let qa = mb + comptime!(qq_at(nf) * 16);
            if moments[mb] >= min_draws {
                for k in 0..nf {
                    moments[qa + (k * nf + k) * 16] *= 1.0 + ridge;
                }
                let mut ok = 1u32;
                for j in 0..nf {
                    let mut diag = moments[qa + (j * nf + j) * 16];
                    for m in 0..j {
                        diag -= moments[qa + (j * nf + m) * 16] * moments[qa + (j * nf + m) * 16];
                    }
                    if !(diag > 0.0) {
                        ok = 0u32;
                        diag = 1.0;
                    }
                    let root = f32::sqrt(diag);
                    moments[qa + (j * nf + j) * 16] = root;
                    for r in j + 1..nf {
                        let mut v = moments[qa + (r * nf + j) * 16];
                        for m in 0..j {
                            v -= moments[qa + (r * nf + m) * 16] * moments[qa + (j * nf + m) * 16];
                        }
                        moments[qa + (r * nf + j) * 16] = v / root;
                    }
                }
                if ok == 0u32 {
                    moments[mb] = 0.0;
                }
            }
        }
    }
}

/// Step 4 of the final fit: forward and back substitution of column `col` of b through the
/// Cholesky factor of step 3.
#[cube(launch)]
pub fn hmc_fit_model_solve(
    moments: &mut [f32],
    live: &[u32],
    min_draws: f32,
    #[comptime] nf: usize,
) {
    let unit = ABSOLUTE_POS;
    let i = unit / nf;
    let col = unit % nf;
    if i < live.len() {
        if live[i] != 0u32 {
            let mb = lane_moments(i, nf);
            let qa = mb + comptime!(qq_at(nf) * 16);
            let qb = mb + comptime!(qg_at(nf) * 16);
            if moments[mb] >= min_draws {
                for r in 0..nf {
                    let mut v = moments[qb + (r * nf + col) * 16];
                    for m in 0..r {
                        v -= moments[qa + (r * nf + m) * 16] * moments[qb + (m * nf + col) * 16];
                    }
                    moments[qb + (r * nf + col) * 16] = v / moments[qa + (r * nf + r) * 16];
                }
                for rr in 0..nf {
                    let r = nf - 1 - rr;
                    let mut v = moments[qb + (r * nf + col) * 16];
                    for m in r + 1..nf {
                        v -= moments[qa + (m * nf + r) * 16] * moments[qb + (m * nf + col) * 16];
                    }
                    moments[qb + (r * nf + col) * 16] = v / moments[qa + (r * nf + r) * 16];
                }
            }
        }
    }
}

/// Step 5 of the final fit: each lane that steps 1–4 solved takes intercept = its mean true
/// gradient and slopes = H + sym(D), D from the solved columns in the moments.
#[cube(launch)]
pub fn hmc_fit_model_finish(
    moments: &[f32],
    live: &[u32],
    mgrad: &mut [f32],
    hess: &mut [f32],
    min_draws: f32,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let block = i / 16;
            let lane = i % 16;
            let base = block * (kpad * 16) + lane;
            let hbase = block * (nf * nf * 16) + lane;
            let mb = lane_moments(i, nf);
            let qb = mb + comptime!(qg_at(nf) * 16);
            let n = moments[mb];
            if n >= min_draws {
                for k in 0..nf {
                    mgrad[base + k * 16] = moments[mb + (1 + nf + k) * 16] / n;
                    for j in 0..nf {
                        hess[hbase + (k * nf + j) * 16] += 0.5
                            * (moments[qb + (k * nf + j) * 16] + moments[qb + (j * nf + k) * 16]);
                    }
                }
            }
        }
    }
}
