//! Lock-step HMC over one lane block: every lane (one chain of one fit) takes the same number of
//! leapfrog steps at once, so each step is one fused-kernel call for the whole block, while step
//! size, mass matrix, accept test and random numbers are the lane's own. A lane's draws thus do
//! not depend on which other lanes share its block.
//!
//! State is kept feature-major and lane-fastest (`[feature][lane]`, the kernel's layout), so the
//! per-step updates of all 16 lanes vectorise.

use super::adapt::{DualAveraging, WarmupSchedule, Welford};
use super::params::ValidHmcParams;
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::features::N_FEATURES;
use crate::simulate::Rng;
use crate::solve::backend::GradientBackend;

/// One value per (feature, lane).
type Field = [[f64; LANES]; N_FEATURES];

/// Each lane's diagonal metric with its reciprocal and square root, recomputed only when
/// adaptation changes it (a leapfrog step would otherwise spend 464 divisions on it, and a
/// momentum refresh 464 square roots).
#[derive(Clone, Copy)]
struct Metric {
    /// M⁻¹ (≈ posterior variances).
    inv_mass: Field,
    /// M.
    mass: Field,
    /// √M, the momentum's sd.
    sqrt_mass: Field,
}

impl Metric {
    fn set(&mut self, k: usize, l: usize, inv_mass: f64) {
        self.inv_mass[k][l] = inv_mass;
        self.mass[k][l] = 1.0 / inv_mass;
        self.sqrt_mass[k][l] = self.mass[k][l].sqrt();
    }
}

/// What one chain produced.
#[derive(Clone, Debug)]
pub struct ChainOutput {
    /// Kept draws, `draws × 29`, draw-major.
    pub draws: Vec<f32>,
    /// With control variates: the score ∇log π at each kept draw, `draws × 29`; else empty.
    pub scores: Vec<f32>,
    /// Mean acceptance probability over the kept iterations.
    pub accept_rate: f64,
    /// Divergent transitions among the kept iterations (energy error > 1000 or not finite).
    pub divergences: usize,
    /// Step size after adaptation.
    pub step_size: f64,
}

/// Where a chain starts: its seed and its first mass-matrix guess (variances).
#[derive(Clone, Debug)]
pub struct ChainStart {
    /// Seed of the chain's own generator.
    pub seed: u64,
    /// Initial inverse mass matrix (≈ posterior variances).
    pub inv_mass: [f64; N_FEATURES],
}

/// Relative step-size jitter per iteration (each lane its own).
const STEP_JITTER: f64 = 0.1;
/// Energy error beyond which a transition counts as divergent (Stan, numpyro).
const MAX_ENERGY_ERROR: f64 = 1000.0;

/// The potential's smooth part (the kernel) at the points `q` of every lane.
struct Potential<'a, B: GradientBackend + ?Sized> {
    backend: &'a B,
    group: &'a GroupDesign,
    block: &'a Block,
    lambda: f64,
    w32: Vec<f32>,
    grad: Vec<f64>,
    loss: Vec<f64>,
}

impl<B: GradientBackend + ?Sized> Potential<'_, B> {
    /// Loss gradient into `g`; with `u`, also U = loss + λ‖q‖₁ per lane.
    fn eval(&mut self, q: &Field, g: &mut Field, u: Option<&mut [f64; LANES]>) {
        for k in 0..N_FEATURES {
            for l in 0..LANES {
                self.w32[k * LANES + l] = q[k][l] as f32;
            }
        }
        let want_loss = u.is_some();
        self.backend.block_gradient(
            self.group,
            self.block,
            &self.w32,
            &mut self.grad,
            if want_loss {
                Some(&mut self.loss)
            } else {
                None
            },
        );
        for k in 0..N_FEATURES {
            g[k].copy_from_slice(&self.grad[k * LANES..(k + 1) * LANES]);
        }
        if let Some(u) = u {
            let mut l1 = [0f64; LANES];
            for k in 0..N_FEATURES {
                for l in 0..LANES {
                    l1[l] += q[k][l].abs();
                }
            }
            for l in 0..LANES {
                u[l] = self.loss[l] + self.lambda * l1[l];
            }
        }
    }
}

