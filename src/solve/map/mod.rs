//! The MAP estimator: every fit's L1-penalised maximum a posteriori at once.
//!
//! [`solve_map`] runs batched FISTA over lane blocks through a
//! [`GradientBackend`]; on the CPU each rayon task owns one block from start to finish, so its
//! X and per-row data stay in that core's cache; on wgpu the whole solver state lives on the
//! device and every block steps together ([`wgpu_fista`]), two launches per iteration (the
//! warm-started Newton solver steps through [`lockstep`], one launch per gradient; the
//! posterior sampler's chains move to the device, [`crate::solve::posterior`]). Every result
//! is then checked in f64.

pub mod fista;
pub mod newton;
pub mod objective;
pub mod params;
pub mod polish;
pub mod precondition;
pub mod wgpu_fista;

use std::sync::OnceLock;
use std::time::Instant;

use rayon::prelude::*;

pub use params::{MapParams, ValidMapParams};

use crate::solve::backend::GradientBackend;
use crate::solve::backend::wgpu::{lockstep, resident};

use crate::base::features::MAX_K;
use crate::design::{BatchDesign, Block, KPAD, LANES};
use crate::load::Dataset;
use precondition::{Steps, steps_for};

/// The solved MAP of one fit.
#[derive(Clone, Debug)]
pub struct MapFit {
    /// Weights, feature order.
    pub weights: [f64; MAX_K],
    /// f64 objective Σ logloss + λ‖w‖₁ at `weights` (NaN when the f64 check was skipped).
    pub objective: f64,
    /// KKT violation at `weights`: f64, or the batched loop's when the f64 check was skipped.
    pub kkt: f64,
    /// Batched (f32) iterations.
    pub iterations: usize,
    /// f64 polishing iterations (0 for almost every fit).
    pub polish_iterations: usize,
}

/// Wall-clock split of a MAP solve, seconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MapTimings {
    /// Step sizes (Gram matrices per fold).
    pub precondition_s: f64,
    /// Batched FISTA through the backend.
    pub batched_s: f64,
    /// f64 objective/KKT of every fit, plus polishing.
    pub verify_s: f64,
    /// Gradient evaluations summed over blocks (each covers LANES fits).
    pub block_gradients: usize,
}

/// All MAP fits, in [`BatchDesign::fits`] order.
#[derive(Clone, Debug)]
pub struct MapSolution {
    /// One entry per fit.
    pub fits: Vec<MapFit>,
    /// Where the time went.
    pub timings: MapTimings,
    /// Backend description.
    pub backend: String,
}

impl MapSolution {
    /// Fits whose f64 KKT violation exceeds `tol`.
    pub fn unconverged(&self, tol: f64) -> usize {
        self.fits
            .iter()
            .filter(|f| f.kkt.is_nan() || f.kkt > tol)
            .count()
    }
}

/// How [`solve_map_with`] starts and checks its fits.
#[derive(Clone, Copy, Default)]
pub struct MapOptions<'a> {
    /// Starting weights of fit `i` ([`BatchDesign::fits`] order); zero when `None`.
    pub init: Option<&'a (dyn Fn(usize) -> [f64; MAX_K] + Sync)>,
    /// Solve by proximal Newton ([`newton`]) with each fit's Hessian at its starting point as
    /// the metric, instead of FISTA. Pays when every fit starts near its solution.
    pub newton: bool,
    /// Skip the f64 recomputation of each fit's objective and KKT (and the polish). The
    /// batched loop's own KKT test, on a gradient accumulated in f64 from f32 logits, then
    /// decides convergence and `objective` is NaN. The bootstrap uses this: millions of
    /// replicate fits would spend more time in the scalar f64 pass than in the kernel.
    pub skip_f64_check: bool,
    /// Finished blocks of an earlier run, and where each new one is reported (`fit --resume`).
    pub checkpoint: Option<&'a MapBlockCheckpoint<'a>>,
    /// The data set behind a design built without lane blocks
    /// ([`BatchDesign::build_with`]`(…, false)`): the CPU path then builds each block (the
    /// blocks `build` would, in the same order) when it solves it and checks its fits in f64
    /// there, so a job holds the row weights of the blocks in flight, not of every fit (12 GB
    /// for 50,000 fits of a 1M-pair table).
    pub data: Option<&'a Dataset>,
}

/// The MAP side of `fit --resume`: each block's batched results (the f64 check that follows is
/// a pure function of them, so a resumed run writes the same bytes).
pub struct MapBlockCheckpoint<'a> {
    /// Finished blocks by index in [`BatchDesign::blocks`], from an earlier run on the same
    /// backend.
    pub done: std::collections::HashMap<usize, Vec<fista::LaneResult>>,
    /// Called as each block of this run finishes (from the worker that finished it).
    pub save: &'a (dyn Fn(usize, &[fista::LaneResult]) + Sync),
}

