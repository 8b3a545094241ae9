//! The wgpu path against the CPU, on a real wgpu adapter (lavapipe, Debian's CPU Vulkan driver,
//! where there is no GPU; `.ci/run` installs it). Every test skips, saying why, where no
//! adapter comes up.

mod common;

use burn::tensor::Device;
use common::gpu::{adapter, one_judge, wgpu_backend};
use prefdissect::base::device::wgpu_adapter;
use prefdissect::design::BatchDesign;
use prefdissect::load::Dataset;
use prefdissect::solve::backend::GradientBackend;
use prefdissect::solve::backend::cpu::CpuBackend;
use prefdissect::solve::backend::wgpu::resident::FusedWgpuBackend;
use prefdissect::solve::map::MapParams;
use prefdissect::solve::map::solve_map;
use prefdissect::solve::posterior::{HmcParams, solve_posterior};

/// The fused kernel one block at a time (no lock-step), to compare the lock-step driver with.
struct PerBlock(FusedWgpuBackend);

impl GradientBackend for PerBlock {
    fn name(&self) -> String {
        "per block".into()
    }
    fn block_gradient(
        &self,
        group: &prefdissect::design::GroupDesign,
        block: &prefdissect::design::Block,
        w: &[f32],
        grad: &mut [f64],
        loss: Option<&mut [f64]>,
    ) {
        self.0.block_gradient(group, block, w, grad, loss)
    }
    fn block_curvature(
        &self,
        group: &prefdissect::design::GroupDesign,
        block: &prefdissect::design::Block,
        w: &[f32],
        hess: &mut [f64],
    ) {
        self.0.block_curvature(group, block, w, hess)
    }
}

/// Max |Δ| of two runs' posterior means, and max |Δ| in units of their combined MCSE.
fn mean_agreement(
    a: &prefdissect::solve::posterior::PosteriorSolution,
    b: &prefdissect::solve::posterior::PosteriorSolution,
) -> (f64, f64) {
    let (mut worst_d, mut worst_z) = (0f64, 0f64);
    for (c, g) in a.fits.iter().zip(&b.fits) {
        for k in 0..prefdissect::base::features::MAX_K {
            let d = (c.mean[k] - g.mean[k]).abs();
            worst_d = worst_d.max(d);
            worst_z = worst_z.max(d / (c.mcse[k].powi(2) + g.mcse[k].powi(2)).sqrt().max(1e-12));
        }
    }
    (worst_d, worst_z)
}

fn max_diff(
    a: &[[f64; prefdissect::base::features::MAX_K]],
    b: &[[f64; prefdissect::base::features::MAX_K]],
) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f64::max)
}

#[test]
fn map_on_wgpu_matches_the_cpu() {
    let Some(a) = adapter() else { return };
    let (dir, data) = one_judge("wgpu-map");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let params = MapParams::new().check().unwrap();
    let weights = |s: prefdissect::solve::map::MapSolution| -> Vec<[f64; prefdissect::base::features::MAX_K]> {
        s.fits.iter().map(|f| f.weights).collect()
    };
    let cpu = weights(solve_map(&design, &CpuBackend, &params));
    let plain = weights(solve_map(&design, &wgpu_backend(a), &params));
    let fused = FusedWgpuBackend::new(a);
    let on_device = weights(solve_map(&design, &fused, &params));
    let dense = weights(solve_map(
        &design,
        &fused.clone().with_dense_rows(),
        &params,
    ));
    println!(
        "MAP, human, {} fits ({}): max |Δw| vs the cpu: plain ops {:.2e}, FISTA on the device {:.2e}",
        design.fits.len(),
        dir.display(),
        max_diff(&cpu, &plain),
        max_diff(&cpu, &on_device),
    );
    assert!(max_diff(&cpu, &plain) <= 1e-4);
    assert!(max_diff(&cpu, &on_device) <= 1e-4);
    // Packed rows feed the kernel the same exact ±1, 0 and whole-number terms as dense ones.
    assert_eq!(on_device, dense);
}

#[test]
fn newton_in_lock_step_matches_one_block_per_launch() {
    use prefdissect::solve::map::MapOptions;
    use prefdissect::solve::map::solve_map_with;
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-newton");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let params = MapParams::new().check().unwrap();
    // Warm starts a little off the solution: what a bootstrap replicate gets.
    let cpu: Vec<[f64; prefdissect::base::features::MAX_K]> =
        solve_map(&design, &CpuBackend, &params)
            .fits
            .iter()
            .map(|f| f.weights.map(|w| 0.9 * w))
            .collect();
    let init = |i: usize| cpu[i];
    let options = MapOptions {
        init: Some(&init),
        newton: true,
        skip_f64_check: false,
        checkpoint: None,
        data: None,
    };
    let fused = FusedWgpuBackend::new(a);
    let fits = |b: &dyn Fn() -> prefdissect::solve::map::MapSolution| -> Vec<[f64; prefdissect::base::features::MAX_K]> {
        b().fits.iter().map(|f| f.weights).collect()
    };
    let lockstep = fits(&|| solve_map_with(&design, &fused, &params, options));
    let per_block = fits(&|| solve_map_with(&design, &PerBlock(fused.clone()), &params, options));
    let on_cpu = fits(&|| solve_map_with(&design, &CpuBackend, &params, options));
    println!(
        "Newton from warm starts, {} fits: max |Δw| lock-step vs the cpu {:.2e}",
        design.fits.len(),
        max_diff(&lockstep, &on_cpu)
    );
    assert!(max_diff(&lockstep, &on_cpu) <= 1e-4);
    // A block's kernel arithmetic does not depend on which blocks share its launch.
    assert_eq!(lockstep, per_block);
}

