//! The sampling phase of surrogate-trajectory HMC for wgpu (CubeCL → SPIR-V on Vulkan). After
//! warm-up every lane's step size, mass matrix and quadratic model are fixed, so an iteration
//! of the whole batch is three launches and nothing read back:
//!
//! 1. [`hmc_propose()`], one unit per lane: momentum, then the leapfrog trajectory under the
//!    lane's model gradient g_c + H (q − c) with the Laplace prior's exact flow, as the CPU
//!    sampler's `sample_block` does;
//! 2. the gradient kernel of `wgpu_logistic.rs` at the proposals: their loss, and the true
//!    gradient only when the control variates need it;
//! 3. [`hmc_accept()`], one unit per lane: the Metropolis test on the true Hamiltonian, the
//!    running acceptance, and the kept draw (and score) written into the segment's buffer.
//!
//! Random numbers come from a counter-based generator (pcg4d, Jarzynski & Olano 2020, "Hash
//! Functions for GPU Rendering") keyed by the lane's seed and the iteration, so a run is the
//! same on every launch split. Per lane and iteration, 2⌈nf/2⌉ uniforms for nf Box–Muller
//! normals, one for the step jitter, one for the accept test, drawn four at a time (32 for the
//! paper's 29, [`uniform_count`]). A uniform has 24 bits, so the normals stop at 5.8 sd (a
//! momentum tail of probability 1e-8, far below Monte-Carlo error).
//!
//! The width is compile-time as in `wgpu_logistic.rs`: `nf` features in fields of stride
//! `kpad`, Hessians `nf × nf` a lane.
//!
//! References: the CPU sampler's functions (`prior_flow`, `QuadraticModel::gradient`,
//! `kinetic`) and [`pcg4d_host`] (the generator on the host); `tests/wgpu.rs` replays a
//! launch on the host with them.

// Nested ifs keep each read behind the bounds test that guards it, whatever the #[cube] macro
// makes of `&&` on device values.
#![allow(clippy::collapsible_if)]

use cubecl::prelude::*;

/// Relative step-size jitter per iteration (the CPU sampler's `STEP_JITTER`).
pub const STEP_JITTER: f32 = 0.1;

/// One round of pcg4d on the host: the reference of the kernels' generator.
pub fn pcg4d_host(v: [u32; 4]) -> [u32; 4] {
    let mut v = v.map(|x| x.wrapping_mul(1664525).wrapping_add(1013904223));
    let mix = |v: &mut [u32; 4]| {
        v[0] = v[0].wrapping_add(v[1].wrapping_mul(v[3]));
        v[1] = v[1].wrapping_add(v[2].wrapping_mul(v[0]));
        v[2] = v[2].wrapping_add(v[0].wrapping_mul(v[1]));
        v[3] = v[3].wrapping_add(v[1].wrapping_mul(v[2]));
    };
    mix(&mut v);
    for x in v.iter_mut() {
        *x ^= *x >> 16;
    }
    mix(&mut v);
    v
}

/// Uniforms a lane draws per iteration at `nf` features: the normals' pairs, the step
/// jitter's and the accept test's, rounded up to the generator's four.
pub const fn uniform_count(nf: usize) -> usize {
    (2 * nf.div_ceil(2) + 2).next_multiple_of(4)
}

/// The lane's [`uniform_count`] uniforms in [0, 1) for `iteration` on the host, as the kernels
/// draw them: normals' pairs first, then the step jitter's (index 2⌈nf/2⌉) and the accept
/// test's (the next).
pub fn uniforms_host(key0: u32, key1: u32, iteration: u32, nf: usize) -> Vec<f32> {
    let mut out = vec![0f32; uniform_count(nf)];
    for c in 0..(uniform_count(nf) / 4) as u32 {
        let v = pcg4d_host([key0, key1, iteration, c]);
        for (j, x) in v.iter().enumerate() {
            out[(c * 4) as usize + j] = (x >> 8) as f32 * INV_2_24;
        }
    }
    out
}

