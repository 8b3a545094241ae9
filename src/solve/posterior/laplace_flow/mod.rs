//! The exact Hamiltonian flow of one coordinate under the Laplace prior's potential λ|x|.
//!
//! The prior term is piecewise linear: a constant force −λ·sign(x) pulls the coordinate back to
//! zero, where the force flips. A plain leapfrog step across that kink makes an energy error of
//! order ε·λ·|Δx|, which forced step sizes ~5× below what the smooth likelihood allows. Here
//! the sampler splits H = loss(q) + [λ‖q‖₁ + K(p)] (Strang splitting): half kick with the loss
//! gradient, this exact flow for the full step, half kick. The flow conserves its energy exactly
//! and is reversible and volume-preserving, so the split integrator stays a valid HMC proposal
//! and only the smooth loss makes energy errors.
//!
//! This function follows the motion event by event (each crossing of zero); the sampler runs
//! the same flow in closed form for 16 lanes at once (`prior_flow_body`), and the
//! tests hold the two to each other.

use super::lanes::{Field, Metric};
use crate::base::features::PAPER_K;
use crate::design::LANES;

/// Evolves (x, p) for time `tau` under H = λ|x| + ½·inv_m·p² (piecewise-parabolic motion).
pub fn laplace_flow(x: &mut f64, p: &mut f64, inv_m: f64, lambda: f64, tau: f64) {
    let b = inv_m * lambda; // magnitude of the acceleration towards zero
    let mut t = tau;
    let mut crossed = false;
    loop {
        let s = if *x > 0.0 {
            1.0
        } else if *x < 0.0 {
            -1.0
        } else if *p > 0.0 {
            1.0
        } else if *p < 0.0 {
            -1.0
        } else {
            return; // at rest on the kink
        };
        // In the frame of side s: y = s·x ≥ 0, speed u = s·v, y(t) = y + u·t − ½·b·t².
        let y = s * *x;
        let u = s * inv_m * *p;
        let t_zero = (u + (u * u + 2.0 * b * y).sqrt()) / b;
        if t_zero.is_nan() || t_zero >= t {
            *x += s * (u * t - 0.5 * b * t * t);
            *p -= s * lambda * t;
            return;
        }
        if crossed {
            // From one crossing on the motion is periodic with period 2·t_zero per side
            // (speed at the kink is conserved): skip whole periods exactly.
            let period = 2.0 * t_zero;
            if t > period {
                t %= period;
                continue;
            }
        }
        *x = 0.0;
        *p -= s * lambda * t_zero;
        t -= t_zero;
        crossed = true;
    }
}

/// Exact prior flow for every (feature, lane), in closed form (`prior_flow_body`; the
/// reference is the event-by-event [`laplace_flow`], compared in the tests). Compiled for AVX2
/// when the CPU has it (the square root and division of 464 values per step are otherwise a
/// large part of the sampler's own time).
/// Moves the first `nf` features (the design's slots).
pub fn prior_flow(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    prior_flow_at(crate::base::simd::level(), q, p, metric, step, lambda, nf);
}

/// [`prior_flow`] on the code path of `level` (or the widest below it that the CPU has); every
/// path gives the same bits (the same IEEE operations in the same order), as the tests check.
pub fn prior_flow_at(
    level: crate::base::simd::Level,
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = level; // one code path off x86-64
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, detected};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level.min(detected()) {
            Level::Avx512 => unsafe { return prior_flow_avx512(q, p, metric, step, lambda, nf) },
            Level::Avx2 => unsafe { return prior_flow_avx2(q, p, metric, step, lambda, nf) },
            Level::Portable => {}
        }
    }
    prior_flow_body(q, p, metric, step, lambda, nf);
}

/// With AVX-512 a feature's 16 lanes are two registers of f64 instead of four.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn prior_flow_avx512(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    prior_flow_body(q, p, metric, step, lambda, nf);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn prior_flow_avx2(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    prior_flow_body(q, p, metric, step, lambda, nf);
}

/// [`prior_flow_of`], the paper's width a constant in its own copy (its feature loop of known
/// length).
#[inline(always)]
fn prior_flow_body(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    if nf == PAPER_K {
        prior_flow_of(q, p, metric, step, lambda, PAPER_K);
    } else {
        prior_flow_of(q, p, metric, step, lambda, nf);
    }
}

/// Lanes taken together by [`prior_flow_of`]: one 512-bit register of f64, two of 256.
const CHUNK: usize = 8;

