//! The paper's estimator: the posterior mean under the Laplace(0, b) prior, by batched HMC.
//!
//! Every (judge, group, fold, chain) is a lane; blocks hold whole fits (all their chains), so a
//! block's rayon task samples, summarises its fits (mean, sd, MCSE, R-hat, ESS per weight) and
//! frees the draws. Warm-up adapts each lane's step size and diagonal mass matrix as Stan and
//! numpyro do; every lane takes the same number of leapfrog steps (random per iteration).
//! The steps follow the true loss gradient or, by default, each lane's quadratic model of the
//! loss with the true potential in the accept test (`surrogate.rs`).

pub mod control_variates;
mod device_phase;
mod field_updates;
pub mod lanes;
pub mod laplace_flow;
pub mod model_fit;
pub mod params;
pub mod sampler;
pub mod surrogate;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;

pub use params::{HmcParams, Trajectory, ValidHmcParams};

use crate::base::error::Result;
use crate::base::features::MAX_K;
use crate::base::mcmc::Definition;
use crate::base::mcmc::diagnostics::diagnose;
use crate::base::mcmc::fast_diagnostics::FastDiagnostics;
use crate::base::mcmc::numpyro_diagnostics::{NumpyroDiagnostics, diagnose_numpyro};
use crate::design::{BatchDesign, Block};
use crate::load::Dataset;
use crate::solve::backend::GradientBackend;
use crate::solve::backend::KernelCalls;
use crate::solve::backend::wgpu::lockstep::Lockstep;
use crate::solve::map::precondition::curvature_diag;
use control_variates::{CvMeans, cv_means};
use sampler::{ChainStart, sample_block};

/// Posterior summary of one fit.
#[derive(Clone, Debug)]
pub struct PosteriorFit {
    /// Posterior mean per weight (the paper's estimate).
    pub mean: [f64; MAX_K],
    /// Posterior sd per weight.
    pub sd: [f64; MAX_K],
    /// Monte-Carlo standard error of each mean.
    pub mcse: [f64; MAX_K],
    /// Split R-hat per weight, by the run's [`Definition`](crate::base::mcmc::Definition).
    pub rhat: [f64; MAX_K],
    /// ESS per weight: numpyro's, or the rank-normalised bulk ESS (the run's `Definition`).
    pub ess_bulk: [f64; MAX_K],
    /// Mean acceptance probability over chains and kept draws.
    pub accept_rate: f64,
    /// Mean adapted step size over chains.
    pub step_size: f64,
    /// Divergent transitions over all chains' kept draws.
    pub divergences: usize,
    /// Draws kept per chain (fewer than asked when an MCSE target stopped sampling early).
    pub draws: usize,
    /// Whether `mean` and `mcse` are the control-variate estimate (else the draws' average:
    /// the paper's estimator, or too few draws for the regression).
    pub control_variates: bool,
    /// The properties K: slots past K are zero columns, not summarised (zeros) and never shown.
    pub k: usize,
}

impl PosteriorFit {
    /// Largest R-hat over weights.
    pub fn max_rhat(&self) -> f64 {
        self.rhat[..self.k].iter().copied().fold(f64::NAN, f64::max)
    }
    /// Smallest ESS over weights.
    pub fn min_ess(&self) -> f64 {
        self.ess_bulk[..self.k]
            .iter()
            .copied()
            .fold(f64::NAN, f64::min)
    }
    /// Whether a weight's R-hat is above 1.01 and above what `chains` chains with its ESS can
    /// resolve ([`rhat_threshold`](crate::base::mcmc::diagnostics::rhat_threshold)), or NaN.
    pub fn rhat_unresolved(&self, chains: usize) -> bool {
        use crate::base::mcmc::diagnostics::rhat_threshold;
        (0..self.k).any(|k| {
            self.rhat[k].is_nan() || self.rhat[k] > rhat_threshold(chains, self.ess_bulk[k])
        })
    }
}