/// Exact prior flow for every (feature, lane), in closed form ([`prior_flow_body`]; the
/// reference is the event-by-event `laplace_flow`, compared in the tests). Compiled for AVX2
/// when the CPU has it (the square root and division of 464 values per step are otherwise a
/// large part of the sampler's own time).
fn prior_flow(q: &mut Field, p: &mut Field, metric: &Metric, step: &[f64; LANES], lambda: f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { prior_flow_avx2(q, p, metric, step, lambda) };
            return;
        }
    }
    prior_flow_body(q, p, metric, step, lambda);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn prior_flow_avx2(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
) {
    prior_flow_body(q, p, metric, step, lambda);
}

/// The exact flow of `laplace_flow` in closed form, without branches, so the 16 lanes of a
/// feature vectorise whether or not they cross zero. Once a coordinate reaches the kink with
/// speed v₀ (energy conservation: v₀² = u² + 2by), every later excursion to one side lasts
/// 2v₀/b and the sides alternate, so the time left after the first crossing is whole
/// excursions (a floor) plus a partial one.
#[inline(always)]
fn prior_flow_body(
    q: &mut Field,
    p: &mut Field,
    metric: &Metric,
    step: &[f64; LANES],
    lambda: f64,
) {
    let inv_lambda = 1.0 / lambda;
    for k in 0..N_FEATURES {
        let (qk, pk_row) = (&mut q[k], &mut p[k]);
        let (im_row, m_row) = (&metric.inv_mass[k], &metric.mass[k]);
        for l in 0..LANES {
            let (x, pk, im, m, t) = (qk[l], pk_row[l], im_row[l], m_row[l], step[l]);
            let sx = if x > 0.0 { 1.0 } else { -1.0 };
            let sp = if pk > 0.0 {
                1.0
            } else if pk < 0.0 {
                -1.0
            } else {
                0.0
            };
            // Side of the kink the coordinate is on (or leaving to); 0 = at rest on it.
            let s = if x != 0.0 { sx } else { sp };
            let b = im * lambda;
            let inv_b = m * inv_lambda;
            let (y, u) = (s * x, s * im * pk);
            let v0 = (u * u + 2.0 * b * y).sqrt();
            let t_zero = (u + v0) * inv_b;
            // No crossing within the step: one parabola.
            let x_stay = x + s * (u * t - 0.5 * b * t * t);
            let p_stay = pk - s * lambda * t;
            // Crossing: whole excursions of 2v₀/b, then a partial one on the final side.
            let excursion = 2.0 * v0 * inv_b;
            let left = (t - t_zero).max(0.0);
            let whole = if excursion > 0.0 {
                (left / excursion).floor()
            } else {
                0.0
            };
            let rest = (left - whole * excursion).max(0.0);
            let parity = whole - 2.0 * (0.5 * whole).floor(); // 0 or 1
            let side = -s * (1.0 - 2.0 * parity);
            let x_cross = side * (v0 * rest - 0.5 * b * rest * rest);
            let p_cross = side * (v0 - b * rest) * m;
            let stays = t_zero >= t;
            let moving = s != 0.0;
            qk[l] = if !moving {
                x
            } else if stays {
                x_stay
            } else {
                x_cross
            };
            pk_row[l] = if !moving {
                pk
            } else if stays {
                p_stay
            } else {
                p_cross
            };
        }
    }
}