/// 2⁻²⁴: a uniform from the top 24 bits of a word.
const INV_2_24: f32 = 5.960_464_5e-8;

/// The lane's `4 · calls` uniforms (see [`uniforms_host`]).
#[cube]
fn uniforms(key0: u32, key1: u32, iteration: u32, out: &mut Array<f32>, #[comptime] calls: u32) {
    for c in 0..calls {
        let mut a = key0 * 1664525u32 + 1013904223u32;
        let mut b = key1 * 1664525u32 + 1013904223u32;
        let mut d = iteration * 1664525u32 + 1013904223u32;
        let mut e = c * 1664525u32 + 1013904223u32;
        a += b * e;
        b += d * a;
        d += a * b;
        e += b * d;
        a ^= a >> 16u32;
        b ^= b >> 16u32;
        d ^= d >> 16u32;
        e ^= e >> 16u32;
        a += b * e;
        b += d * a;
        d += a * b;
        e += b * d;
        let base = usize::cast_from(c * 4u32);
        out[base] = f32::cast_from(a >> 8u32) * INV_2_24;
        out[base + 1] = f32::cast_from(b >> 8u32) * INV_2_24;
        out[base + 2] = f32::cast_from(d >> 8u32) * INV_2_24;
        out[base + 3] = f32::cast_from(e >> 8u32) * INV_2_24;
    }
}

/// The model's loss gradient g_c + H (x − c) of the lane at `base` (feature-major, 16 lanes)
/// into `g`; `hbase` is the lane's first Hessian entry (`[row][column][lane]`).
#[cube]
fn model_gradient(
    x: &Array<f32>,
    centre: &[f32],
    mgrad: &[f32],
    hess: &[f32],
    base: usize,
    hbase: usize,
    g: &mut Array<f32>,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let mut d = Array::<f32>::new(kpad);
    for j in 0..nf {
        d[j] = x[j] - centre[base + j * 16];
    }
    for k in 0..nf {
        let mut acc = 0.0f32;
        for j in 0..nf {
            acc += hess[hbase + (k * nf + j) * 16] * d[j];
        }
        g[k] = mgrad[base + k * 16] + acc;
    }
}

/// The Laplace prior's exact flow for time `t` of every coordinate of one lane, in the closed
/// form of the CPU's `prior_flow_body` (see `laplace_flow.rs` for the derivation).
#[cube]
fn prior_flow(
    x: &mut Array<f32>,
    p: &mut Array<f32>,
    inv_mass: &[f32],
    base: usize,
    t: f32,
    lambda: f32,
    #[comptime] nf: usize,
) {
    for k in 0..nf {
        let xk = x[k];
        let pk = p[k];
        let im = inv_mass[base + k * 16];
        let m = 1.0 / im;
        let mut s = 0.0f32;
        if pk > 0.0 {
            s = 1.0;
        }
        if pk < 0.0 {
            s = -1.0f32;
        }
        if xk > 0.0 {
            s = 1.0;
        }
        if xk < 0.0 {
            s = -1.0f32;
        }
        if s != 0.0 {
            let b = im * lambda;
            let inv_b = m / lambda;
            let y = s * xk;
            let u = s * im * pk;
            let v0 = f32::sqrt(f32::max(u * u + 2.0 * b * y, 0.0));
            let t_zero = (u + v0) * inv_b;
            if t_zero >= t {
                x[k] = xk + s * (u * t - 0.5 * b * t * t);
                p[k] = pk - s * lambda * t;
            } else {
                let excursion = 2.0 * v0 * inv_b;
                let left = t - t_zero;
                let mut whole = 0.0f32;
                if excursion > 0.0 {
                    whole = f32::floor(left / excursion);
                }
                let rest = f32::max(left - whole * excursion, 0.0);
                let parity = whole - 2.0 * f32::floor(0.5 * whole);
                let side = -s * (1.0 - 2.0 * parity);
                x[k] = side * (v0 * rest - 0.5 * b * rest * rest);
                p[k] = side * (v0 - b * rest) * m;
            }
        }
    }
}