/// Timings of a posterior run, seconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PosteriorTimings {
    /// Sampling and summarising, all blocks.
    pub sampling_s: f64,
    /// Block-gradient kernel calls made.
    pub block_gradients: usize,
    /// Forward-only (loss) kernel calls made: one per iteration with surrogate trajectories.
    pub block_losses: usize,
    /// Curvature kernel calls made (refits of the surrogate model).
    pub block_curvatures: usize,
    /// Lane blocks sampled.
    pub blocks: usize,
    /// Useful GFLOP done by the kernel calls above, per training row and lane: 4 × 29 for a
    /// gradient, 2 × 29 for a loss, 2 × 29 + 29 × 30 for a curvature.
    pub kernel_gflop: f64,
    /// The same, by kind of call: what `bench --floor` divides by each kind's measured rate to
    /// get the job's kernel-only time.
    pub kernel_gflop_by_call: KernelGflop,
}

/// Useful GFLOP of a run's kernel calls, by kind of call.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct KernelGflop {
    /// Gradient passes.
    pub gradients: f64,
    /// Forward (loss-only) passes.
    pub losses: f64,
    /// Curvature passes.
    pub curvatures: f64,
}

/// Useful flops per training row and lane of each kind of kernel call over `nf` features:
/// 4·nf for a gradient pass, 2·nf for a forward pass, 2·nf + nf·(nf + 1) for a curvature pass
/// (the Hessian's lower triangle, two flops an entry).
pub fn flops_per_row_lane(nf: usize) -> KernelGflop {
    let k = nf as f64;
    KernelGflop {
        gradients: 4.0 * k,
        losses: 2.0 * k,
        curvatures: 2.0 * k + k * (k + 1.0),
    }
}

/// All posterior fits, in [`BatchDesign::fits`] order.
#[derive(Clone, Debug)]
pub struct PosteriorSolution {
    /// One summary per fit.
    pub fits: Vec<PosteriorFit>,
    /// Where the time went.
    pub timings: PosteriorTimings,
    /// Backend description.
    pub backend: String,
}

/// Samples every fit's posterior; `tick` is called once per finished block (progress).
pub fn solve_posterior<B: GradientBackend>(
    design: &BatchDesign,
    data: &Dataset,
    backend: &B,
    params: &ValidHmcParams,
    tick: &(dyn Fn(usize) + Sync),
) -> Result<PosteriorSolution> {
    solve_posterior_resumable(design, data, backend, params, tick, None)
}

/// One block's results: each fit (by id) and the kernel calls it took.
pub type BlockResult = (Vec<(usize, PosteriorFit)>, KernelCalls);

/// What lets an interrupted run continue: the blocks an earlier run finished, and where this
/// run reports each block it finishes. A block is named by its first fit's id; blocks are the
/// same for the same data and settings, and each block's chains depend only on its own fits'
/// seeds, so a resumed run's results are those of an uninterrupted one, bit for bit.
pub struct BlockCheckpoint<'a> {
    /// Finished blocks by key, from an earlier run on the same backend.
    pub done: HashMap<usize, BlockResult>,
    /// Called as each block of this run finishes (from the worker that finished it).
    pub save: &'a (dyn Fn(usize, &BlockResult) + Sync),
    /// Blocks (by key) this run leaves to another shard: not sampled, and missing from the
    /// solution, which is then partial (a shard's results are its checkpoint's blocks).
    pub skip: Option<&'a (dyn Fn(usize) -> bool + Sync)>,
}

