//! Lock-step HMC over one lane block: every lane (one chain of one fit) takes the same number of
//! leapfrog steps at once, so each step is one fused-kernel call for the whole block, while step
//! size, mass matrix, accept test and random numbers are the lane's own. A lane's draws thus do
//! not depend on which other lanes share its block.

use super::adapt::{DualAveraging, WarmupSchedule, Welford};
use super::laplace_flow::laplace_flow;
use super::params::ValidHmcParams;
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::features::N_FEATURES;
use crate::simulate::Rng;
use crate::solve::backend::GradientBackend;

/// What one chain produced.
#[derive(Clone, Debug)]
pub struct ChainOutput {
    /// Kept draws, `draws × 29`, draw-major.
    pub draws: Vec<f32>,
    /// Mean acceptance probability over the kept iterations.
    pub accept_rate: f64,
    /// Divergent transitions among the kept iterations (energy error > 1000 or not finite).
    pub divergences: usize,
    /// Step size after adaptation.
    pub step_size: f64,
}

/// Where a chain starts: its seed, its first mass-matrix guess (variances) and its start point.
#[derive(Clone, Debug)]
pub struct ChainStart {
    /// Seed of the chain's own generator.
    pub seed: u64,
    /// Initial inverse mass matrix (≈ posterior variances).
    pub inv_mass: [f64; N_FEATURES],
}

/// Relative step-size jitter per iteration: breaks the resonances a fixed trajectory length can
/// fall into on near-Gaussian targets.
const STEP_JITTER: f64 = 0.1;
/// Energy error beyond which a transition counts as divergent (Stan, numpyro).
const MAX_ENERGY_ERROR: f64 = 1000.0;

/// Runs warm-up and sampling for every lane of `block`; returns one output per used lane.
pub fn sample_block<B: GradientBackend + ?Sized>(
    backend: &B,
    group: &GroupDesign,
    block: &Block,
    starts: &[ChainStart],
    params: &ValidHmcParams,
) -> Vec<ChainOutput> {
    let lanes = block.fits.len();
    let lambda = params.lambda();
    let (warmup, draws, steps) = (params.warmup(), params.draws(), params.leapfrog_steps());
    let schedule = WarmupSchedule::new(warmup);
    let mut rng: Vec<Rng> = starts.iter().map(|s| Rng::new(s.seed)).collect();
    let mut inv_mass = [[1f64; N_FEATURES]; LANES];
    let mut q = [[0f64; N_FEATURES]; LANES];
    for l in 0..lanes {
        inv_mass[l] = starts[l].inv_mass;
        for k in 0..N_FEATURES {
            // Start near the prior's centre, dispersed by about one posterior sd.
            q[l][k] = ((rng[l].normal() * inv_mass[l][k].sqrt()) as f32) as f64;
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
            accept_rate: 0.0,
            divergences: 0,
            step_size: 0.0,
        })
        .collect();

    let mut w32 = vec![0f32; KPAD * LANES];
    let mut grad = vec![0f64; KPAD * LANES];
    let mut loss = vec![0f64; LANES];
    // Potential U = loss + λ‖q‖₁ at the current points, and the gradient of its smooth part
    // (the prior's part is integrated exactly by `laplace_flow`).
    let mut eval = |pts: &[[f64; N_FEATURES]; LANES],
                    g_out: &mut [[f64; N_FEATURES]; LANES],
                    u_out: Option<&mut [f64; LANES]>| {
        for l in 0..LANES {
            for k in 0..N_FEATURES {
                w32[k * LANES + l] = pts[l][k] as f32;
            }
        }
        let want_loss = u_out.is_some();
        backend.block_gradient(
            group,
            block,
            &w32,
            &mut grad,
            if want_loss { Some(&mut loss) } else { None },
        );
        for l in 0..LANES {
            for k in 0..N_FEATURES {
                g_out[l][k] = grad[k * LANES + l];
            }
        }
        if let Some(u) = u_out {
            for l in 0..LANES {
                let l1: f64 = (0..N_FEATURES)
                    .map(|k| (w32[k * LANES + l] as f64).abs())
                    .sum();
                u[l] = loss[l] + lambda * l1;
            }
        }
    };
    let mut grad_u = [[0f64; N_FEATURES]; LANES];
    let mut u = [0f64; LANES];
    eval(&q, &mut grad_u, Some(&mut u));

    let mut p = [[0f64; N_FEATURES]; LANES];
    let mut un = u;
    let mut step = [0f64; LANES];
    let mut k0 = [0f64; LANES];
    for it in 0..warmup + draws {
        for l in 0..lanes {
            let mut kin = 0.0;
            for k in 0..N_FEATURES {
                p[l][k] = rng[l].normal() / inv_mass[l][k].sqrt();
                kin += p[l][k] * p[l][k] * inv_mass[l][k];
            }
            k0[l] = 0.5 * kin;
            step[l] = eps[l] * (1.0 + STEP_JITTER * (2.0 * rng[l].uniform() - 1.0));
        }
        let mut qn = q;
        let mut gn = grad_u;
        for s in 0..steps {
            for l in 0..lanes {
                for k in 0..N_FEATURES {
                    p[l][k] -= 0.5 * step[l] * gn[l][k];
                    let (mut x, mut pk) = (qn[l][k], p[l][k]);
                    laplace_flow(&mut x, &mut pk, inv_mass[l][k], lambda, step[l]);
                    // Positions live on the f32 grid the kernel evaluates, so U and ∇U are
                    // exactly those of the point the chain holds.
                    qn[l][k] = (x as f32) as f64;
                    p[l][k] = pk;
                }
            }
            let last = s + 1 == steps;
            eval(&qn, &mut gn, if last { Some(&mut un) } else { None });
            for l in 0..lanes {
                for k in 0..N_FEATURES {
                    p[l][k] -= 0.5 * step[l] * gn[l][k];
                }
            }
        }
        let sampling = it >= warmup;
        for l in 0..lanes {
            let kin: f64 = (0..N_FEATURES)
                .map(|k| p[l][k] * p[l][k] * inv_mass[l][k])
                .sum::<f64>()
                * 0.5;
            let delta = (un[l] + kin) - (u[l] + k0[l]);
            let divergent = !delta.is_finite() || delta > MAX_ENERGY_ERROR;
            let alpha = if divergent {
                0.0
            } else {
                (-delta).exp().min(1.0)
            };
            if rng[l].uniform() < alpha {
                q[l] = qn[l];
                grad_u[l] = gn[l];
                u[l] = un[l];
            }
            if sampling {
                out[l].accept_rate += alpha;
                out[l].divergences += divergent as usize;
                out[l].draws.extend(q[l].iter().map(|&v| v as f32));
            } else {
                eps[l] = dual[l].update(alpha);
                if schedule.in_window(it) {
                    welford[l].add(&q[l]);
                }
                if schedule.closes_window(it) {
                    inv_mass[l] = welford[l].regularised_variance();
                    welford[l] = Welford::default();
                    dual[l] = DualAveraging::new(eps[l], params.target_accept());
                }
                if it + 1 == warmup {
                    eps[l] = dual[l].final_step_size();
                }
            }
        }
    }
    for (l, o) in out.iter_mut().enumerate() {
        o.accept_rate /= draws as f64;
        o.step_size = eps[l];
    }
    out
}