/// Runs warm-up and sampling for every lane of `block`; returns one output per used lane.
/// With an MCSE target, `enough(outputs)` is asked every `check_every` draws whether sampling
/// can stop.
pub fn sample_block<B: GradientBackend + ?Sized>(
    backend: &B,
    group: &GroupDesign,
    block: &Block,
    starts: &[ChainStart],
    params: &ValidHmcParams,
    enough: &dyn Fn(&[ChainOutput]) -> bool,
) -> Vec<ChainOutput> {
    let lanes = block.fits.len();
    let lambda = params.lambda();
    let (warmup, draws, steps) = (params.warmup(), params.draws(), params.leapfrog_steps());
    let schedule = WarmupSchedule::new(warmup);
    let mut rng: Vec<Rng> = starts.iter().map(|s| Rng::new(s.seed)).collect();
    let ones = [[1.0; LANES]; N_FEATURES];
    let mut metric = Metric {
        inv_mass: ones,
        mass: ones,
        sqrt_mass: ones,
    };
    let mut q: Field = [[0.0; LANES]; N_FEATURES];
    for l in 0..lanes {
        for k in 0..N_FEATURES {
            metric.set(k, l, starts[l].inv_mass[k]);
            // Start near the prior's centre, dispersed by about one posterior sd; positions
            // live on the f32 grid the kernel evaluates, so U and ∇U are exactly theirs.
            q[k][l] = ((rng[l].normal() * starts[l].inv_mass[k].sqrt()) as f32) as f64;
        }
    }
    let mut eps = [0.5f64; LANES];
    let mut dual: Vec<DualAveraging> = (0..LANES)
        .map(|_| DualAveraging::new(0.5, params.target_accept()))
        .collect();
    let mut welford: Vec<Welford<N_FEATURES>> = vec![Welford::default(); LANES];
    let mut out: Vec<ChainOutput> = (0..lanes)
        .map(|_| ChainOutput {
            draws: Vec::with_capacity(draws * N_FEATURES),
            scores: Vec::with_capacity(if params.control_variates() {
                draws * N_FEATURES
            } else {
                0
            }),
            accept_rate: 0.0,
            divergences: 0,
            step_size: 0.0,
        })
        .collect();
    let mut pot = Potential {
        backend,
        group,
        block,
        lambda,
        w32: vec![0f32; KPAD * LANES],
        grad: vec![0f64; KPAD * LANES],
        loss: vec![0f64; LANES],
    };
    let mut grad_u: Field = [[0.0; LANES]; N_FEATURES];
    let mut u = [0f64; LANES];
    pot.eval(&q, &mut grad_u, Some(&mut u));

    let mut p: Field = [[0.0; LANES]; N_FEATURES];
    let mut un = [0f64; LANES];
    let mut step = [0f64; LANES];
    let mut half = [0f64; LANES];
    let mut column = [0f64; N_FEATURES];
    // Trajectory lengths vary per iteration, uniform in 1..=2L−1 (mean L): with a fixed length,
    // near-Gaussian targets make HMC nearly periodic: chain means then agree superbly but the
    // spread mixes slowly (chains' sds differed by 25% and the folded R-hat exceeded 1.01).
    // The sequence depends only on the seed, so every block (and lane) sees the same one.
    let mut length_rng = Rng::new(params.seed() ^ 0x7472_616a_6563_746f);
    let mut kept = 0;
    for it in 0..warmup + draws {
        let steps = 1 + length_rng.below(2 * steps - 1);
        for l in 0..lanes {
            let mut k = 0;
            while k < N_FEATURES {
                let (a, b) = rng[l].normal_pair_polar();
                p[k][l] = a * metric.sqrt_mass[k][l];
                if k + 1 < N_FEATURES {
                    p[k + 1][l] = b * metric.sqrt_mass[k + 1][l];
                }
                k += 2;
            }
            step[l] = eps[l] * (1.0 + STEP_JITTER * (2.0 * rng[l].uniform() - 1.0));
            half[l] = 0.5 * step[l];
        }
        let k0 = kinetic(&p, &metric.inv_mass);
        let mut qn = q;
        let mut gn = grad_u;
        for s in 0..steps {
            for k in 0..N_FEATURES {
                for l in 0..LANES {
                    p[k][l] -= half[l] * gn[k][l];
                }
            }
            prior_flow(&mut qn, &mut p, &metric, &step, lambda);
            for row in qn.iter_mut() {
                for v in row.iter_mut() {
                    *v = (*v as f32) as f64;
                }
            }
            let last = s + 1 == steps;
            pot.eval(&qn, &mut gn, if last { Some(&mut un) } else { None });
            for k in 0..N_FEATURES {
                for l in 0..LANES {
                    p[k][l] -= half[l] * gn[k][l];
                }
            }
        }
        let kn = kinetic(&p, &metric.inv_mass);
        let sampling = it >= warmup;
        for l in 0..lanes {
            let delta = (un[l] + kn[l]) - (u[l] + k0[l]);
            let divergent = !delta.is_finite() || delta > MAX_ENERGY_ERROR;
            let alpha = if divergent {
                0.0
            } else {
                (-delta).exp().min(1.0)
            };
            if rng[l].uniform() < alpha {
                for k in 0..N_FEATURES {
                    q[k][l] = qn[k][l];
                    grad_u[k][l] = gn[k][l];
                }
                u[l] = un[l];
            }
            for k in 0..N_FEATURES {
                column[k] = q[k][l];
            }
            if sampling {
                out[l].accept_rate += alpha;
                out[l].divergences += divergent as usize;
                out[l].draws.extend(column.iter().map(|&v| v as f32));
                if params.control_variates() {
                    // ∇log π = −(∇loss + λ·sign(q)); the density is continuous at 0.
                    out[l].scores.extend((0..N_FEATURES).map(|k| {
                        let q = column[k];
                        let sign = if q > 0.0 {
                            1.0
                        } else if q < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        (-(grad_u[k][l] + lambda * sign)) as f32
                    }));
                }
            } else {
                eps[l] = dual[l].update(alpha);
                if schedule.in_window(it) {
                    welford[l].add(&column);
                }
                if schedule.closes_window(it) {
                    let var = welford[l].regularised_variance();
                    for k in 0..N_FEATURES {
                        metric.set(k, l, var[k]);
                    }
                    welford[l] = Welford::default();
                    dual[l] = DualAveraging::new(eps[l], params.target_accept());
                }
                if it + 1 == warmup {
                    eps[l] = dual[l].final_step_size();
                }
            }
        }
        if sampling {
            kept += 1;
            if params.mcse_target().is_some()
                && kept < draws
                && kept.is_multiple_of(params.check_every())
                && enough(&out)
            {
                break;
            }
        }
    }
    for (l, o) in out.iter_mut().enumerate() {
        o.accept_rate /= kept.max(1) as f64;
        o.step_size = eps[l];
    }
    out
}

