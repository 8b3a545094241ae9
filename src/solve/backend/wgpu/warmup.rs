//! The HMC warm-up on the device (`kernels/wgpu_hmc_warmup.rs`): the host walks the warm-up
//! schedule, the same for every lane, and only launches — propose, the gradient kernel at the
//! proposals, accept-and-adapt, and where the model moves the gradient and curvature kernels at
//! its new centre (and the final fit). Nothing is read back until the sampling phase's first
//! segment.

#[allow(missing_docs)] // the #[cube] expansion adds undocumented items
#[path = "../../../../kernels/wgpu_hmc_warmup.rs"]
pub mod kernel;

use cubecl::prelude::*;

use super::DevWidth;
use super::curvature::launch_curvature_into;
use super::hmc::{ChunkChains, DeviceChains, LANE_CUBE, propose};
use super::resident::{Chunk, Handle, ResidentBlocks, launch_into};
use crate::base::mcmc::adaptation::WarmupSchedule;
use crate::design::LANES;
use crate::solve::backend::KernelCalls;

/// How the device warms the chains up: the CPU sampler's settings for the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupPlan {
    /// Warm-up iterations.
    pub iterations: usize,
    /// Target acceptance of the dual averaging.
    pub target: f64,
    /// Leapfrog steps of each warm-up iteration (the run's shared sequence).
    pub lengths: Vec<u32>,
    /// Control variates: every iteration evaluates the true gradient.
    pub control_variates: bool,
    /// Initial step size.
    pub eps: f64,
    /// The final fit's ridge κ and least draws (`surrogate.rs`).
    pub ridge: f64,
    /// Least tail draws for the final fit.
    pub min_draws: f64,
}

/// Refits every 25 iterations before the first window (the CPU's `REFIT_EVERY`).
const REFIT_EVERY: usize = 25;

/// What the model does after iteration `it`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    Stay,
    /// Taylor refit at its (new) centre.
    Refit,
    /// Taylor refit at the tail's mean, then the fit to the tail.
    Fit,
}

/// The flags of iteration `it` and what the model does after it.
fn step(plan: &WarmupPlan, sched: &WarmupSchedule, tail_from: usize, it: usize) -> (u32, Move) {
    use kernel::*;
    let last = it + 1 == plan.iterations;
    let closes = sched.closes_window(it);
    let tail = it >= tail_from;
    let at_state = !tail && (it + 1).is_multiple_of(REFIT_EVERY);
    let mut flags = 0;
    for (on, bit) in [
        (sched.in_window(it), IN_WINDOW),
        (closes, CLOSES_WINDOW),
        (tail, TAIL),
        (last, LAST),
        (plan.control_variates || tail, GRADIENT),
        (at_state && !closes && !last, CENTRE_AT_STATE),
        (it == tail_from, TAIL_START),
    ] {
        if on {
            flags |= bit;
        }
    }
    let moves = if last {
        Move::Fit
    } else if closes || at_state {
        Move::Refit
    } else {
        Move::Stay
    };
    (flags, moves)
}

/// The kernel passes the warm-up makes per block, as `sample_block` counts them on the host.
pub fn warmup_calls(plan: &WarmupPlan) -> KernelCalls {
    let sched = WarmupSchedule::new(plan.iterations);
    let tail_from = sched.windows.first().map_or(plan.iterations, |w| w.0);
    let mut calls = KernelCalls::default();
    for it in 0..plan.iterations {
        if it == tail_from && !plan.control_variates {
            calls.gradients += 1;
        }
        let (flags, moves) = step(plan, &sched, tail_from, it);
        if flags & kernel::GRADIENT != 0 {
            calls.gradients += 1;
        } else {
            calls.losses += 1;
        }
        if moves != Move::Stay {
            calls.gradients += 1;
            calls.curvatures += 1;
        }
    }
    calls
}

impl DeviceChains {
    /// Runs `plan` on every chunk's live lanes (`live[c]`: chunk c's flags).
    pub fn warm_up(&self, resident: &ResidentBlocks, live: &[(Handle, usize)], plan: &WarmupPlan) {
        let client = &resident.client;
        let sched = WarmupSchedule::new(plan.iterations);
        let tail_from = sched.windows.first().map_or(plan.iterations, |w| w.0);
        let state: Vec<Adaptation> = resident
            .chunks
            .iter()
            .map(|ch| Adaptation::new(client, ch, plan))
            .collect();
        let target = plan.target as f32;
        for it in 0..plan.iterations {
            let (flags, moves) = step(plan, &sched, tail_from, it);
            let chunks = resident
                .chunks
                .iter()
                .zip(&self.chunks)
                .zip(&state)
                .zip(live);
            for (((ch, cc), ad), live) in chunks {
                if it == tail_from && !plan.control_variates {
                    // The tail's moments need the true gradient at the current states.
                    launch_into(client, ch, &cc.q, live, &cc.grad_u, true);
                }
                propose(
                    client,
                    ch,
                    cc,
                    live,
                    self.lambda,
                    plan.lengths[it],
                    it as u32,
                );
                launch_into(
                    client,
                    ch,
                    &cc.qn,
                    live,
                    &cc.grad,
                    flags & kernel::GRADIENT != 0,
                );
                ad.accept(client, ch, cc, live, self.lambda, target, flags);
                if moves != Move::Stay {
                    launch_into(client, ch, &cc.centre, live, &cc.model_grad, true);
                    launch_curvature_into(client, ch, &cc.centre, live, &cc.hess)
                        .expect("the device warm-up runs on packed rows only");
                }
                if moves == Move::Fit {
                    ad.fit(client, ch, cc, live, plan);
                }
            }
        }
    }
}