#[test]
fn posterior_mean_on_wgpu_matches_the_cpu_within_mcse() {
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-hmc");
    let data = Dataset {
        groups: data.groups.into_iter().take(2).collect(),
        ..data
    };
    let design = BatchDesign::build(&data, 1, 0).unwrap();
    let params = HmcParams::new()
        .chains(4)
        .warmup(300)
        .draws(600)
        .seed(0)
        .check()
        .unwrap();
    let cpu = solve_posterior(&design, &data, &CpuBackend, &params, &|_| {}).unwrap();
    let gpu = solve_posterior(&design, &data, &FusedWgpuBackend::new(a), &params, &|_| {}).unwrap();
    let (worst_d, worst_z) = mean_agreement(&cpu, &gpu);
    println!(
        "posterior mean, {} fits: max |Δ| {worst_d:.4}, max |z| {worst_z:.2} (combined MCSE)",
        design.fits.len()
    );
    assert!(worst_z <= 4.0, "max |z| {worst_z}");
    // Warm-up and sampling ran on the device: the same numbers again from the same seed.
    let again =
        solve_posterior(&design, &data, &FusedWgpuBackend::new(a), &params, &|_| {}).unwrap();
    let means = |s: &prefdissect::solve::posterior::PosteriorSolution| -> Vec<[f64; prefdissect::base::features::MAX_K]> {
        s.fits.iter().map(|f| f.mean).collect()
    };
    assert_eq!(means(&gpu), means(&again));
    // The warm-up in lock-step on the host, the chains handed over at its end.
    let host = FusedWgpuBackend::new(a).with_host_warmup();
    let hosted = solve_posterior(&design, &data, &host, &params, &|_| {}).unwrap();
    let (_, worst_host) = mean_agreement(&cpu, &hosted);
    println!("the same with the warm-up on the host: max |z| {worst_host:.2}");
    assert!(worst_host <= 4.0, "max |z| {worst_host}");
}

/// Property sets wider than the paper's: 32 and 64 signs, packed rows, warm-up and sampling on
/// the device; the posterior means agree with the CPU's within their Monte-Carlo errors.
#[test]
fn wide_posteriors_on_wgpu_match_the_cpu_within_mcse() {
    let Some(a) = adapter() else { return };
    for k in [32, 64] {
        let data = common::gpu::wide_data(k, false);
        let design = BatchDesign::build(&data, 1, 0).unwrap();
        let params = HmcParams::new()
            .chains(4)
            .warmup(300)
            .draws(600)
            .seed(1)
            .check()
            .unwrap();
        let cpu = solve_posterior(&design, &data, &CpuBackend, &params, &|_| {}).unwrap();
        let fused = FusedWgpuBackend::new(a);
        let gpu = solve_posterior(&design, &data, &fused, &params, &|_| {}).unwrap();
        assert!(gpu.backend.contains("wgpu"), "{}", gpu.backend);
        let (worst_d, worst_z) = mean_agreement(&cpu, &gpu);
        println!(
            "{k} properties, {} fits: max |Δ| {worst_d:.4}, max |z| {worst_z:.2} (combined MCSE)",
            design.fits.len()
        );
        assert!(worst_z <= 4.0, "k = {k}: max |z| {worst_z}");
    }
}

#[test]
fn control_variates_and_early_stopping_on_the_device_match_the_cpu() {
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-hmc-cv");
    let data = Dataset {
        groups: data.groups.into_iter().skip(2).take(2).collect(),
        ..data
    };
    let design = BatchDesign::build(&data, 1, 0).unwrap();
    let params = HmcParams::new()
        .chains(4)
        .warmup(200)
        .draws(600)
        .control_variates(true)
        .mcse_target(Some(0.0009))
        .check_every(150)
        .seed(3)
        .check()
        .unwrap();
    let cpu = solve_posterior(&design, &data, &CpuBackend, &params, &|_| {}).unwrap();
    let gpu = solve_posterior(&design, &data, &FusedWgpuBackend::new(a), &params, &|_| {}).unwrap();
    let (_, worst_z) = mean_agreement(&cpu, &gpu);
    for (c, g) in cpu.fits.iter().zip(&gpu.fits) {
        assert!(
            g.draws.is_multiple_of(150),
            "stops only at a test: {}",
            g.draws
        );
        println!(
            "{} draws on the cpu, {} on the device; acceptance {:.3} / {:.3}",
            c.draws, g.draws, c.accept_rate, g.accept_rate
        );
        assert!((c.accept_rate - g.accept_rate).abs() < 0.05);
    }
    println!(
        "control variates, {} fits: max |z| {worst_z:.2}",
        design.fits.len()
    );
    assert!(worst_z <= 4.0, "max |z| {worst_z}");
}