/// Solves the L1-penalised logistic MAP of every fit, each checked in f64.
pub fn solve_map<B: GradientBackend>(
    design: &BatchDesign,
    backend: &B,
    params: &ValidMapParams,
) -> MapSolution {
    solve_map_with(design, backend, params, MapOptions::default())
}

/// [`solve_map`] with a starting point per fit and an optional f64 check.
pub fn solve_map_with<B: GradientBackend>(
    design: &BatchDesign,
    backend: &B,
    params: &ValidMapParams,
    options: MapOptions<'_>,
) -> MapSolution {
    let lambda = params.lambda();
    let tol = params.kkt_tol();
    let t0 = Instant::now();
    // Step sizes (a Gram matrix per row-weight vector) on first use: FISTA needs them all, the
    // warm-started Newton solver only for a lane that falls back to FISTA.
    let steps: Vec<OnceLock<Steps>> = design.row_weights.iter().map(|_| OnceLock::new()).collect();
    let steps_of = |rw: usize| -> &Steps {
        steps[rw].get_or_init(|| {
            let weights = &design.row_weights[rw];
            steps_for(&design.groups[weights.group], &weights.c)
        })
    };
    if !options.newton {
        (0..steps.len()).into_par_iter().for_each(|rw| {
            steps_of(rw);
        });
    }
    let t1 = Instant::now();
    // The f32 loop aims a little below the tolerance so the f64 check rarely needs a polish.
    let inner_tol = 0.5 * tol;
    let body = |backend: &dyn GradientBackend, block: &crate::design::Block| {
        let init: Option<Vec<[f64; MAX_K]>> = options
            .init
            .map(|init| block.fits.iter().map(|&f| init(f)).collect());
        if options.newton {
            let zero = vec![[0f64; MAX_K]; block.fits.len()];
            let start = init.as_deref().unwrap_or(&zero);
            let group = &design.groups[block.group];
            let mut w32 = vec![0f32; KPAD * LANES];
            for (l, w) in start.iter().enumerate() {
                for k in 0..MAX_K {
                    w32[k * LANES + l] = w[k] as f32;
                }
            }
            let nf = group.nf;
            let mut hess = vec![0f64; LANES * nf * nf];
            backend.block_curvature(group, block, &w32, &mut hess);
            let metrics: Vec<newton::Metric> = hess
                .chunks_exact(nf * nf)
                .take(block.fits.len())
                .map(|h| newton::Metric::from_hessian(h, nf))
                .collect();
            let lane_steps = |lane: usize| steps_of(design.fits[block.fits[lane]].row_weights);
            return newton::newton_block(
                backend,
                &design.groups[block.group],
                block,
                &lane_steps,
                &metrics,
                start,
                lambda,
                inner_tol,
                params.max_iter(),
            );
        }
        let lane_steps: Vec<&Steps> = block
            .fits
            .iter()
            .map(|&f| steps_of(design.fits[f].row_weights))
            .collect();
        fista::fista_block(
            backend,
            &design.groups[block.group],
            block,
            &lane_steps,
            init.as_deref(),
            lambda,
            inner_tol,
            params.max_iter(),
        )
    };
    // Built lazily on the CPU: the blocks `build` would make, one at a time in their task.
    let lazy = options
        .data
        .filter(|_| design.blocks.is_empty() && !design.fits.is_empty());
    let specs = match lazy {
        Some(_) => design.chain_block_specs(1).expect("one lane a fit"),
        None => Vec::new(),
    };
    let n_blocks = if lazy.is_some() {
        specs.len()
    } else {
        design.blocks.len()
    };
    let block_len = |b: usize| match lazy {
        Some(_) => specs[b].fits.len(),
        None => design.blocks[b].fits.len(),
    };
    // A stored block is taken only when it holds one result per lane of this block.
    let stored = |b: usize| {
        let c = options.checkpoint?;
        c.done.get(&b).filter(|lanes| lanes.len() == block_len(b))
    };
    let all_stored = options.checkpoint.is_some() && (0..n_blocks).all(|b| stored(b).is_some());
    // Each fit checked in f64 (and polished where the f32 loop stopped short).
    let verify = |block: &Block, lane: usize, result: &fista::LaneResult| -> (usize, MapFit) {
        let fit_id = block.fits[lane];
        let group = &design.groups[block.group];
        let w: [f64; MAX_K] = result.w.map(|v| v as f64);
        if options.skip_f64_check {
            let fit = MapFit {
                weights: w,
                objective: f64::NAN,
                kkt: result.kkt_f32,
                iterations: result.iterations,
                polish_iterations: 0,
            };
            return (fit_id, fit);
        }
        let (objective, grad) = objective::objective_f64(group, block, lane, &w, lambda);
        let kkt = objective::kkt_violation(&w, &grad, lambda);
        let fit = if kkt <= tol {
            MapFit {
                weights: w,
                objective,
                kkt,
                iterations: result.iterations,
                polish_iterations: 0,
            }
        } else {
            let (w, objective, kkt, n) = polish::polish_f64(
                group,
                block,
                lane,
                steps_of(design.fits[fit_id].row_weights),
                &w,
                lambda,
                tol,
                params.max_iter(),
            );
            MapFit {
                weights: w,
                objective,
                kkt,
                iterations: result.iterations,
                polish_iterations: n,
            }
        };
        (fit_id, fit)
    };
    if let Some(data) = lazy {
        // Solve, save and check each block in its own task; the f64 check's time is summed
        // over the tasks and shared out over the threads.
        let verify_ns = std::sync::atomic::AtomicU64::new(0);
        let per_block: Vec<(usize, Vec<(usize, MapFit)>)> = specs
            .par_iter()
            .enumerate()
            .map(|(b, spec)| {
                let block = design.chain_block(data, spec);
                let lanes = stored(b).cloned().unwrap_or_else(|| {
                    let lanes = body(backend, &block);
                    if let Some(c) = options.checkpoint {
                        (c.save)(b, &lanes);
                    }
                    lanes
                });
                let tv = Instant::now();
                let iterations = lanes.iter().map(|l| l.iterations).max().unwrap_or(0);
                let fits = lanes
                    .iter()
                    .enumerate()
                    .map(|(lane, r)| verify(&block, lane, r))
                    .collect();
                verify_ns.fetch_add(
                    tv.elapsed().as_nanos() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                (iterations, fits)
            })
            .collect();
        let wall = t1.elapsed().as_secs_f64();
        let verify_s = verify_ns.into_inner() as f64 / 1e9 / rayon::current_num_threads() as f64;
        let block_gradients = per_block.iter().map(|(it, _)| it).sum();
        let mut fits: Vec<(usize, MapFit)> = per_block.into_iter().flat_map(|(_, f)| f).collect();
        fits.sort_by_key(|(id, _)| *id);
        return MapSolution {
            fits: fits.into_iter().map(|(_, f)| f).collect(),
            timings: MapTimings {
                precondition_s: (t1 - t0).as_secs_f64(),
                batched_s: (wall - verify_s).max(0.0),
                verify_s,
                block_gradients,
            },
            backend: backend.name(),
        };
    }
    let per_block: Vec<Vec<fista::LaneResult>> = match backend.fused_wgpu() {
        // Every block was finished by an earlier run.
        _ if all_stored => (0..design.blocks.len())
            .map(|b| stored(b).expect("stored").clone())
            .collect(),
        // FISTA with its state on the device: two launches an iteration, no round trip.
        Some(fused) if !options.newton => {
            let resident = resident::ResidentBlocks::new(fused, design);
            let start = |b: usize, lane: usize| {
                let fit = design.blocks[b].fits[lane];
                // The device holds the resident blocks' width of the slots.
                let step = &steps_of(design.fits[fit].row_weights).step;
                let init = options.init.map_or([0.0; MAX_K], |init| init(fit));
                wgpu_fista::LaneStart {
                    step: std::array::from_fn(|k| step[k]),
                    init: std::array::from_fn(|k| init[k]),
                }
            };
            // The blocks step together: they are saved together, when all have finished.
            let lanes = wgpu_fista::fista_resident(
                &resident,
                &design.blocks,
                &start,
                lambda,
                inner_tol,
                params.max_iter(),
            );
            if let Some(c) = options.checkpoint {
                lanes.iter().enumerate().for_each(|(b, l)| (c.save)(b, l));
            }
            lanes
        }
        Some(fused) => {
            lockstep::Lockstep::new(fused, &design.groups, &design.blocks).run(|ls, b| body(ls, b))
        }
        None => design
            .blocks
            .par_iter()
            .enumerate()
            .map(|(b, block)| {
                stored(b).cloned().unwrap_or_else(|| {
                    let lanes = body(backend, block);
                    if let Some(c) = options.checkpoint {
                        (c.save)(b, &lanes);
                    }
                    lanes
                })
            })
            .collect(),
    };
    let t2 = Instant::now();
    let block_gradients = per_block
        .iter()
        .map(|lanes| lanes.iter().map(|l| l.iterations).max().unwrap_or(0))
        .sum();
    let mut jobs = Vec::with_capacity(design.fits.len());
    for (block, lanes) in design.blocks.iter().zip(&per_block) {
        for (lane, result) in lanes.iter().enumerate() {
            jobs.push((block, lane, result));
        }
    }
    let mut fits: Vec<(usize, MapFit)> = jobs
        .par_iter()
        .map(|&(block, lane, result)| verify(block, lane, result))
        .collect();
    fits.sort_by_key(|(id, _)| *id);
    let t3 = Instant::now();
    MapSolution {
        fits: fits.into_iter().map(|(_, f)| f).collect(),
        timings: MapTimings {
            precondition_s: (t1 - t0).as_secs_f64(),
            batched_s: (t2 - t1).as_secs_f64(),
            verify_s: (t3 - t2).as_secs_f64(),
            block_gradients,
        },
        backend: backend.name(),
    }
}
