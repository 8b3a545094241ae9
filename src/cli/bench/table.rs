//! `prefdissect bench --table`: the same jobs on each requested backend, one table (job,
//! backend, adapter, median wall, GFLOP/s) — the tool the GPU-figures issue runs on the device.
//! Jobs: one full-batch gradient pass of the MAP job's design, the MAP job itself, the
//! posterior mean with `configs/fast.json`'s sampler, and a short batched reranker training; each timed `runs` times after a warm-up run (which pays shader
//! compilation on wgpu).

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use crate::base::device::{BackendChoice, BackendKind};
use crate::base::error::{Error, Result};
use crate::base::stats::median;
use crate::cli::bench::gradient_pass;
use crate::design::BatchDesign;
use crate::load::{Dataset, Selection};
use crate::rerank::params::RerankParams;
use crate::simulate::{PAPER_JUDGES, simulate, write_simulated};
use crate::solve::backend::engine::EngineBackend;
use crate::solve::map::MapParams;
use crate::solve::map::solve_map;
use crate::solve::posterior::{HmcParams, solve_posterior};

/// What to run.
#[derive(Clone, Debug)]
pub struct TableRequest {
    /// Backends to compare (each selected as `--backend` would).
    pub backends: Vec<BackendChoice>,
    /// Timed runs per job (after one warm-up).
    pub runs: usize,
    /// Judges of the simulated MAP job (33 = the paper's 5,280 fits).
    pub judges: usize,
    /// Simulator seed.
    pub seed: u64,
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct TableRow {
    /// Job name.
    pub job: String,
    /// Backend that ran it.
    pub backend: String,
    /// wgpu adapter, if any.
    pub adapter: Option<String>,
    /// Median wall time, seconds.
    pub median_s: f64,
    /// All timed runs.
    pub runs_s: Vec<f64>,
    /// Useful GFLOP/s where the job's work is counted.
    pub gflops: Option<f64>,
}

fn timed(runs: usize, mut f: impl FnMut()) -> Vec<f64> {
    f();
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// Runs every job on every backend.
pub fn run(req: &TableRequest) -> Result<Vec<TableRow>> {
    if req.runs == 0 || req.judges == 0 || req.judges > PAPER_JUDGES.len() {
        return Err(Error::Setting {
            name: "runs/judges",
            message: "need runs ≥ 1 and 1 ≤ judges ≤ 33".into(),
        });
    }
    let dir = std::env::temp_dir().join(format!("prefdissect-table-{}", std::process::id()));
    write_simulated(&simulate(req.seed), &dir, req.seed)?;
    let selection = Selection {
        judges: Some(
            PAPER_JUDGES[..req.judges]
                .iter()
                .map(|j| j.to_string())
                .collect(),
        ),
        groups: None,
    };
    let data = Dataset::load(&dir, &selection);
    let _ = std::fs::remove_dir_all(&dir);
    let data = data?;
    let design = BatchDesign::build(&data, 10, 0)?;
    // configs/fast.json's sampler (written out: the table must not depend on the checkout).
    let fast = HmcParams::new()
        .chains(4)
        .warmup(200)
        .draws(600)
        .check_every(300)
        .leapfrog_steps(5)
        .mcse_target(Some(0.003))
        .control_variates(true)
        .check()?;
    let params = MapParams::new().check()?;
    let w = crate::cli::bench::typical_weights(0.05);
    let mut rows = Vec::new();
    for &choice in &req.backends {
        let (engine, selected) = EngineBackend::select(choice, design.blocks.len());
        if choice == BackendChoice::Wgpu && selected.kind != BackendKind::Wgpu {
            eprintln!(
                "skipping wgpu: {}",
                selected.warning.as_deref().unwrap_or("no adapter")
            );
            continue;
        }
        let name = match &engine {
            EngineBackend::Cpu(_) => crate::solve::backend::GradientBackend::name(&engine),
            EngineBackend::Wgpu(_) => "wgpu-fused kernel".to_string(),
        };
        let row = |job: String, runs_s: Vec<f64>, flops: Option<f64>| TableRow {
            job,
            backend: name.clone(),
            adapter: selected.adapter.clone(),
            median_s: median(runs_s.clone()),
            gflops: flops.map(|f| f / median(runs_s.clone()) / 1e9),
            runs_s,
        };
        let pass = timed(req.runs, || {
            std::hint::black_box(gradient_pass(&design, &engine, &w));
        });
        rows.push(row(
            format!("gradient pass ({} fits)", design.fits.len()),
            pass,
            Some(design.gradient_flops()),
        ));
        if let EngineBackend::Wgpu(fused) = &engine {
            // The kernel as a lock-step solver would use it: every block's rows resident on the
            // device, one launch and one small read-back per gradient of the whole batch.
            let t = Instant::now();
            let resident =
                crate::solve::backend::wgpu::resident::ResidentBlocks::new(fused, &design);
            let upload = t.elapsed().as_secs_f64();
            let w_all: Vec<f32> = (0..design.blocks.len())
                .flat_map(|_| w.iter().copied())
                .collect();
            let one_launch = timed(req.runs, || {
                std::hint::black_box(resident.gradients(&w_all));
            });
            rows.push(row(
                format!("upload of all blocks ({} fits)", design.fits.len()),
                vec![upload],
                None,
            ));
            rows.push(row(
                format!("gradient pass, one launch ({} fits)", design.fits.len()),
                one_launch,
                Some(design.gradient_flops()),
            ));
            // The same with X and the weights dense (f32): whether packing pays on this adapter.
            let dense = crate::solve::backend::wgpu::resident::ResidentBlocks::new(
                &fused.clone().with_dense_rows(),
                &design,
            );
            let dense_launch = timed(req.runs, || {
                std::hint::black_box(dense.gradients(&w_all));
            });
            rows.push(row(
                format!("  the same, rows dense f32 ({} fits)", design.fits.len()),
                dense_launch,
                Some(design.gradient_flops()),
            ));
        }
        let map = timed(req.runs, || {
            std::hint::black_box(solve_map(&design, &engine, &params));
        });
        // On wgpu: FISTA with its state on the device, two launches an iteration.
        rows.push(row(
            format!("MAP job ({} fits)", design.fits.len()),
            map,
            None,
        ));
        // On wgpu: warm-up and sampling on the device, and the same with the warm-up on the host
        // (where the device's pays).
        let time_posterior = |backend: &EngineBackend| -> Result<(Vec<f64>, f64)> {
            let (mut gflop, mut failed) = (0.0, None);
            let runs = timed(req.runs, || {
                match solve_posterior(&design, &data, backend, &fast, &|_| {}) {
                    Ok(s) => gflop = s.timings.kernel_gflop,
                    Err(e) => failed = Some(e),
                }
            });
            failed.map_or(Ok((runs, gflop)), Err)
        };
        let (posterior, gflop) = time_posterior(&engine)?;
        rows.push(row(
            format!("posterior mean, fast.json ({} fits)", design.fits.len()),
            posterior,
            Some(gflop * 1e9),
        ));
        if let EngineBackend::Wgpu(fused) = &engine {
            let (posterior, gflop) =
                time_posterior(&EngineBackend::Wgpu(fused.clone().with_host_warmup()))?;
            rows.push(row(
                format!(
                    "  the same, warm-up on the host ({} fits)",
                    design.fits.len()
                ),
                posterior,
                Some(gflop * 1e9),
            ));
        }

        // The rerankers: 2 × judges models, 30 full-batch steps on the backend's device.
        let tensor_choice = match selected.kind {
            BackendKind::Cpu => BackendChoice::Cpu,
            BackendKind::Wgpu => BackendChoice::Wgpu,
        };
        let (device, _) = crate::base::device::tensor_device(tensor_choice);
        let label = match selected.kind {
            BackendKind::Cpu => "burn flex (autodiff)".to_string(),
            BackendKind::Wgpu => "burn wgpu (autodiff)".to_string(),
        };
        let steps = 30;
        let report = crate::manipulate::rerank_benchmark::run_batched_only(
            req.judges,
            &RerankParams::new().steps(steps).check()?,
            req.runs,
            req.seed,
            &device,
            &label,
        )?;
        rows.push(TableRow {
            job: format!("rerankers ({} models, {steps} steps)", 2 * req.judges),
            backend: label,
            adapter: selected.adapter.clone(),
            median_s: median(report.0.clone()),
            gflops: Some(report.1 / median(report.0.clone()) / 1e9),
            runs_s: report.0,
        });
    }
    Ok(rows)
}

/// The table as text.
pub fn render(rows: &[TableRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:38} {:32} {:44} {:>10} {:>9}",
        "job", "backend", "adapter", "median s", "GFLOP/s"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:38} {:32} {:44} {:>10.4} {:>9}",
            r.job,
            r.backend,
            r.adapter.as_deref().unwrap_or("-"),
            r.median_s,
            r.gflops.map_or("-".to_string(), |g| format!("{g:.1}"))
        );
    }
    s
}
