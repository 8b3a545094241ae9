//! The `bootstrap` command: nonparametric bootstrap CIs for every (judge, group) model at once.
//!
//! A replicate is a vector of resampling counts over a group's rows, used as the per-row
//! weights `c` of the fused kernel, so replicates are batch lanes that share X and copy no
//! data. Each group is fitted whole (the paper's 10-fold average is, up to fold noise, the
//! whole-group fit). The run is cut into chunks of replicates sized to a memory budget; each
//! finished chunk goes to a checkpoint, so `--resume` continues after an interrupt, and since
//! every replicate's counts come from its own random stream and every fit is independent of
//! its batch mates, the result is the same however the run was cut or interrupted.

pub mod calibrate;
pub mod calibration_report;
pub mod checkpoint;
pub mod derived;
pub mod engine;
pub mod intervals;
pub mod output;
pub mod params;
pub mod resample;
mod summary;

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Value, json};

pub use crate::design::SHARD_MANIFEST;
pub use params::{BootstrapParams, Resampling, ValidBootstrapParams, parse_size};

use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};
use crate::base::features::{MAX_K, QUERY_GROUPS, SCENARIO_GROUPS};
use crate::base::lock::OutLock;
use crate::design::{GroupDesign, RowWeights, job_fingerprint};
use crate::load::{Dataset, Selection};
use crate::solve::settings::{Estimator, EstimatorSettings, FitConfig};
use checkpoint::{Checkpoint, ChunkRecord, Manifest};
use derived::DerivedLayout;
use engine::{WarmStart, jackknife_vectors, replicate_vectors, solve_vectors, unit_vectors};
use output::Row;

/// Everything a `bootstrap` run needs.
#[derive(Clone, Debug)]
pub struct BootstrapRequest {
    /// Data directory in the authors' format.
    pub data: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// Judges and groups.
    pub selection: Selection,
    /// Estimator settings (config file merged with flags); the default estimator is the MAP.
    pub config: FitConfig,
    /// Bootstrap settings.
    pub params: ValidBootstrapParams,
    /// Continue from the checkpoint in `out` if there is one.
    pub resume: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Stop after this many chunks have been computed in this call, leaving the checkpoint
    /// (what an interrupt leaves; for tests of `--resume`).
    pub stop_after_chunks: Option<usize>,
    /// Where the solvers run (see [`crate::base::device`]).
    pub backend: crate::base::device::BackendChoice,
    /// Compute only this shard's chunks of replicates, keeping them in the checkpoint with a
    /// `shard.json` manifest instead of writing the outputs (`prefdissect merge` does that).
    pub shard: Option<crate::design::Shard>,
    /// Merging shards: every chunk is in the checkpoint already; one missing is an error.
    pub merging: bool,
}

/// What a bootstrap run produced.
#[derive(Clone, Debug)]
pub struct BootstrapOutcome {
    /// Whether every replicate was computed (false after `stop_after_chunks`).
    pub finished: bool,
    /// The summary document (also `summary.json`); `Null` when not finished.
    pub summary: Value,
    /// One row per statistic (empty when not finished).
    pub rows: Vec<Row>,
    /// Point estimate per model (m = group · J + judge).
    pub point: Vec<[f64; MAX_K]>,
    /// Replicate weights, `[replicate][model][feature]`, f32.
    pub replicates: Vec<f32>,
    /// Human-readable warnings.
    pub warnings: Vec<String>,
}

/// Bytes of run state per replicate in flight: the lane blocks' c and c·y (per chain for the
/// sampler) and row weights for every group, plus starting points and results per model.
fn bytes_per_replicate(groups: &[GroupDesign], judges: usize, lanes_per_fit: usize) -> u64 {
    let rows: usize = groups.iter().map(|g| g.n_padded).sum();
    let models = groups.len() * judges;
    let blocks = rows * judges * lanes_per_fit * 8 + rows * 4;
    (blocks + models * (MAX_K * 8 * 3 + 64)) as u64
}

fn settings_json(settings: &EstimatorSettings, p: &ValidBootstrapParams) -> Value {
    let estimator = settings.to_json();
    json!({
        "estimator": estimator,
        "replicates": p.replicates(),
        "resampling": p.resampling(),
        "seed": p.seed(),
        "bca": p.bca(),
        "jackknife_groups": p.jackknife_groups(),
        "folds": 1,
    })
}

