//! `prefdissect bench`: times the full MAP job and the kernel, next to an SGEMM and the burn
//! plain-ops reference measured in the same process, so the figures are ratios, not guesses.

pub mod agreement;
pub mod floor;
pub mod table;

use clap::Args;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{Value, json};

use crate::base::error::{Error, Result};
use crate::base::peak::sgemm_gflops;
use crate::base::stats::median;
use crate::design::{BatchDesign, KPAD, LANES};
use crate::load::{Dataset, Selection};
use crate::simulate::{simulate, write_simulated};
use crate::solve::backend::GradientBackend;
use crate::solve::backend::cpu::CpuBackend;
use crate::solve::backend::cpu::DenseCpuBackend;
use crate::solve::backend::reference::ReferenceBackend;
use crate::solve::map::MapParams;
use crate::solve::map::solve_map;

/// Benchmark settings.
#[derive(Clone, Debug)]
pub struct BenchRequest {
    /// Timed repetitions of the full job (median reported).
    pub runs: usize,
    /// Simulator seed of the data.
    pub seed: u64,
    /// Folds (10 = the paper's job of 33 × 16 × 10 fits).
    pub folds: usize,
    /// Also time the burn plain-ops reference (slow: one full gradient pass).
    pub reference: bool,
}

/// One full-batch gradient pass (every block, all cores).
pub fn gradient_pass<B: GradientBackend + ?Sized>(
    design: &BatchDesign,
    backend: &B,
    w: &[f32],
) -> f64 {
    design
        .blocks
        .par_iter()
        .map(|b| {
            let mut g = vec![0f64; KPAD * LANES];
            backend.block_gradient(&design.groups[b.group], b, w, &mut g, None);
            g[0]
        })
        .sum()
}

/// Share of X's entries (usable rows) that are non-zero: the sign kernel's work relative to
/// the dense kernel's.
pub fn x_density(design: &BatchDesign) -> f64 {
    let (nz, all) = design.groups.iter().fold((0usize, 0usize), |(nz, all), g| {
        let rows = (0..g.n_rows()).map(|r| g.row(r));
        let nz_g: usize = rows
            .map(|row| row.iter().filter(|&&v| v != 0.0).count())
            .sum();
        (nz + nz_g, all + g.n_rows() * g.nf)
    });
    nz as f64 / all as f64
}