/// ½ Σ_k p²·M⁻¹ per lane.
fn kinetic(p: &Field, inv_mass: &Field) -> [f64; LANES] {
    let mut kin = [0f64; LANES];
    for k in 0..N_FEATURES {
        for l in 0..LANES {
            kin[l] += p[k][l] * p[k][l] * inv_mass[k][l];
        }
    }
    kin.map(|v| 0.5 * v)
}

#[cfg(test)]
mod tests {
    use super::super::laplace_flow::laplace_flow;
    use super::*;

    /// The closed-form flow of all lanes against the event-by-event reference, including
    /// coordinates on the kink, at rest, crossing once and crossing many times.
    #[test]
    fn closed_form_prior_flow_matches_the_reference() {
        let mut rng = Rng::new(5);
        let lambda = 10.0;
        for round in 0..200 {
            let mut q: Field = [[0.0; LANES]; N_FEATURES];
            let mut p: Field = [[0.0; LANES]; N_FEATURES];
            let mut metric = Metric {
                inv_mass: [[1.0; LANES]; N_FEATURES],
                mass: [[1.0; LANES]; N_FEATURES],
                sqrt_mass: [[1.0; LANES]; N_FEATURES],
            };
            let mut step = [0f64; LANES];
            for l in 0..LANES {
                step[l] = 0.05 + rng.uniform() * if round % 4 == 0 { 5.0 } else { 0.5 };
                for k in 0..N_FEATURES {
                    q[k][l] = match (k + l + round) % 7 {
                        0 => 0.0,
                        1 => 1e-7 * rng.normal(),
                        _ => 0.1 * rng.normal(),
                    };
                    p[k][l] = if (k * l + round) % 11 == 0 {
                        0.0
                    } else {
                        3.0 * rng.normal()
                    };
                    metric.set(k, l, 0.001 + 0.05 * rng.uniform());
                }
            }
            let (mut qc, mut pc) = (q, p);
            prior_flow(&mut qc, &mut pc, &metric, &step, lambda);
            let inv_mass = metric.inv_mass;
            for k in 0..N_FEATURES {
                for l in 0..LANES {
                    let (mut x, mut pp) = (q[k][l], p[k][l]);
                    laplace_flow(&mut x, &mut pp, inv_mass[k][l], lambda, step[l]);
                    let scale_x =
                        1e-9 + 1e-9 * (q[k][l].abs() + inv_mass[k][l] * p[k][l].abs() * step[l]);
                    assert!(
                        (qc[k][l] - x).abs() <= 1e3 * scale_x,
                        "x: {} vs {x} from ({}, {}) im {} t {}",
                        qc[k][l],
                        q[k][l],
                        p[k][l],
                        inv_mass[k][l],
                        step[l]
                    );
                    assert!(
                        (pc[k][l] - pp).abs() <= 1e-9 * (1.0 + p[k][l].abs() + lambda * step[l]),
                        "p: {} vs {pp} from ({}, {}) im {} t {}",
                        pc[k][l],
                        q[k][l],
                        p[k][l],
                        inv_mass[k][l],
                        step[l]
                    );
                }
            }
        }
    }
}