/// The exact flow of [`laplace_flow`] in closed form, without branches per lane, so the lanes
/// of a feature vectorise whether or not they cross zero. Once a coordinate reaches the kink
/// with speed v₀ (energy conservation: v₀² = u² + 2by), every later excursion to one side
/// lasts 2v₀/b and the sides alternate, so the time left after the first crossing is whole
/// excursions (a floor) plus a partial one.
///
/// A coordinate rarely completes a whole excursion within one step, and for 0 ≤ left <
/// excursion the quotient rounds below 1 (a/b for doubles a < b is at most 1 − 2⁻⁵³, which is
/// a double), so its floor is 0 without the division. A chunk of lanes divides only when one
/// of them may complete one: the same bits as dividing always ([`prior_flow_dividing`], in
/// the tests), without most of the divisions, a large part of the flow's time.
#[inline(always)]
fn prior_flow_of(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    let inv_lambda = 1.0 / lambda;
    for k in 0..nf {
        let (qk, pk_row) = (&mut q[k], &mut p[k]);
        let (im_row, m_row) = (&metric.inv_mass[k], &metric.mass[k]);
        for c in (0..LANES).step_by(CHUNK) {
            // Each lane's motion up to the crossing, field by field (one vector each).
            let (mut side, mut b, mut u) = ([0f64; CHUNK], [0f64; CHUNK], [0f64; CHUNK]);
            let (mut v0, mut t_zero) = ([0f64; CHUNK], [0f64; CHUNK]);
            let (mut left, mut excursion) = ([0f64; CHUNK], [0f64; CHUNK]);
            for i in 0..CHUNK {
                let l = c + i;
                let a = Arc::of(
                    qk[l], pk_row[l], im_row[l], m_row[l], step[l], lambda, inv_lambda,
                );
                (side[i], b[i], u[i], v0[i]) = (a.s, a.b, a.u, a.v0);
                (t_zero[i], left[i], excursion[i]) = (a.t_zero, a.left, a.excursion);
            }
            // Whole excursions within the step: 0 unless some lane may complete one (`left` is
            // never NaN: `max` takes the 0 over a NaN).
            let divide = left
                .iter()
                .zip(&excursion)
                .fold(0u32, |any, (&a, &e)| any | (e > 0.0 && a >= e) as u32);
            let mut whole = [0f64; CHUNK];
            if divide != 0 {
                for i in 0..CHUNK {
                    whole[i] = whole_excursions(left[i], excursion[i]);
                }
            }
            for i in 0..CHUNK {
                let l = c + i;
                let a = Arc {
                    s: side[i],
                    b: b[i],
                    u: u[i],
                    v0: v0[i],
                    t_zero: t_zero[i],
                    left: left[i],
                    excursion: excursion[i],
                };
                (qk[l], pk_row[l]) = a.end(qk[l], pk_row[l], m_row[l], step[l], lambda, whole[i]);
            }
        }
    }
}

/// One coordinate's motion over a step up to its first crossing of the kink: what the
/// closed form needs besides the count of whole excursions.
#[derive(Clone, Copy)]
struct Arc {
    /// Side of the kink the coordinate is on (or leaving to); 0 = at rest on it.
    s: f64,
    /// The acceleration towards the kink, inv_m·λ.
    b: f64,
    /// The speed away from the kink.
    u: f64,
    /// The speed at the kink (energy conservation: v₀² = u² + 2by).
    v0: f64,
    /// When the coordinate reaches the kink.
    t_zero: f64,
    /// The step's time left after that (0 if it does not reach it).
    left: f64,
    /// One excursion to a side and back, 2v₀/b.
    excursion: f64,
}

impl Arc {
    /// The motion of (x, p) with inverse mass `im` (and mass `m`) over a step `t`.
    #[inline(always)]
    fn of(x: f64, p: f64, im: f64, m: f64, t: f64, lambda: f64, inv_lambda: f64) -> Arc {
        let sx = if x > 0.0 { 1.0 } else { -1.0 };
        let sp = if p > 0.0 {
            1.0
        } else if p < 0.0 {
            -1.0
        } else {
            0.0
        };
        let s = if x != 0.0 { sx } else { sp };
        let b = im * lambda;
        let inv_b = m * inv_lambda;
        let (y, u) = (s * x, s * im * p);
        let v0 = (u * u + 2.0 * b * y).sqrt();
        let t_zero = (u + v0) * inv_b;
        Arc {
            s,
            b,
            u,
            v0,
            t_zero,
            left: (t - t_zero).max(0.0),
            excursion: 2.0 * v0 * inv_b,
        }
    }

    /// (x, p) at the step's end, with `whole` excursions completed within it.
    #[inline(always)]
    fn end(&self, x: f64, p: f64, m: f64, t: f64, lambda: f64, whole: f64) -> (f64, f64) {
        let Arc { s, b, u, v0, .. } = *self;
        // No crossing within the step: one parabola.
        let x_stay = x + s * (u * t - 0.5 * b * t * t);
        let p_stay = p - s * lambda * t;
        // Crossing: whole excursions of 2v₀/b, then a partial one on the final side.
        let rest = (self.left - whole * self.excursion).max(0.0);
        let parity = whole - 2.0 * (0.5 * whole).floor(); // 0 or 1
        let end_side = -s * (1.0 - 2.0 * parity);
        let x_cross = end_side * (v0 * rest - 0.5 * b * rest * rest);
        let p_cross = end_side * (v0 - b * rest) * m;
        let stays = self.t_zero >= t;
        let moving = s != 0.0;
        let x_end = if !moving {
            x
        } else if stays {
            x_stay
        } else {
            x_cross
        };
        let p_end = if !moving {
            p
        } else if stays {
            p_stay
        } else {
            p_cross
        };
        (x_end, p_end)
    }
}

/// ⌊left / excursion⌋, or 0 for an excursion that is not positive (a coordinate at rest).
#[inline(always)]
fn whole_excursions(left: f64, excursion: f64) -> f64 {
    if excursion > 0.0 {
        (left / excursion).floor()
    } else {
        0.0
    }
}

/// The closed form dividing for every lane, as the flow did before its divisions were
/// skipped: the reference [`prior_flow_of`]'s skipping is tested against.
#[cfg(test)]
fn prior_flow_dividing(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
    nf: usize,
) {
    let inv_lambda = 1.0 / lambda;
    for k in 0..nf {
        for l in 0..LANES {
            let (x, pk, m) = (q[k][l], p[k][l], metric.mass[k][l]);
            let a = Arc::of(x, pk, metric.inv_mass[k][l], m, step[l], lambda, inv_lambda);
            let whole = whole_excursions(a.left, a.excursion);
            (q[k][l], p[k][l]) = a.end(x, pk, m, step[l], lambda, whole);
        }
    }
}

#[cfg(test)]
mod tests;
