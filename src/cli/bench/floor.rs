//! `prefdissect bench --floor CONFIG --data DIR`: a posterior job next to its floor, the time its
//! kernel calls alone would take at the rate the kernel reaches in the same process.
//!
//! The job is run as `fit` runs it (CPU backend, every judge and group of DIR); it reports the
//! useful GFLOP of its kernel calls by kind (gradient, forward, curvature). Each kind is then
//! timed on its own over every lane block of the same design, all cores, as the sampler calls
//! it (one block per task, called many times in a row, its data warm in cache), and the job's
//! floor is Σ GFLOP_kind / rate_kind. A job at 1× its floor would spend all its time in the
//! kernel; the ratio is what the sampler around the kernel costs.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{Value, json};

use crate::base::device::BackendChoice;
use crate::base::error::{Error, Result};
use crate::base::stats::median;
use crate::cli::bench::typical_weights;
use crate::design::{BatchDesign, Block, KPAD, LANES};
use crate::load::{Dataset, Selection};
use crate::solve::backend::GradientBackend;
use crate::solve::backend::engine::EngineBackend;
use crate::solve::posterior::{KernelGflop, flops_per_row_lane, solve_posterior};
use crate::solve::settings::{Estimator, EstimatorSettings, FitConfig};

/// Times `runs` posterior jobs of `config` on `data` and the kernel's rates; returns the row.
pub fn floor(config: &Path, data_dir: &Path, runs: usize) -> Result<Value> {
    if runs == 0 {
        return Err(Error::Setting {
            name: "runs",
            message: "must be at least 1".into(),
        });
    }
    let cfg = FitConfig::read(config)?;
    let params = match cfg.estimator_settings(Estimator::PosteriorMean)? {
        EstimatorSettings::Posterior(p) => p,
        EstimatorSettings::Map(_) => {
            return Err(Error::Setting {
                name: "floor",
                message: format!(
                    "{}: the floor is that of a posterior job; this config is the MAP's",
                    config.display()
                ),
            });
        }
    };
    let data = Dataset::load(data_dir, &Selection::default())?;
    let design = BatchDesign::build(&data, cfg.folds.unwrap_or(10), cfg.fold_seed.unwrap_or(0))?;
    let (backend, _) = EngineBackend::select(BackendChoice::Cpu, design.blocks.len());
    let mut job_s = Vec::new();
    let mut gflop = KernelGflop::default();
    for _ in 0..runs {
        let t = Instant::now();
        let solution = solve_posterior(&design, &data, &backend, &params, &|_| {})?;
        job_s.push(t.elapsed().as_secs_f64());
        gflop = solution.timings.kernel_gflop_by_call;
    }
    let blocks = design.chain_blocks(&data, params.chains())?;
    let rates = kernel_rates(&design, &blocks, &backend, runs);
    // A kind the job never called has 0 GFLOP and adds 0.
    let floor_s = gflop.gradients / rates.gradients
        + gflop.losses / rates.losses
        + gflop.curvatures / rates.curvatures;
    let job = median(job_s.clone());
    Ok(json!({
        "config": config.display().to_string(),
        "fits": design.fits.len(),
        "backend": backend.name(),
        "job_runs_s": job_s,
        "job_s": job,
        "kernel_gflop": gflop,
        "kernel_gflops_by_call": rates,
        "floor_s": floor_s,
        "job_over_floor": job / floor_s,
    }))
}

/// Calls of each block in a row within a sweep. The sampler calls one block's kernel thousands
/// of times in a row, its data warm in the core's cache; a sweep calling each block once read
/// every block cold and measured 0.6 times the rate of warm calls (fast.json's blocks: forward
/// 83 against 152, gradient 122 against 192 GFLOP/s), so the floor came out 1.5 times too high.
/// 32 calls in a row measured what 128 do.
const REPEATS: usize = 32;

/// GFLOP/s of each kind of kernel call over every block of `blocks`, each called [`REPEATS`]
/// times in a row, all cores, median of `runs` sweeps each.
fn kernel_rates(
    design: &BatchDesign,
    blocks: &[Block],
    backend: &EngineBackend,
    runs: usize,
) -> KernelGflop {
    let w = typical_weights(0.05);
    let per_row = flops_per_row_lane(design.nf());
    let rows: usize = blocks
        .iter()
        .map(|b| {
            b.fits
                .iter()
                .map(|&f| design.fits[f].n_train)
                .sum::<usize>()
        })
        .sum();
    let giga_rows = REPEATS as f64 * rows as f64 / 1e9;
    let sweep = |kind: usize| -> f64 {
        let t = Instant::now();
        let s: f64 = blocks
            .par_iter()
            .flat_map_iter(|b| std::iter::repeat_n(b, REPEATS))
            .map(|b| {
                let group = &design.groups[b.group];
                match kind {
                    0 => {
                        let mut g = vec![0f64; KPAD * LANES];
                        backend.block_gradient(group, b, &w, &mut g, None);
                        g[0]
                    }
                    1 => {
                        let mut loss = vec![0f64; LANES];
                        backend.block_loss(group, b, &w, &mut loss);
                        loss[0]
                    }
                    _ => {
                        let mut h = vec![0f64; LANES * group.nf * group.nf];
                        backend.block_curvature(group, b, &w, &mut h);
                        h[0]
                    }
                }
            })
            .sum();
        std::hint::black_box(s);
        t.elapsed().as_secs_f64()
    };
    let rate = |kind: usize, flops: f64| {
        sweep(kind); // warm
        let times: Vec<f64> = (0..runs.max(3)).map(|_| sweep(kind)).collect();
        flops * giga_rows / median(times)
    };
    KernelGflop {
        gradients: rate(0, per_row.gradients),
        losses: rate(1, per_row.losses),
        curvatures: rate(2, per_row.curvatures),
    }
}