/// Runs a bootstrap and writes `bootstrap_ci.csv`, `bootstrap_ci.json` and `summary.json`.
pub fn bootstrap(req: &BootstrapRequest) -> Result<BootstrapOutcome> {
    let t0 = Instant::now();
    let p = &req.params;
    let settings = req.config.estimator_settings(Estimator::Map)?;
    let mut warnings = Vec::new();
    if let Some(folds) = req.config.folds.filter(|&f| f != 1) {
        warnings.push(format!(
            "the bootstrap fits each group whole; folds = {folds} is ignored"
        ));
    }
    if req.out.exists() && !req.out.is_dir() {
        return Err(Error::Setting {
            name: "out",
            message: format!("{} exists and is not a directory", req.out.display()),
        });
    }
    let data = Dataset::load(&req.data, &req.selection)?;
    let groups = GroupDesign::build_all(&data, 1, 0)?;
    // Held until the outputs are written: a second run into the same OUT stops here.
    let lock = OutLock::acquire(&req.out)?;
    let (nj, ng) = (data.judges.len(), groups.len());
    let models = nj * ng;
    // Each model's replicate weights are stored in its design's slots (the paper's 29 for a
    // narrow set, so its files are the paper's size).
    let nf = crate::base::features::slots(data.annotations.names.len());
    let paper_group = |g: &GroupDesign| {
        SCENARIO_GROUPS.contains(&g.name.as_str()) || QUERY_GROUPS.contains(&g.name.as_str())
    };
    let layout = DerivedLayout {
        judges: nj,
        scenarios: (0..ng)
            .filter(|&g| {
                SCENARIO_GROUPS.contains(&groups[g].name.as_str())
                    || !groups.iter().any(paper_group)
            })
            .collect(),
        k: data.annotations.names.len(),
    };
    let run_settings = settings_json(&settings, p);
    let print = job_fingerprint(&data, &groups, &run_settings);

    // Memory: the kept results, then as many replicates in flight as the rest allows.
    let r_total = p.replicates();
    let per_model = nf * 4;
    let store = r_total as u64 * (models * per_model + layout.len() * 8) as u64;
    let lanes_per_fit = match &settings {
        EstimatorSettings::Map(_) => 1,
        EstimatorSettings::Posterior(h) => h.chains(),
    };
    let per_rep = bytes_per_replicate(&groups, nj, lanes_per_fit);
    if store + per_rep > p.memory_budget() {
        return Err(Error::Setting {
            name: "memory_budget",
            message: format!(
                "{} replicates of {models} models need at least {} bytes ({:.1} MiB); \
                 raise --memory-budget or lower --replicates",
                r_total,
                store + per_rep,
                (store + per_rep) as f64 / 1048576.0
            ),
        });
    }
    let fit_chunk = ((p.memory_budget() - store) / per_rep) as usize;
    // At least ~20 chunks, so a checkpoint never holds back more than 5% of the work.
    let mut chunk_reps = fit_chunk.min(r_total.div_ceil(20)).max(1);

    let ck = Checkpoint::new(&req.out);
    let mut manifest = Manifest {
        fingerprint: print.clone(),
        chunk_replicates: chunk_reps,
        chunks: Vec::new(),
    };
    if req.resume {
        if let Some(m) = ck.read_manifest()? {
            if m.fingerprint != print {
                return Err(Error::Checkpoint {
                    path: ck.dir().to_owned(),
                    message: "was made with other data or settings; run without --resume to \
                              start over"
                        .into(),
                });
            }
            m.check(ck.dir(), r_total)?;
            chunk_reps = m.chunk_replicates;
            manifest = m;
        }
    } else {
        ck.clear()?;
    }

    // A chunk's replicate fits are one batch.
    let blocks = (chunk_reps * models * lanes_per_fit).div_ceil(crate::design::LANES);
    let (backend, selected) =
        crate::solve::backend::engine::EngineBackend::select(req.backend, blocks);
    if let Some(w) = &selected.warning {
        warnings.push(w.clone());
    }
    // A wgpu failure (device lost, out of memory: a panic in burn's or cubecl's runtime) moves
    // the rest of the run to the CPU instead of ending it.
    let backend = std::cell::RefCell::new(backend);
    let fell_back = std::cell::Cell::new(false);
    let solve = |vectors: Vec<RowWeights>, warm: Option<&WarmStart>| {
        let current = backend.borrow().clone();
        if !current.is_wgpu() {
            // No second attempt to keep the vectors for: no copy.
            return solve_vectors(&data, &groups, vectors, &settings, warm, &current);
        }
        let (fits, fell) = current
            .run_or_cpu(|b| solve_vectors(&data, &groups, vectors.clone(), &settings, warm, b));
        if fell {
            fell_back.set(true);
            *backend.borrow_mut() = crate::solve::backend::engine::EngineBackend::Cpu(
                crate::solve::backend::cpu::CpuBackend,
            );
        }
        fits
    };
    // The plain fit of every model: the point estimates, and the replicates' starting points.
    let t_point = Instant::now();
    let point = solve(unit_vectors(&groups), None)?;
    if point.flagged > 0 {
        warnings.push(format!(
            "{} point-estimate fits are in doubt (not converged / poor mixing)",
            point.flagged
        ));
    }
    let point = point.weights;
    let warm = WarmStart { point: &point };
    let point_s = t_point.elapsed().as_secs_f64();

    // Delete-a-group jackknife for the BCa acceleration.
    let t_jack = Instant::now();
    let jg = p.jackknife_groups();
    let jack: Option<Vec<[f64; MAX_K]>> = if p.bca() {
        let vectors = jackknife_vectors(&groups, p.seed(), jg);
        let fits = solve(vectors, Some(&warm))?;
        // Reorder to [model][drop].
        let mut out = vec![[0.0; MAX_K]; models * jg];
        for g in 0..ng {
            for drop in 0..jg {
                for j in 0..nj {
                    out[(g * nj + j) * jg + drop] = fits.weights[((g * jg + drop) * nj) + j];
                }
            }
        }
        Some(out)
    } else {
        None
    };
    let jack_s = t_jack.elapsed().as_secs_f64();

    // The replicates, chunk by chunk.
    let t_reps = Instant::now();
    let mut reps = vec![0f32; r_total * models * nf];
    let n_chunks = r_total.div_ceil(chunk_reps);
    let stride = models * nf;
    let mut done = vec![false; n_chunks];
    for rec in &manifest.chunks {
        // In range, once, of its size: checked with the manifest above.
        let i = rec.index.unwrap_or(0);
        let r0 = i * chunk_reps;
        done[i] = true;
        ck.read_chunk(i, &mut reps[r0 * stride..(r0 + rec.replicates) * stride])?;
    }
    let done_before = manifest.chunks.len();
    // A shard computes its own range of chunks; the rest are other shards'.
    let todo: Vec<usize> = (0..n_chunks)
        .filter(|&i| !done[i] && req.shard.is_none_or(|s| s.owns(i, n_chunks)))
        .collect();
    if req.merging && !todo.is_empty() {
        return Err(Error::Setting {
            name: "merge",
            message: format!(
                "the shards hold {} of the job's {n_chunks} chunks of replicates",
                n_chunks - todo.len()
            ),
        });
    }
    let bar = progress_bar(req.progress, r_total, done_before * chunk_reps);
    let mut finished = true;
    for (computed, &i) in todo.iter().enumerate() {
        if req.stop_after_chunks.is_some_and(|n| computed >= n) {
            finished = false;
            break;
        }
        let t_chunk = Instant::now();
        let r0 = i * chunk_reps;
        let r1 = (r0 + chunk_reps).min(r_total);
        let vectors = replicate_vectors(&groups, p.resampling(), p.seed(), r0..r1);
        let fits = solve(vectors, Some(&warm))?;
        let slot = &mut reps[r0 * stride..r1 * stride];
        for (dst, w) in slot.chunks_exact_mut(nf).zip(&fits.weights) {
            for k in 0..nf {
                dst[k] = w[k] as f32;
            }
        }
        ck.write_chunk(i, slot)?;
        manifest.chunks.push(ChunkRecord {
            index: Some(i),
            replicates: r1 - r0,
            flagged: fits.flagged,
            kernel_gflop: fits.kernel_gflop,
            seconds: t_chunk.elapsed().as_secs_f64(),
        });
        ck.write_manifest(&manifest)?;
        if let Some(bar) = &bar {
            bar.inc((r1 - r0) as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let reps_s = t_reps.elapsed().as_secs_f64();
    if finished && let Some(shard) = req.shard {
        // A shard's results are its checkpoint's chunks: the outputs come from `merge`.
        let held: Vec<usize> = manifest.chunks.iter().filter_map(|c| c.index).collect();
        let shard_manifest = json!({
            "kind": "bootstrap",
            "shard": shard,
            "fingerprint": print,
            "chunks": held,
            "of_chunks": n_chunks,
            "chunk_replicates": chunk_reps,
            "complete": true,
            "request": {
                "data": req.data,
                "judges": req.selection.judges,
                "groups": req.selection.groups,
                "config": req.config,
                "params": p.to_json(),
                "backend": req.backend,
            },
        });
        let text = serde_json::to_string_pretty(&shard_manifest).expect("json") + "\n";
        crate::base::atomic::write_atomic(&req.out.join(SHARD_MANIFEST), text.as_bytes())?;
        return Ok(BootstrapOutcome {
            finished: false,
            summary: shard_manifest,
            rows: Vec::new(),
            point,
            replicates: reps,
            warnings: lock.warning.iter().cloned().chain(warnings).collect(),
        });
    }
    if !finished {
        return Ok(BootstrapOutcome {
            finished,
            summary: Value::Null,
            rows: Vec::new(),
            point,
            replicates: reps,
            warnings: lock.warning.iter().cloned().chain(warnings).collect(),
        });
    }

    let t_sum = Instant::now();
    let rows = summary::summarise_all(&data, &groups, &layout, p, &point, &reps, jack.as_deref());
    output::check_rows(&rows)?;
    let summarise_s = t_sum.elapsed().as_secs_f64();

    let flagged: usize = manifest.chunks.iter().map(|c| c.flagged).sum();
    if flagged > 0 {
        warnings.push(format!(
            "{flagged} of {} replicate fits are in doubt (not converged / poor mixing); they are \
             included",
            r_total * models
        ));
    }
    let gflop: f64 = manifest.chunks.iter().map(|c| c.kernel_gflop).sum();
    let chunk_s: f64 = manifest.chunks.iter().map(|c| c.seconds).sum();
    let mut settings_out = run_settings.clone();
    settings_out["level"] = json!(p.level());
    settings_out["memory_budget"] = json!(p.memory_budget());
    settings_out["chunk_replicates"] = json!(chunk_reps);
    if fell_back.get() {
        warnings.push("the wgpu backend failed during the run; the rest ran on the CPU".into());
    }
    let summary = json!({
        "tool": concat!("prefdissect ", env!("CARGO_PKG_VERSION")),
        "data": req.data.display().to_string(),
        "settings": settings_out,
        "backend": crate::solve::backend::GradientBackend::name(&*backend.borrow()),
        "device": {
            "requested": req.backend,
            "kind": selected.kind,
            "adapter": selected.adapter,
            "note": selected.note,
        },
        "judges": data.judges.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
        "groups": groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        "properties": data.annotations.names,
        "scenario_groups_averaged": layout.scenarios.iter()
            .map(|&g| groups[g].name.as_str()).collect::<Vec<_>>(),
        "counts": {
            "models": models,
            "replicates": r_total,
            "replicate_fits": r_total * models,
            "replicate_fits_in_doubt": flagged,
            "chunks": n_chunks,
            "chunks_resumed": done_before,
            "statistics": rows.len(),
        },
        "warnings": warnings,
        "timings_s": {
            "point_estimates": point_s,
            "jackknife": jack_s,
            "replicates_this_call": reps_s,
            "replicates_all_calls": chunk_s,
            "summaries": summarise_s,
            "total_this_call": t0.elapsed().as_secs_f64(),
        },
        "throughput": {
            "replicate_fits_per_s": (r_total * models) as f64 / chunk_s.max(1e-9),
            "kernel_gflop": gflop,
            "kernel_gflop_per_s": gflop / chunk_s.max(1e-9),
        },
    });
    write_atomic(
        &req.out.join("bootstrap_ci.csv"),
        output::render_csv(&rows).as_bytes(),
    )?;
    write_atomic(
        &req.out.join("bootstrap_ci.json"),
        output::render_json(&rows, &settings_out, p.level()).as_bytes(),
    )?;
    write_atomic(
        &req.out.join("summary.json"),
        (serde_json::to_string_pretty(&summary).expect("json") + "\n").as_bytes(),
    )?;
    ck.clear()?;
    // Said to the user, not recorded: a resumed run's files are an uninterrupted run's.
    let warnings: Vec<String> = lock.warning.iter().cloned().chain(warnings).collect();
    Ok(BootstrapOutcome {
        finished,
        summary,
        rows,
        point,
        replicates: reps,
        warnings,
    })
}

fn progress_bar(show: bool, total: usize, done: usize) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} replicates, ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    Some(bar)
}
