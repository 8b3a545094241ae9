//! `prefdissect bench --agreement DIR`: the CPU and wgpu backends on the same fits of a data
//! set (one judge, every group): the MAP job's largest weight difference, and the posterior
//! means' largest difference in units of the combined Monte-Carlo error. The check the
//! GPU-figures script runs on the device before timing anything.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::base::device::{BackendChoice, BackendKind};
use crate::base::error::{Error, Result};
use crate::base::features::MAX_K;
use crate::design::BatchDesign;
use crate::load::{Dataset, Selection};
use crate::solve::backend::cpu::CpuBackend;
use crate::solve::backend::engine::EngineBackend;
use crate::solve::map::MapParams;
use crate::solve::map::solve_map;
use crate::solve::posterior::{HmcParams, solve_posterior};

/// Compares the backends on `judge`'s fits in `data`.
pub fn agreement(data: &Path, judge: &str) -> Result<Value> {
    let (engine, selected) = EngineBackend::select(BackendChoice::Wgpu, 0);
    if selected.kind != BackendKind::Wgpu {
        return Err(Error::Setting {
            name: "backend",
            message: selected.warning.unwrap_or_else(|| "no wgpu adapter".into()),
        });
    }
    let data = Dataset::load(
        data,
        &Selection {
            judges: Some(vec![judge.to_string()]),
            groups: None,
        },
    )?;
    let design = BatchDesign::build(&data, 10, 0)?;
    if let Some(why) = selected.warning.filter(|_| !engine.is_wgpu()) {
        return Err(Error::Setting {
            name: "backend",
            message: why,
        });
    }
    let params = MapParams::new().check()?;
    let t = Instant::now();
    let cpu = solve_map(&design, &CpuBackend, &params);
    let cpu_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let gpu = solve_map(&design, &engine, &params);
    let gpu_s = t.elapsed().as_secs_f64();
    let map_max = cpu
        .fits
        .iter()
        .zip(&gpu.fits)
        .flat_map(|(a, b)| (0..MAX_K).map(move |k| (a.weights[k] - b.weights[k]).abs()))
        .fold(0.0, f64::max);

    let whole = BatchDesign::build(&data, 1, 0)?;
    let hmc = HmcParams::new()
        .chains(4)
        .warmup(300)
        .draws(600)
        .seed(0)
        .check()?;
    let t = Instant::now();
    let cpu_p = solve_posterior(&whole, &data, &CpuBackend, &hmc, &|_| {})?;
    let cpu_p_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let gpu_p = solve_posterior(&whole, &data, &engine, &hmc, &|_| {})?;
    let gpu_p_s = t.elapsed().as_secs_f64();
    let (mut max_d, mut max_z, mut sum_z2, mut n) = (0f64, 0f64, 0f64, 0usize);
    for (a, b) in cpu_p.fits.iter().zip(&gpu_p.fits) {
        for k in 0..MAX_K {
            let d = (a.mean[k] - b.mean[k]).abs();
            let z = d / (a.mcse[k].powi(2) + b.mcse[k].powi(2)).sqrt().max(1e-12);
            max_d = max_d.max(d);
            max_z = max_z.max(z);
            sum_z2 += z * z;
            n += 1;
        }
    }
    Ok(json!({
        "adapter": selected.adapter,
        "judge": judge,
        "map": {
            "fits": design.fits.len(),
            "max_abs_dw": map_max,
            "required": 1e-4,
            "pass": map_max <= 1e-4,
            "cpu_s": cpu_s,
            "wgpu_s": gpu_s,
        },
        "posterior_mean": {
            "fits": whole.fits.len(),
            "settings": "4 chains, 300 warm-up, 600 draws, seed 0, whole groups",
            "max_abs_d": max_d,
            "max_abs_z": max_z,
            "rms_z": (sum_z2 / n.max(1) as f64).sqrt(),
            "required_max_abs_z": 4.0,
            "pass": max_z <= 4.0,
            "cpu_s": cpu_p_s,
            "wgpu_s": gpu_p_s,
        },
    }))
}