/// A weight field (`KPAD × LANES`) of moderate, varied weights (±`scale`·3) for timing passes.
pub fn typical_weights(scale: f32) -> Vec<f32> {
    (0..KPAD * LANES)
        .map(|i| {
            if i / LANES < 29 {
                scale * ((i % 7) as f32 - 3.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// Runs the benchmark and returns its report (also printed by the CLI).
pub fn run(req: &BenchRequest) -> Result<Value> {
    if req.runs == 0 {
        return Err(Error::Setting {
            name: "runs",
            message: "must be at least 1".into(),
        });
    }
    let dir = std::env::temp_dir().join(format!("prefdissect-bench-{}", std::process::id()));
    write_simulated(&simulate(req.seed), &dir, req.seed)?;
    let data = Dataset::load(&dir, &Selection::default());
    let _ = std::fs::remove_dir_all(&dir);
    let data = data?;
    let params = MapParams::new().check()?;

    let t = Instant::now();
    let design = BatchDesign::build(&data, req.folds, 0)?;
    let design_s = t.elapsed().as_secs_f64();

    // Full MAP job: warm-up run, then `runs` timed runs.
    let mut job = Vec::new();
    let mut batched = Vec::new();
    let mut last = solve_map(&design, &CpuBackend, &params);
    for _ in 0..req.runs {
        let t = Instant::now();
        last = solve_map(&design, &CpuBackend, &params);
        job.push(t.elapsed().as_secs_f64());
        batched.push(last.timings.batched_s);
    }
    let iters: Vec<usize> = last.fits.iter().map(|f| f.iterations).collect();
    let max_kkt = last.fits.iter().map(|f| f.kkt).fold(0.0, f64::max);

    // Kernel alone: full-batch gradient passes at a typical point.
    let w = typical_weights(0.1);
    let flops = design.gradient_flops();
    gradient_pass(&design, &CpuBackend, &w);
    let pass: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(gradient_pass(&design, &CpuBackend, &w));
            t.elapsed().as_secs_f64()
        })
        .collect();
    let pass_s = median(pass);
    let kernel_gflops = flops / pass_s / 1e9;
    // The dense kernel on the same blocks, alternating with the sign-sparse one.
    let (mut dense, mut sparse) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        for (backend, times) in [
            (&DenseCpuBackend as &dyn GradientBackend, &mut dense),
            (&CpuBackend, &mut sparse),
        ] {
            let t = Instant::now();
            std::hint::black_box(gradient_pass(&design, backend, &w));
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let (dense_s, sparse_s) = (median(dense), median(sparse));
    let density = x_density(&design);
    let sgemm = sgemm_gflops(2048);
    let reference_s = if req.reference {
        // A warm-up pass, then the median of 3: one pass alone varied 6–16× against the kernel.
        gradient_pass(&design, &ReferenceBackend, &w);
        let passes: Vec<f64> = (0..3)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(gradient_pass(&design, &ReferenceBackend, &w));
                t.elapsed().as_secs_f64()
            })
            .collect();
        Some(median(passes))
    } else {
        None
    };
    let job_fits = design.fits.len();
    Ok(json!({
        "backend": CpuBackend.name(),
        "fits": job_fits,
        "folds": req.folds,
        "runs": req.runs,
        "design_s": design_s,
        "map_job_median_s": median(job.clone()),
        "map_job_runs_s": job,
        "map_batched_median_s": median(batched),
        "map_detail_last_run": last.timings,
        "iterations_median": median(iters.iter().map(|&i| i as f64).collect()),
        "iterations_max": iters.iter().max(),
        "max_kkt": max_kkt,
        "gradient_pass_median_s": pass_s,
        "gradient_pass_gflop": flops / 1e9,
        "kernel_gflops": kernel_gflops,
        "sgemm_gflops": sgemm,
        "kernel_fraction_of_sgemm": kernel_gflops / sgemm,
        "x_nonzero_fraction": density,
        "dense_kernel_pass_s": dense_s,
        "dense_kernel_gflops": flops / dense_s / 1e9,
        "dense_kernel_fraction_of_sgemm": flops / dense_s / 1e9 / sgemm,
        "sign_kernel_pass_s": sparse_s,
        "sign_kernel_speedup_over_dense": dense_s / sparse_s,
        "reference_pass_s": reference_s,
        "fused_speedup_over_reference": reference_s.map(|r| r / pass_s),
    }))
}

/// Flags of `bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Timed runs (median reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Simulator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folds of the MAP job.
    #[arg(long, default_value_t = 10)]
    pub folds: usize,
    /// Skip the (slow) burn plain-ops reference pass.
    #[arg(long)]
    pub no_reference: bool,
    /// Instead: time the manipulation experiment's 66 rerankers trained in one batch against
    /// the same set trained one at a time (--runs each, alternating).
    #[arg(long)]
    pub rerank: bool,
    /// Adam steps per reranker training (with --rerank).
    #[arg(long, default_value_t = 100)]
    pub rerank_steps: usize,
    /// Where the --rerank work runs.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: crate::base::device::BackendChoice,
    /// Instead: the same jobs (gradient pass, MAP job, rerankers) on each of --backends, one
    /// table.
    #[arg(long)]
    pub table: bool,
    /// Backends of --table (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,wgpu")]
    pub backends: Vec<crate::base::device::BackendChoice>,
    /// Judges of --table's simulated MAP job (33 = the paper's 5,280 fits).
    #[arg(long, default_value_t = 33)]
    pub judges: usize,
    /// Instead: CPU vs wgpu on this data directory's fits of --judge (MAP: max |Δw|; posterior
    /// mean: max |z| in combined MCSE); JSON out, exit 1 if a check fails.
    #[arg(long, value_name = "DATA")]
    pub agreement: Option<std::path::PathBuf>,
    /// Judge of --agreement.
    #[arg(long, default_value = "human")]
    pub judge: String,
    /// Instead: this posterior config's job on --data (all judges, CPU, --runs times) and its
    /// floor, the kernel-only time at the rates the kernel reaches in the same process; JSON out.
    #[arg(long, value_name = "CONFIG", requires = "data")]
    pub floor: Option<std::path::PathBuf>,
    /// Data of --floor (a pairs table or the authors' directory).
    #[arg(long, value_name = "DATA")]
    pub data: Option<std::path::PathBuf>,
}

impl BenchArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        if let Some(dir) = &self.agreement {
            let report = agreement::agreement(dir, &self.judge)?;
            println!("{}", serde_json::to_string_pretty(&report).expect("json"));
            if report["map"]["pass"] != true || report["posterior_mean"]["pass"] != true {
                return Err(crate::Error::Setting {
                    name: "agreement",
                    message: "CPU and wgpu disagree beyond the required bounds (see above)".into(),
                });
            }
            return Ok(());
        }
        if let (Some(config), Some(data)) = (&self.floor, &self.data) {
            let report = floor::floor(config, data, self.runs)?;
            println!("{}", serde_json::to_string_pretty(&report).expect("json"));
            return Ok(());
        }
        if self.table {
            let rows = table::run(&table::TableRequest {
                backends: self.backends,
                runs: self.runs,
                judges: self.judges,
                seed: self.seed,
            })?;
            print!("{}", table::render(&rows));
            return Ok(());
        }
        let report = if self.rerank {
            let (device, backend) = crate::base::device::tensor_device(self.backend);
            crate::manipulate::rerank_benchmark::run(
                &crate::manipulate::rerank_benchmark::RerankBenchRequest {
                    runs: self.runs,
                    prompts: 200,
                    params: crate::rerank::params::RerankParams::new()
                        .steps(self.rerank_steps)
                        .seed(self.seed)
                        .check()?,
                    seed: self.seed,
                },
                &device,
                &backend,
            )?
        } else {
            crate::cli::bench::run(&crate::cli::bench::BenchRequest {
                runs: self.runs,
                seed: self.seed,
                folds: self.folds,
                reference: !self.no_reference,
            })?
        };
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        Ok(())
    }
}