/// Step 1 of an iteration (see the module doc). Lane i (block i / 16) reads its state at
/// `base = (i / 16) · kpad · 16 + i % 16`, stride 16 per feature; writes its proposal into `qn` (the
/// gradient kernel's weight layout), the kinetic energy change into `dk` and its accept
/// uniform into `accept_u`, and the model potential's change into `dv`. `steps` leapfrog steps
/// of a size jittered around `eps`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)] // the lane's whole state, one buffer each
pub fn hmc_propose(
    q: &[f32],
    sqrt_mass: &[f32],
    inv_mass: &[f32],
    eps: &[f32],
    centre: &[f32],
    mgrad: &[f32],
    hess: &[f32],
    keys: &[u32],
    live: &[u32],
    qn: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
    accept_u: &mut [f32],
    lambda: f32,
    steps: u32,
    iteration: u32,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let base = (i / 16) * (kpad * 16) + i % 16;
            let hbase = (i / 16) * (nf * nf * 16) + i % 16;
            let pairs = comptime!(nf.div_ceil(2));
            let count = comptime!(uniform_count(nf));
            let mut r = Array::<f32>::new(count);
            uniforms(
                keys[2 * i],
                keys[2 * i + 1],
                iteration,
                &mut r,
                comptime!((count / 4) as u32),
            );
            let mut x = Array::<f32>::new(kpad);
            let mut p = Array::<f32>::new(kpad);
            let mut g = Array::<f32>::new(kpad);
            for j in 0..pairs {
                // Box–Muller on (1 − u, u'): 1 − u is in (0, 1], so the log is finite.
                let radius = f32::sqrt(-2.0f32 * f32::ln(1.0f32 - r[2 * j]));
                let angle = 6.283_185_5f32 * r[2 * j + 1];
                p[2 * j] = radius * f32::cos(angle);
                if 2 * j + 1 < nf {
                    p[2 * j + 1] = radius * f32::sin(angle);
                }
            }
            let mut k0 = 0.0f32;
            for k in 0..nf {
                p[k] *= sqrt_mass[base + k * 16];
                x[k] = q[base + k * 16];
                k0 += p[k] * p[k] * inv_mass[base + k * 16];
            }
            let step = eps[i] * (1.0 + STEP_JITTER * (2.0 * r[2 * pairs] - 1.0));
            let half = 0.5 * step;
            model_gradient(&x, centre, mgrad, hess, base, hbase, &mut g, nf, kpad);
            let mut g0 = Array::<f32>::new(kpad);
            for k in 0..nf {
                g0[k] = g[k];
            }
            for _ in 0u32..steps {
                for k in 0..nf {
                    p[k] -= half * g[k];
                }
                prior_flow(&mut x, &mut p, inv_mass, base, step, lambda, nf);
                model_gradient(&x, centre, mgrad, hess, base, hbase, &mut g, nf, kpad);
                for k in 0..nf {
                    p[k] -= half * g[k];
                }
            }
            let mut k1 = 0.0f32;
            // The model potential's change: exactly the trapezoid of its gradients (see the
            // CPU's `model_potential_change`), which the warm-up tunes the step size on.
            let mut change = 0.0f32;
            for k in 0..nf {
                let q0 = q[base + k * 16];
                qn[base + k * 16] = x[k];
                k1 += p[k] * p[k] * inv_mass[base + k * 16];
                change +=
                    0.5 * (g0[k] + g[k]) * (x[k] - q0) + lambda * (f32::abs(x[k]) - f32::abs(q0));
            }
            dk[i] = 0.5 * (k1 - k0);
            dv[i] = change;
            accept_u[i] = r[2 * pairs + 1];
        }
    }
}