/// [`solve_posterior`], skipping the blocks `checkpoint` holds and reporting each new one.
pub fn solve_posterior_resumable<B: GradientBackend>(
    design: &BatchDesign,
    data: &Dataset,
    backend: &B,
    params: &ValidHmcParams,
    tick: &(dyn Fn(usize) + Sync),
    checkpoint: Option<&BlockCheckpoint>,
) -> Result<PosteriorSolution> {
    let t0 = Instant::now();
    let specs = design.chain_block_specs(params.chains())?;
    let n_blocks = specs.len();
    // First mass-matrix guess per row-weight vector: 1 / curvature bound (prior variance 2b²
    // for a feature absent from the training rows).
    let prior_var = 2.0 * params.prior_scale() * params.prior_scale();
    let inv_mass0: Vec<[f64; MAX_K]> = design
        .row_weights
        .par_iter()
        .map(|rw| {
            curvature_diag(&design.groups[rw.group], &rw.c)
                .map(|d| if d > 0.0 { 1.0 / d } else { prior_var })
        })
        .collect();
    let body = |backend: &dyn GradientBackend, block: &Block| -> BlockResult {
        let key = block.fits[0];
        if crate::base::cancel::requested() {
            return (Vec::new(), KernelCalls::default()); // the job ends below
        }
        if checkpoint
            .and_then(|c| c.skip)
            .is_some_and(|skip| skip(key))
        {
            tick(n_blocks);
            return (Vec::new(), KernelCalls::default());
        }
        // A stored block is taken only when it holds exactly this block's fits (a damaged or
        // hand-edited file that still parses is refitted, never mixed in).
        let stored = checkpoint
            .and_then(|c| c.done.get(&key))
            .filter(|(fits, _)| {
                let mut lanes = block.fits.clone();
                lanes.dedup(); // a fit's chains are adjacent lanes
                fits.iter().map(|f| f.0).eq(lanes)
            });
        if let Some(found) = stored {
            tick(n_blocks);
            return found.clone();
        }
        let starts: Vec<ChainStart> = block
            .fits
            .iter()
            .zip(&block.chains)
            .map(|(&f, &c)| ChainStart {
                seed: chain_seed(params.seed(), design.fits[f].seed_key, c),
                inv_mass: inv_mass0[design.fits[f].row_weights],
            })
            .collect();
        // The early-stopping test needs only the MCSE of each mean (no ranks). Its
        // control-variate estimates are kept with the draw count they saw: when that check
        // ends the sampling, the summary takes them instead of fitting them again.
        let checked: RefCell<(usize, Vec<Option<CvMeans>>)> = RefCell::new((0, Vec::new()));
        let k_used = design.k();
        let enough = |outs: &[sampler::ChainOutput]| {
            let target = params.mcse_target().unwrap_or(f64::INFINITY);
            let fits = outs.chunks(params.chains());
            if !params.control_variates() {
                return fits.into_iter().all(|fc| {
                    (0..k_used).all(|k| mcse_of_mean(params.diagnostics(), fc, k) <= target)
                });
            }
            let cvs: Vec<Option<CvMeans>> = fits.clone().map(cv_means).collect();
            let met = fits.zip(&cvs).all(|(fc, cv)| match cv {
                Some(cv) => cv.mcse[..k_used].iter().all(|&m| m <= target),
                None => (0..k_used).all(|k| mcse_of_mean(params.diagnostics(), fc, k) <= target),
            });
            *checked.borrow_mut() = (outs[0].draws.len() / outs[0].nf, cvs);
            met
        };
        let group = &design.groups[block.group];
        let (chains, calls) = sample_block(backend, group, block, &starts, params, &enough);
        let kept = chains[0].draws.len() / group.nf;
        let (checked_at, checked_cvs) = checked.take();
        let summaries = summarise(
            params.diagnostics(),
            k_used,
            &block.fits,
            &chains,
            kept,
            (checked_at == kept).then_some(checked_cvs),
        );
        tick(n_blocks);
        let result = (summaries, calls);
        if let Some(c) = checkpoint {
            (c.save)(key, &result);
        }
        result
    };
    let per_block: Vec<BlockResult> = match backend.fused_wgpu() {
        // The device keeps every block resident; the CPU builds each when it samples it.
        Some(fused) => {
            let blocks = design.chain_blocks(data, params.chains())?;
            Lockstep::new(fused, &design.groups, &blocks).run(|ls, b| body(ls, b))
        }
        None => specs
            .par_iter()
            .map(|spec| body(backend, &design.chain_block(data, spec)))
            .collect(),
    };
    if crate::base::cancel::requested() {
        return Err(crate::base::error::Error::Interrupted);
    }
    let per_row = flops_per_row_lane(design.nf());
    let mut by_call = KernelGflop::default();
    for (b, (_, calls)) in specs.iter().zip(&per_block) {
        let rows: usize = b.fits.iter().map(|&f| design.fits[f].n_train).sum();
        let giga_rows = rows as f64 / 1e9;
        by_call.gradients += calls.gradients as f64 * per_row.gradients * giga_rows;
        by_call.losses += calls.losses as f64 * per_row.losses * giga_rows;
        by_call.curvatures += calls.curvatures as f64 * per_row.curvatures * giga_rows;
    }
    let kernel_gflop = by_call.gradients + by_call.losses + by_call.curvatures;
    let total = per_block
        .iter()
        .fold(KernelCalls::default(), |acc, (_, c)| KernelCalls {
            gradients: acc.gradients + c.gradients,
            losses: acc.losses + c.losses,
            curvatures: acc.curvatures + c.curvatures,
        });
    let mut fits: Vec<(usize, PosteriorFit)> = per_block.into_iter().flat_map(|(s, _)| s).collect();
    fits.sort_by_key(|(id, _)| *id);
    Ok(PosteriorSolution {
        fits: fits.into_iter().map(|(_, f)| f).collect(),
        timings: PosteriorTimings {
            sampling_s: t0.elapsed().as_secs_f64(),
            block_gradients: total.gradients,
            block_losses: total.losses,
            block_curvatures: total.curvatures,
            kernel_gflop,
            kernel_gflop_by_call: by_call,
            blocks: n_blocks,
        },
        backend: backend.name(),
    })
}

