//! Lock-step HMC over one lane block: every lane (one chain of one fit) takes the same number of
//! leapfrog steps at once, so each step is one fused-kernel call for the whole block, while step
//! size, mass matrix, accept test and random numbers are the lane's own. A lane's draws thus do
//! not depend on which other lanes share its block.
//!
//! The trajectory follows either the true loss gradient (L kernel calls per iteration) or each
//! lane's quadratic model of the loss (`surrogate.rs`, one forward pass per iteration for the
//! accept test); the prior always moves by its exact flow (`laplace_flow`). With surrogate
//! trajectories on a backend with a device sampler, the chains run on the device from their
//! start (or, where the device cannot warm up, from the end of warm-up; `device_phase.rs`).

use super::device_phase::{ChainsAtHandOver, Schedule, sample_on_device};
use super::field_updates::{kick, take_accepted};
use super::lanes::{Field, Metric, kinetic};
use super::laplace_flow::prior_flow;
use super::model_fit::{GradientMoments, RIDGE, min_draws};
use super::params::{Trajectory, ValidHmcParams};
use super::surrogate::QuadraticModel;
use crate::base::features::MAX_K;
use crate::base::mcmc::adaptation::{DualAveraging, WarmupSchedule, Welford};
use crate::base::rng::Rng;
use crate::design::{Block, GroupDesign, KPAD, LANES};
use crate::solve::backend::wgpu::warmup::WarmupPlan;
use crate::solve::backend::{GradientBackend, KernelCalls};

/// What one chain produced.
#[derive(Clone, Debug)]
pub struct ChainOutput {
    /// Weights per draw: the design's slots ([`GroupDesign::nf`]).
    pub nf: usize,
    /// Kept draws, `draws × nf`, draw-major.
    pub draws: Vec<f32>,
    /// With control variates: the score ∇log π at each kept draw, `draws × nf`; else empty.
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
    pub inv_mass: [f64; MAX_K],
}

/// Warm-up iterations between refits of the surrogate at the chain's current point, before the
/// first mass-matrix window gives a mean to refit at.
const REFIT_EVERY: usize = 25;

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
    calls: KernelCalls,
}

impl<B: GradientBackend + ?Sized> Potential<'_, B> {
    fn load(&mut self, q: &Field) {
        for k in 0..self.group.nf {
            for l in 0..LANES {
                self.w32[k * LANES + l] = q[k][l] as f32;
            }
        }
    }

    /// U = loss + λ‖q‖₁ per lane from the loss the kernel left in `self.loss`.
    fn potential(&self, q: &Field, u: &mut [f64; LANES]) {
        let mut l1 = [0f64; LANES];
        for k in 0..self.group.nf {
            for l in 0..LANES {
                l1[l] += q[k][l].abs();
            }
        }
        for l in 0..LANES {
            u[l] = self.loss[l] + self.lambda * l1[l];
        }
    }

    /// U per lane, without the gradient (a forward pass).
    fn eval_potential(&mut self, q: &Field, u: &mut [f64; LANES]) {
        self.load(q);
        self.backend
            .block_loss(self.group, self.block, &self.w32, &mut self.loss);
        self.calls.losses += 1;
        self.potential(q, u);
    }

    /// Loss gradient into `g`; with `u`, also U = loss + λ‖q‖₁ per lane.
    fn eval(&mut self, q: &Field, g: &mut Field, u: Option<&mut [f64; LANES]>) {
        self.load(q);
        self.calls.gradients += 1;
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
        for k in 0..self.group.nf {
            g[k].copy_from_slice(&self.grad[k * LANES..(k + 1) * LANES]);
        }
        if let Some(u) = u {
            self.potential(q, u);
        }
    }
}

