//! The chains on the device: a block whose backend has a [`DeviceSampler`] hands its chains
//! over (positions, potentials, metric, step sizes, the surrogate model, a generator key per
//! chain) — at their start when the device also warms up (packed rows), else at the end of
//! warm-up — and collects its draws a segment at a time. The chain is the one `sample_block`
//! would run on the host — same trajectories, same adaptation, same accept test, same
//! trajectory lengths — with the device's generator instead of the host's.

use super::lanes::{Field, Metric, to_kernel_layout};
use super::sampler::ChainOutput;
use super::surrogate::QuadraticModel;
use crate::base::rng::Rng;
use crate::design::{Block, LANES};
use crate::solve::backend::KernelCalls;
use crate::solve::backend::wgpu::hmc::{DeviceSampler, Handoff};
use crate::solve::backend::wgpu::warmup::{WarmupPlan, warmup_calls};

/// A block's chains at the hand-over, as `sample_block` holds them.
pub(super) struct ChainsAtHandOver<'a> {
    pub q: &'a Field,
    pub u: &'a [f64; LANES],
    pub grad_u: &'a Field,
    pub metric: &'a Metric,
    pub eps: &'a [f64; LANES],
    pub model: &'a QuadraticModel,
}

/// What the sampling phase needs besides the chains.
pub(super) struct Schedule<'a> {
    pub draws: usize,
    pub leapfrog_steps: usize,
    /// Segment length when an MCSE target is set (the draws between two tests).
    pub check_every: Option<usize>,
    pub lambda: f64,
    pub scores: bool,
    pub enough: &'a dyn Fn(&[ChainOutput]) -> bool,
    /// The warm-up the device runs first (`None`: the chains come warmed up).
    pub warmup: Option<WarmupPlan>,
    /// The iteration number of the first draw (the device generator's counter).
    pub first_iteration: usize,
}

/// Runs the sampling phase of `block` on `device` (and its warm-up, with a plan); fills `out`
/// (one per used lane, with its step size) and returns the draws kept.
#[allow(clippy::too_many_arguments)] // the sampler's state at the hand-over, once per block
pub(super) fn sample_on_device(
    device: &dyn DeviceSampler,
    block: &Block,
    chains: ChainsAtHandOver<'_>,
    schedule: Schedule<'_>,
    rng: &mut [Rng],
    length_rng: &mut Rng,
    out: &mut [ChainOutput],
    calls: &mut KernelCalls,
) -> usize {
    let lanes = out.len();
    let nf = chains.model.nf;
    let field = |f: &Field| to_kernel_layout(f, nf);
    let (centre, model_grad, hess) = chains.model.export();
    let mut keys = [[0u32; 2]; LANES];
    for (key, r) in keys.iter_mut().zip(rng.iter_mut()) {
        let k = r.next_u64();
        *key = [k as u32, (k >> 32) as u32];
    }
    device.hand_over(
        block,
        Handoff {
            q: field(chains.q),
            u: chains.u.map(|v| v as f32),
            grad_u: field(chains.grad_u),
            inv_mass: field(&chains.metric.inv_mass),
            sqrt_mass: field(&chains.metric.sqrt_mass),
            eps: chains.eps.map(|v| v as f32),
            centre,
            model_grad,
            hess,
            keys,
            lanes,
            lambda: schedule.lambda,
            scores: schedule.scores,
            warmup: schedule.warmup.clone(),
        },
    );
    if let Some(plan) = &schedule.warmup {
        let w = warmup_calls(plan);
        calls.gradients += w.gradients;
        calls.losses += w.losses;
        calls.curvatures += w.curvatures;
    }
    let steps = schedule.leapfrog_steps;
    let mut kept = 0;
    while kept < schedule.draws {
        let n = schedule
            .check_every
            .map_or(schedule.draws - kept, |c| c.min(schedule.draws - kept));
        // The trajectory lengths continue the warm-up's sequence, as on the host.
        let lengths: Vec<u32> = (0..n)
            .map(|_| (1 + length_rng.below(2 * steps - 1)) as u32)
            .collect();
        let seg = device.sample(block, schedule.first_iteration + kept, &lengths);
        for (l, o) in out.iter_mut().enumerate() {
            o.step_size = seg.eps[l];
            o.draws.extend_from_slice(&seg.draws[l]);
            if schedule.scores {
                o.scores.extend_from_slice(&seg.scores[l]);
            }
            o.accept_rate += seg.accept_sum[l];
            o.divergences += seg.divergences[l];
        }
        kept += n;
        // One kernel pass per iteration: the loss and gradient at the proposals.
        calls.gradients += n;
        if let Some(c) = schedule.check_every
            && kept < schedule.draws
            && kept.is_multiple_of(c)
            && (schedule.enough)(out)
        {
            break;
        }
    }
    kept
}