/// MCSE of the mean of weight `k` over `chains`: sd / √ESS, the ESS that `definition`'s
/// summary will report the MCSE with (of the split raw draws, or numpyro's of the raw chains).
fn mcse_of_mean(definition: Definition, chains: &[sampler::ChainOutput], k: usize) -> f64 {
    let nf = chains[0].nf;
    let kept = chains[0].draws.len() / nf;
    if definition == Definition::Numpyro && kept >= 4 {
        return NumpyroDiagnostics::new(chains.len(), kept)
            .diagnose(|c, d| chains[c].draws[d * nf + k])
            .mcse;
    }
    let traces: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| (0..kept).map(|d| c.draws[d * nf + k] as f64).collect())
        .collect();
    let refs: Vec<&[f64]> = traces.iter().map(|t| t.as_slice()).collect();
    let split = crate::base::mcmc::diagnostics::split(&refs);
    let split_refs: Vec<&[f64]> = split.iter().map(|t| t.as_slice()).collect();
    let all: Vec<f64> = split.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    sd / crate::base::mcmc::diagnostics::ess(&split_refs).sqrt()
}

/// A chain's seed from the run seed, the fit's seed key and the chain number (SplitMix-style mixing).
fn chain_seed(seed: u64, key: u64, chain: u16) -> u64 {
    let mut z = seed ^ 0x5851_f42d_4c95_7f2d;
    for v in [key, chain as u64] {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ v;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

/// Groups a block's lanes by fit and computes each fit's summary, with the diagnostics of
/// `definition`; `checked_cvs` are the control-variate estimates (one per fit, lane order) of
/// the check that ended the sampling.
fn summarise(
    definition: Definition,
    k_used: usize,
    lane_fits: &[usize],
    chains: &[sampler::ChainOutput],
    draws: usize,
    checked_cvs: Option<Vec<Option<CvMeans>>>,
) -> Vec<(usize, PosteriorFit)> {
    let mut checked_cvs = checked_cvs.map(Vec::into_iter);
    let mut out = Vec::new();
    let chains_per_fit = lane_fits.iter().filter(|&&f| f == lane_fits[0]).count();
    // The rank-normalised fast path needs an even number of draws (split halves without a
    // dropped middle), numpyro's at least 4; fewer (never from checked settings) take the
    // plain reference.
    let mut fast =
        (definition == Definition::RankNormalised && draws >= 4 && draws.is_multiple_of(2))
            .then(|| FastDiagnostics::new(chains_per_fit, draws));
    let mut numpyro = (definition == Definition::Numpyro && draws >= 4)
        .then(|| NumpyroDiagnostics::new(chains_per_fit, draws));
    let mut columns: Vec<f32> = Vec::new();
    let mut i = 0;
    while i < lane_fits.len() {
        let fit = lane_fits[i];
        let mut j = i;
        while j < lane_fits.len() && lane_fits[j] == fit {
            j += 1;
        }
        let own = &chains[i..j];
        let mut summary = PosteriorFit {
            mean: [0.0; MAX_K],
            sd: [0.0; MAX_K],
            mcse: [0.0; MAX_K],
            rhat: [0.0; MAX_K],
            ess_bulk: [0.0; MAX_K],
            accept_rate: own.iter().map(|c| c.accept_rate).sum::<f64>() / own.len() as f64,
            step_size: own.iter().map(|c| c.step_size).sum::<f64>() / own.len() as f64,
            divergences: own.iter().map(|c| c.divergences).sum(),
            draws,
            control_variates: false,
            k: k_used,
        };
        let mut traces: Vec<Vec<f64>> = vec![vec![0.0; draws]; own.len()];
        // Weight-major copy of the draws (`[weight][chain][draw]`): the diagnostics read one
        // weight's draws at a time, which in the draw-major layout is a new cache line a draw.
        if fast.is_some() || numpyro.is_some() {
            columns.resize(k_used * own.len() * draws, 0.0);
            for (c, chain) in own.iter().enumerate() {
                for (d, row) in chain.draws.chunks_exact(chain.nf).enumerate() {
                    for (k, &v) in row[..k_used].iter().enumerate() {
                        columns[(k * own.len() + c) * draws + d] = v;
                    }
                }
            }
        }
        // With recorded scores, the mean and its error come from the control-variate estimate
        // (sd, R-hat and ESS stay those of the draws themselves, whose own MCSE is then not
        // needed).
        let cv = match checked_cvs.as_mut() {
            Some(cvs) => cvs.next().flatten(),
            None => cv_means(own),
        };
        // A zero column's slot (K < 29 properties) is the prior alone and is never shown.
        for k in 0..k_used {
            let column = || &columns[k * own.len() * draws..(k + 1) * own.len() * draws];
            let d = match (fast.as_mut(), numpyro.as_mut()) {
                (_, Some(numpyro)) => {
                    let column = column();
                    numpyro.diagnose(|c, d| column[c * draws + d])
                }
                (Some(fast), _) => {
                    let column = column();
                    fast.diagnose_with(|c, d| column[c * draws + d], cv.is_none())
                }
                (None, None) => {
                    for (trace, chain) in traces.iter_mut().zip(own) {
                        for (d, v) in trace.iter_mut().enumerate() {
                            *v = chain.draws[d * chain.nf + k] as f64;
                        }
                    }
                    let refs: Vec<&[f64]> = traces.iter().map(|t| t.as_slice()).collect();
                    match definition {
                        Definition::RankNormalised => diagnose(&refs),
                        Definition::Numpyro => diagnose_numpyro(&refs),
                    }
                }
            };
            summary.mean[k] = d.mean;
            summary.sd[k] = d.sd;
            summary.mcse[k] = d.mcse;
            summary.rhat[k] = d.rhat;
            summary.ess_bulk[k] = d.ess_bulk;
        }
        if let Some(cv) = cv {
            summary.mean = cv.mean;
            summary.mcse = cv.mcse;
            summary.control_variates = true;
        }
        out.push((fit, summary));
        i = j;
    }
    out
}