/// The Metropolis test of lane i on the true Hamiltonian, from the gradient kernel's output at
/// its proposal (`grad`, the loss in slot `nf`) and the kinetic energy change `dk`: an accepted
/// lane moves to its proposal (and to its gradient there, with `keep_gradient` = 1). Returns
/// the acceptance probability, or −1 for a divergent transition (energy error above 1000, or
/// NaN). Shared by the sampling phase and the warm-up.
#[cube]
#[allow(clippy::too_many_arguments)] // the lane's state, one buffer each
pub fn metropolis(
    q: &mut [f32],
    u: &mut [f32],
    grad_u: &mut [f32],
    qn: &[f32],
    grad: &[f32],
    dk: &[f32],
    accept_u: &[f32],
    i: usize,
    base: usize,
    lambda: f32,
    keep_gradient: u32,
    #[comptime] nf: usize,
) -> f32 {
    let mut l1 = 0.0f32;
    for k in 0..nf {
        l1 += f32::abs(qn[base + k * 16]);
    }
    let un = grad[base + nf * 16] + lambda * l1;
    let delta = (un - u[i]) + dk[i];
    // NaN fails both tests, so it counts as divergent.
    let mut alpha = f32::new(-1.0);
    if delta <= 1000.0 {
        if delta >= -1.0e30f32 {
            alpha = f32::min(f32::exp(-delta), 1.0f32);
        }
    }
    if accept_u[i] < alpha {
        u[i] = un;
        for k in 0..nf {
            q[base + k * 16] = qn[base + k * 16];
        }
        // Without it the gradient kernel may have left only the losses.
        if keep_gradient != 0u32 {
            for k in 0..nf {
                grad_u[base + k * 16] = grad[base + k * 16];
            }
        }
    }
    alpha
}

/// Step 3 of an iteration: from the gradient kernel's output at the proposals (`grad`, loss in
/// slot `nf`), the Metropolis test on U + K; an accepted lane moves to its proposal (and, with
/// `scores` = 1, to its true gradient). Every live lane adds its acceptance probability and
/// divergence to the segment's sums and writes its current state as draw `slot` (and, with
/// `scores` = 1, the score −(∇loss + λ sign q)) at `(slot · blocks + block) · kpad · 16 +
/// k · 16 + lane`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)] // the lane's whole state, one buffer each
pub fn hmc_accept(
    q: &mut [f32],
    u: &mut [f32],
    grad_u: &mut [f32],
    qn: &[f32],
    grad: &[f32],
    dk: &[f32],
    accept_u: &[f32],
    live: &[u32],
    accept_sum: &mut [f32],
    divergences: &mut [u32],
    draws: &mut [f32],
    score_draws: &mut [f32],
    lambda: f32,
    slot: u32,
    scores: u32,
    #[comptime] nf: usize,
    #[comptime] kpad: usize,
) {
    let i = ABSOLUTE_POS;
    if i < live.len() {
        if live[i] != 0u32 {
            let block = i / 16;
            let lane = i % 16;
            let base = block * (kpad * 16) + lane;
            let mut alpha = metropolis(
                q, u, grad_u, qn, grad, dk, accept_u, i, base, lambda, scores, nf,
            );
            // A divergent transition (energy error above 1000, or not finite) comes back as −1.
            let mut divergent = 0u32;
            if alpha < 0.0 {
                divergent = 1u32;
                alpha = 0.0;
            }
            accept_sum[i] += alpha;
            divergences[i] += divergent;
            let blocks = live.len() / 16;
            let out = (usize::cast_from(slot) * blocks + block) * (kpad * 16) + lane;
            for k in 0..nf {
                let qk = q[base + k * 16];
                draws[out + k * 16] = qk;
                if scores != 0u32 {
                    let mut sign = 0.0f32;
                    if qk > 0.0 {
                        sign = 1.0;
                    }
                    if qk < 0.0 {
                        sign = -1.0f32;
                    }
                    score_draws[out + k * 16] = -(grad_u[base + k * 16] + lambda * sign);
                }
            }
        }
    }
}