/// Runs warm-up and sampling for every lane of `block`; returns one output per used lane and
/// the kernel calls made. With an MCSE target, `enough(outputs)` is asked every `check_every`
/// draws whether sampling can stop.
pub fn sample_block<B: GradientBackend + ?Sized>(
    backend: &B,
    group: &GroupDesign,
    block: &Block,
    starts: &[ChainStart],
    params: &ValidHmcParams,
    enough: &dyn Fn(&[ChainOutput]) -> bool,
) -> (Vec<ChainOutput>, KernelCalls) {
    let nf = group.nf;
    let lanes = block.fits.len();
    let lambda = params.lambda();
    let (warmup, draws, steps) = (params.warmup(), params.draws(), params.leapfrog_steps());
    let schedule = WarmupSchedule::new(warmup);
    let mut rng: Vec<Rng> = starts.iter().map(|s| Rng::new(s.seed)).collect();
    let ones = [[1.0; LANES]; MAX_K];
    let mut metric = Metric {
        inv_mass: ones,
        mass: ones,
        sqrt_mass: ones,
    };
    let mut q: Field = [[0.0; LANES]; MAX_K];
    for l in 0..lanes {
        for k in 0..nf {
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
    let mut welford: Vec<Welford<MAX_K>> = vec![Welford::default(); LANES];
    let mut out: Vec<ChainOutput> = (0..lanes)
        .map(|_| ChainOutput {
            nf,
            draws: Vec::with_capacity(draws * nf),
            scores: Vec::with_capacity(if params.control_variates() {
                draws * nf
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
        calls: KernelCalls::default(),
    };
    let mut grad_u: Field = [[0.0; LANES]; MAX_K];
    let mut u = [0f64; LANES];
    pot.eval(&q, &mut grad_u, Some(&mut u));
    let mut model = (params.trajectory() == Trajectory::Surrogate)
        .then(|| QuadraticModel::at(backend, group, block, &q));
    // Before the first mass-matrix window the model follows the chain; from there to the end
    // of warm-up the chain's draws and their true gradients are gathered for the final fit.
    let tail_from = schedule.windows.first().map_or(warmup, |w| w.0);
    let mut moments = model.as_ref().map(|_| GradientMoments::new(nf));
    let mut centre: Field = q;
    // The surrogate potential's change per lane; with the kinetic change, the model
    // Hamiltonian's own energy error, which the step size controls.
    let mut dv_model = [0f64; LANES];

    let mut p: Field = [[0.0; LANES]; MAX_K];
    let mut un = [0f64; LANES];
    let mut step = [0f64; LANES];
    let mut half = [0f64; LANES];
    let mut column = [0f64; MAX_K];
    let mut normals: Field = [[0.0; LANES]; MAX_K];
    // Trajectory lengths vary per iteration, uniform in 1..=2L−1 (mean L): with a fixed length,
    // near-Gaussian targets make HMC nearly periodic: chain means then agree superbly but the
    // spread mixes slowly (chains' sds differed by 25% and the folded R-hat exceeded 1.01).
    // The sequence depends only on the seed, so every block (and lane) sees the same one.
    let mut length_rng = Rng::new(params.seed() ^ 0x7472_616a_6563_746f);
    let mut kept = 0;
    // On a device sampler the chains move over at their start when the device can warm them
    // up too, else at the end of warm-up.
    let device = backend.device_sampler().filter(|_| model.is_some());
    let hand_over_at = device.map(|d| if d.warms_up() { 0 } else { warmup });
    for it in 0..warmup + draws {
        if let (Some(model), Some(device)) = (model.as_ref(), device)
            && hand_over_at == Some(it)
        {
            let warmup_plan = (it < warmup).then(|| WarmupPlan {
                iterations: warmup,
                target: params.target_accept(),
                lengths: (0..warmup)
                    .map(|_| (1 + length_rng.below(2 * steps - 1)) as u32)
                    .collect(),
                control_variates: params.control_variates(),
                eps: eps[0],
                ridge: RIDGE,
                min_draws: min_draws(nf),
            });
            let chains = ChainsAtHandOver {
                q: &q,
                u: &u,
                grad_u: &grad_u,
                metric: &metric,
                eps: &eps,
                model,
            };
            let schedule = Schedule {
                draws,
                leapfrog_steps: steps,
                check_every: params.mcse_target().map(|_| params.check_every()),
                lambda,
                scores: params.control_variates(),
                enough,
                warmup: warmup_plan,
                first_iteration: warmup,
            };
            kept = sample_on_device(
                device,
                block,
                chains,
                schedule,
                &mut rng,
                &mut length_rng,
                &mut out,
                &mut pot.calls,
            );
            // The step sizes the device adapted (or was handed).
            for (e, o) in eps.iter_mut().zip(&out) {
                *e = o.step_size;
            }
            break;
        }
        let steps = 1 + length_rng.below(2 * steps - 1);
        refresh_momentum(&mut rng, &metric, nf, &mut normals, &mut p);
        for l in 0..lanes {
            step[l] = eps[l] * (1.0 + STEP_JITTER * (2.0 * rng[l].uniform() - 1.0));
            half[l] = 0.5 * step[l];
        }
        if it == tail_from && model.is_some() && !params.control_variates() {
            // Without control variates `grad_u` has held model gradients; the tail's fit
            // needs the true one at the current states.
            pot.eval(&q, &mut grad_u, None);
        }
        let k0 = kinetic(&p, &metric.inv_mass, nf);
        let mut qn = q;
        let mut gn = grad_u;
        match model.as_ref() {
            None => {
                for s in 0..steps {
                    kick(&mut p, &half, &gn, nf);
                    prior_flow(&mut qn, &mut p, &metric, &step, lambda, nf);
                    to_f32_grid(&mut qn, nf);
                    let last = s + 1 == steps;
                    pot.eval(&qn, &mut gn, if last { Some(&mut un) } else { None });
                    kick(&mut p, &half, &gn, nf);
                }
            }
            Some(model) => {
                model.gradient(&qn, &mut gn);
                let g_start = gn;
                for _ in 0..steps {
                    kick(&mut p, &half, &gn, nf);
                    prior_flow(&mut qn, &mut p, &metric, &step, lambda, nf);
                    model.gradient(&qn, &mut gn);
                    kick(&mut p, &half, &gn, nf);
                }
                dv_model = model_potential_change(&q, &qn, &g_start, &gn, lambda, nf);
                // The proposal moves to the kernel's grid, where the accept test's U is exact;
                // the shift (≤ 2⁻²⁴ relative) is the same one the exact trajectory makes.
                to_f32_grid(&mut qn, nf);
                if params.control_variates() || (it >= tail_from && it < warmup) {
                    // The scores, and the final fit of the model, need the true gradient at
                    // every state the chain visits.
                    pot.eval(&qn, &mut gn, Some(&mut un));
                } else {
                    pot.eval_potential(&qn, &mut un);
                }
            }
        }
        let kn = kinetic(&p, &metric.inv_mass, nf);
        let sampling = it >= warmup;
        // The accept tests first, then the accepted proposals copied for all lanes at once
        // (lane by lane, the copies were a scalar store a value).
        let mut accepted = [false; LANES];
        let mut alphas = [0f64; LANES];
        let mut divergents = [false; LANES];
        for l in 0..lanes {
            let delta = (un[l] + kn[l]) - (u[l] + k0[l]);
            let divergent = !delta.is_finite() || delta > MAX_ENERGY_ERROR;
            let alpha = if divergent {
                0.0
            } else {
                (-delta).exp().min(1.0)
            };
            accepted[l] = rng[l].uniform() < alpha;
            (alphas[l], divergents[l]) = (alpha, divergent);
            if accepted[l] {
                u[l] = un[l];
            }
        }
        take_accepted(&accepted, (&mut q, &mut grad_u), (&qn, &gn), nf);
        for l in 0..lanes {
            let (alpha, divergent) = (alphas[l], divergents[l]);
            for k in 0..nf {
                column[k] = q[k][l];
            }
            if sampling {
                out[l].accept_rate += alpha;
                out[l].divergences += divergent as usize;
                out[l].draws.extend(column[..nf].iter().map(|&v| v as f32));
                if params.control_variates() {
                    // ∇log π = −(∇loss + λ·sign(q)); the density is continuous at 0.
                    out[l].scores.extend((0..nf).map(|k| {
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
                // With a surrogate, the step size is tuned to the integrator's error on the
                // model, not the true acceptance: a smaller step cannot mend the model's own
                // mismatch, and chasing it would shorten every trajectory.
                let tuned = if model.is_some() {
                    (-(dv_model[l] + kn[l] - k0[l])).exp().min(1.0)
                } else {
                    alpha
                };
                eps[l] = dual[l].update(if tuned.is_nan() { 0.0 } else { tuned });
                if schedule.in_window(it) {
                    welford[l].add(&column);
                }
                if schedule.closes_window(it) {
                    centre_lane(&mut centre, l, &welford[l].mean(), nf);
                    let var = welford[l].regularised_variance();
                    for k in 0..nf {
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
        if let Some(model) = model.as_mut()
            && !sampling
        {
            // The model moves during warm-up only (see `surrogate.rs`): early on to where the
            // chain is, then to each mass-matrix window's mean, last to the chain's draws.
            if it >= tail_from
                && let Some(moments) = moments.as_mut()
            {
                moments.add(&q, &grad_u);
            }
            if it + 1 == warmup
                && let Some(moments) = moments.as_mut()
            {
                moments.flush();
                model.fit_to(backend, group, block, moments);
                pot.calls.gradients += 1;
                pot.calls.curvatures += 1;
            } else if schedule.closes_window(it) {
                model.refit(backend, group, block, &centre);
                pot.calls.gradients += 1;
                pot.calls.curvatures += 1;
            } else if it < tail_from && (it + 1).is_multiple_of(REFIT_EVERY) {
                model.refit(backend, group, block, &q);
                pot.calls.gradients += 1;
                pot.calls.curvatures += 1;
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
    let mut calls = pot.calls;
    if model.is_some() {
        // The model at the starting point.
        calls.gradients += 1;
        calls.curvatures += 1;
    }
    (out, calls)
}

/// Fresh momenta p ~ N(0, M): [`Rng::normal_pair_own`] in feature order for every lane, all
/// lanes' generators side by side ([`Rng::normals_lockstep`]), scaled by √M.
fn refresh_momentum(
    rng: &mut [Rng],
    metric: &Metric,
    nf: usize,
    normals: &mut Field,
    p: &mut Field,
) {
    Rng::normals_lockstep(rng, nf, normals);
    let lanes = rng.len();
    for k in 0..nf {
        for l in 0..lanes {
            p[k][l] = normals[k][l] * metric.sqrt_mass[k][l];
        }
    }
}

/// Rounds every position to f32, the grid the kernel evaluates (so U and ∇U are exactly its).
#[inline(always)]
fn to_f32_grid(q: &mut Field, nf: usize) {
    for row in q.iter_mut().take(nf) {
        for v in row.iter_mut() {
            *v = (*v as f32) as f64;
        }
    }
}

/// The change of the surrogate potential (model loss + λ‖q‖₁) along a trajectory from `q` to
/// `qn`, per lane. The model loss is quadratic, so its change is exactly the trapezoid
/// ½ (∇ at `q` + ∇ at `qn`) · (qn − q) of the model gradients the trajectory already computed.
#[inline(always)]
fn model_potential_change(
    q: &Field,
    qn: &Field,
    g_start: &Field,
    g_end: &Field,
    lambda: f64,
    nf: usize,
) -> [f64; LANES] {
    let mut out = [0f64; LANES];
    for k in 0..nf {
        for l in 0..LANES {
            out[l] += 0.5 * (g_start[k][l] + g_end[k][l]) * (qn[k][l] - q[k][l])
                + lambda * (qn[k][l].abs() - q[k][l].abs());
        }
    }
    out
}

/// Sets lane `l` of `centre` to `mean`.
#[inline(always)]
fn centre_lane(centre: &mut Field, l: usize, mean: &[f64; MAX_K], nf: usize) {
    for k in 0..nf {
        centre[k][l] = mean[k];
    }
}