/// One chunk's adaptation state, on the device for the warm-up only.
struct Adaptation {
    dual: (Handle, usize),
    welford: (Handle, usize),
    shift: (Handle, usize),
    moments: (Handle, usize),
}

impl Adaptation {
    fn new(client: &cubecl::client::Client, ch: &Chunk, plan: &WarmupPlan) -> Adaptation {
        let lanes = ch.blocks * LANES;
        let width = ch.data.width;
        let f = |v: Vec<f32>| {
            let len = v.len();
            (client.create_from_slice(f32::as_bytes(&v)), len)
        };
        // DualAveraging::new(ε, target): μ = ln(10 ε), the rest 0.
        let mut dual = vec![0f32; lanes * kernel::DUAL];
        for l in 0..lanes {
            dual[l * kernel::DUAL] = (10.0 * plan.eps).ln() as f32;
        }
        Adaptation {
            dual: f(dual),
            welford: f(vec![0.0; lanes + ch.blocks * 2 * width.field()]),
            shift: f(vec![0.0; ch.blocks * width.field()]),
            moments: f(vec![0.0; ch.blocks * kernel::moments_len(width.nf) * LANES]),
        }
    }

    #[allow(clippy::too_many_arguments)] // one launch's whole input
    fn accept(
        &self,
        client: &cubecl::client::Client,
        ch: &Chunk,
        cc: &ChunkChains,
        live: &(Handle, usize),
        lambda: f32,
        target: f32,
        flags: u32,
    ) {
        // SAFETY: every length is the number of elements allocated for that handle; the
        // kernel indexes lanes below `live.len()` and their entries of each buffer.
        let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
        let lanes = ch.blocks * LANES;
        kernel::hmc_warmup_accept::launch(
            client,
            CubeCount::Static(lanes.div_ceil(LANE_CUBE) as u32, 1, 1),
            CubeDim::new_1d(LANE_CUBE as u32),
            arg(&cc.q),
            arg(&cc.u),
            arg(&cc.grad_u),
            arg(&cc.qn),
            arg(&cc.grad),
            arg(&cc.dk),
            arg(&cc.dv),
            arg(&cc.accept_u),
            arg(live),
            arg(&cc.eps),
            arg(&self.dual),
            arg(&self.welford),
            arg(&cc.inv_mass),
            arg(&cc.sqrt_mass),
            arg(&cc.centre),
            arg(&self.shift),
            arg(&self.moments),
            lambda,
            target,
            flags,
            cc.width.nf,
            cc.width.kpad,
        );
    }

    fn fit(
        &self,
        client: &cubecl::client::Client,
        ch: &Chunk,
        cc: &ChunkChains,
        live: &(Handle, usize),
        plan: &WarmupPlan,
    ) {
        let fit = ModelFit {
            ridge: plan.ridge as f32,
            min_draws: plan.min_draws as f32,
            width: cc.width,
        };
        fit.launch(
            client,
            ch.blocks * LANES,
            [&self.moments, live, &cc.model_grad, &cc.hess],
        );
    }
}

/// The warm-up's final model fit (`kernels/wgpu_hmc_warmup.rs`, `hmc_fit_model` and the four
/// launches after it): public so that `tests/wgpu_warmup.rs` runs it as the warm-up does.
pub struct ModelFit {
    /// The ridge κ on C_qq's diagonal.
    pub ridge: f32,
    /// Fewest tail draws for a fit.
    pub min_draws: f32,
    /// The fields' width.
    pub width: DevWidth,
}

impl ModelFit {
    /// The five launches over `lanes` lanes: `[moments, live, mgrad, hess]` (the moments are
    /// used up; mgrad and hess hold the Taylor model and come back as the fitted one).
    pub fn launch(&self, client: &cubecl::client::Client, lanes: usize, h: [&(Handle, usize); 4]) {
        let [moments, live, mgrad, hess] = h;
        // SAFETY: every length is the number of elements allocated for that handle; the
        // kernels index lanes below `live.len()` and their entries of each buffer.
        let arg = |h: &(Handle, usize)| unsafe { BufferArg::from_raw_parts(h.0.clone(), h.1) };
        let (nf, kpad) = (self.width.nf, self.width.kpad);
        let per_lane = CubeCount::Static(lanes.div_ceil(LANE_CUBE) as u32, 1, 1);
        let per_column = CubeCount::Static((lanes * nf).div_ceil(LANE_CUBE) as u32, 1, 1);
        let dim = CubeDim::new_1d(LANE_CUBE as u32);
        let min = self.min_draws;
        kernel::hmc_fit_model::launch(
            client,
            per_lane.clone(),
            dim,
            arg(moments),
            arg(live),
            min,
            nf,
            kpad,
        );
        kernel::hmc_fit_model_taylor::launch(
            client,
            per_column.clone(),
            dim,
            arg(moments),
            arg(live),
            arg(hess),
            min,
            nf,
        );
        kernel::hmc_fit_model_cholesky::launch(
            client,
            per_lane.clone(),
            dim,
            arg(moments),
            arg(live),
            self.ridge,
            min,
            nf,
        );
        kernel::hmc_fit_model_solve::launch(
            client,
            per_column,
            dim,
            arg(moments),
            arg(live),
            min,
            nf,
        );
        kernel::hmc_fit_model_finish::launch(
            client,
            per_lane,
            dim,
            arg(moments),
            arg(live),
            arg(mgrad),
            arg(hess),
            min,
            nf,
            kpad,
        );
    }
}