#[test]
fn a_reranker_trained_on_one_backend_scores_the_same_on_the_other() {
    use prefdissect::manipulate::candidates::simulate_prompts;
    use prefdissect::manipulate::experiment::{pair_sets, simulated_judge_models};
    use prefdissect::rerank::io::TextTable;
    use prefdissect::rerank::model::Reranker;
    use prefdissect::rerank::params::RerankParams;
    use prefdissect::rerank::text_features::Featurizer;
    use prefdissect::rerank::train::{PairSet, train};
    let Some(a) = adapter() else { return };
    let prompts = simulate_prompts(20, 6, 0.2, 1);
    let judge = simulated_judge_models(1).remove(0);
    let mut table = TextTable::default();
    // The judge's "align" set only.
    let sets: Vec<PairSet> = vec![pair_sets(&prompts, &[judge], 0.15, &mut table).remove(0).0];
    let refs = table.as_refs();
    let f = Featurizer::fit(128, &refs);
    let m = f.matrix(&refs);
    let p = RerankParams::new().buckets(128).steps(20).check().unwrap();
    let dir = common::temp_dir("wgpu-rerank");
    for (train_on, score_on, label) in [
        (Device::flex(), a.device.clone(), "cpu → wgpu"),
        (a.device.clone(), Device::flex(), "wgpu → cpu"),
    ] {
        let trained = train(&f, &m, &sets, &p, &train_on, "test").unwrap();
        let path = dir.join(label.replace(' ', ""));
        trained.reranker.save(&path).unwrap();
        let here = trained.reranker.score_matrix(&m);
        let there = Reranker::load(&path, &score_on).unwrap().score_matrix(&m);
        let scale = here[0].iter().fold(1f32, |s, v| s.max(v.abs()));
        let worst = here[0]
            .iter()
            .zip(&there[0])
            .map(|(x, y)| (x - y).abs() / scale)
            .fold(0f32, f32::max);
        println!("{label}: max score difference {worst:.2e} of the largest score");
        assert!(worst < 1e-5, "{label}: {worst}");
        for (x, y) in here[0].chunks(6).zip(there[0].chunks(6)) {
            assert_eq!(
                prefdissect::rerank::select::pick(x, prefdissect::rerank::select::Pick::Best),
                prefdissect::rerank::select::pick(y, prefdissect::rerank::select::Pick::Best)
            );
        }
    }
}

#[test]
fn fit_records_the_backend_it_used() {
    let dir = common::temp_dir("wgpu-cli");
    prefdissect::simulate::write_simulated(&prefdissect::simulate::simulate(4), &dir, 4).unwrap();
    let out = dir.join("fit");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_prefdissect"))
        .args([
            "fit",
            "--data",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args([
            "--judges",
            "human",
            "--groups",
            "Advice",
            "--estimator",
            "map",
        ])
        .args(["--backend", "wgpu", "--quiet"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    println!("{log}\ndevice: {}", s["device"]);
    assert_eq!(s["device"]["requested"], "wgpu");
    match wgpu_adapter() {
        Ok(a) => {
            assert_eq!(s["device"]["kind"], "wgpu");
            assert_eq!(s["device"]["adapter"], a.name.as_str());
        }
        Err(_) => {
            // No adapter: the run still succeeds, on the CPU, and says so.
            assert_eq!(s["device"]["kind"], "cpu");
            assert!(log.contains("warning"), "{log}");
        }
    }
}

#[test]
fn auto_puts_the_engine_on_a_hardware_adapter_only_for_large_batches() {
    use prefdissect::base::device::{
        AUTO_MIN_ENGINE_BLOCKS, BackendChoice, BackendKind, Workload, select,
    };
    let small = select(BackendChoice::Auto, Workload::Engine { blocks: 10 });
    assert_eq!(small.kind, BackendKind::Cpu);
    let note = small.note.unwrap_or_default();
    println!("10 blocks: {note}");
    assert!(note.contains("cannot fill"), "{note}");
    let large = select(
        BackendChoice::Auto,
        Workload::Engine {
            blocks: AUTO_MIN_ENGINE_BLOCKS,
        },
    );
    println!(
        "{AUTO_MIN_ENGINE_BLOCKS} blocks: {:?} ({:?})",
        large.kind, large.note
    );
    match wgpu_adapter() {
        Ok(a) if !a.software => assert_eq!(large.kind, BackendKind::Wgpu),
        Ok(_) => {
            assert_eq!(large.kind, BackendKind::Cpu);
            assert!(large.note.unwrap_or_default().contains("software"));
        }
        Err(_) => assert_eq!(large.kind, BackendKind::Cpu),
    }
}
