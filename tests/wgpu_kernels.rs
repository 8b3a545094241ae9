//! The engine's wgpu kernels against their references (plain burn ops, the CPU kernels, the
//! dense kernel for the packed one), on a real wgpu adapter (lavapipe where there is no GPU).
//! Every test skips, saying why, where no adapter comes up.

mod common;

use common::gpu::{adapter, one_judge, random_weights, wgpu_backend, wide_data};
use prefdissect::design::{BatchDesign, KPAD};
use prefdissect::solve::backend::GradientBackend;
use prefdissect::solve::backend::cpu::CpuBackend;
use prefdissect::solve::backend::wgpu::resident::FusedWgpuBackend;
use prefdissect::solve::map::MapParams;
use prefdissect::solve::map::solve_map;

/// A device field (32 × 16) as the host's (`KPAD` × 16): the same values, zero past them.
fn host_field(device: &[f32]) -> Vec<f32> {
    let mut w = device.to_vec();
    w.resize(KPAD * 16, 0.0);
    w
}

/// A launch's output without the padding the kernels leave unwritten: slots 0..=nf of each
/// field (the nf gradients and the loss).
fn written(out: &[f32], width: prefdissect::solve::backend::wgpu::DevWidth) -> Vec<f32> {
    out.chunks(width.field())
        .flat_map(|f| f[..(width.nf + 1) * 16].to_vec())
        .collect()
}

#[test]
fn packed_rows_give_the_dense_kernels_gradients() {
    use prefdissect::solve::backend::wgpu::resident::ResidentBlocks;
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-packed");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let fused = FusedWgpuBackend::new(a);
    let packed = ResidentBlocks::new(&fused, &design);
    let dense = ResidentBlocks::new(&fused.clone().with_dense_rows(), &design);
    assert!(packed.packed() && !dense.packed());
    let w = random_weights(&mut common::Lcg(13), design.blocks.len());
    let paper = prefdissect::solve::backend::wgpu::DevWidth::PAPER;
    let (gp, gd) = (
        written(&packed.gradients(&w), paper),
        written(&dense.gradients(&w), paper),
    );
    let worst = gp
        .iter()
        .zip(&gd)
        .map(|(p, d)| (p - d).abs())
        .fold(0f32, f32::max);
    println!(
        "{} blocks: packed vs dense rows, max |Δ| {worst:e}",
        design.blocks.len()
    );
    assert_eq!(gp, gd);
}

#[test]
fn fused_wgpu_kernel_matches_plain_ops_and_the_cpu_kernel() {
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-kernel");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let fused = FusedWgpuBackend::new(a);
    let plain = wgpu_backend(a);
    let mut lcg = common::Lcg(5);
    let (mut worst_plain, mut worst_cpu) = (0f64, 0f64);
    for block in design.blocks.iter().take(6) {
        let group = &design.groups[block.group];
        // A host field (the engine's KPAD slots), whose first 32 × 16 are the device's.
        let w = host_field(&random_weights(&mut lcg, 1));
        let run = |b: &dyn Fn(&mut [f64], &mut [f64])| {
            let (mut g, mut l) = (vec![0f64; KPAD * 16], vec![0f64; 16]);
            b(&mut g, &mut l);
            (g, l)
        };
        let (gf, lf) = run(&|g, l| fused.block_gradient(group, block, &w, g, Some(l)));
        let (gp, lp) = run(&|g, l| plain.block_gradient(group, block, &w, g, Some(l)));
        let (gc, lc) = run(&|g, l| CpuBackend.block_gradient(group, block, &w, g, Some(l)));
        // f32 round-off scales with the rows summed: Σ c per lane.
        let scale: f64 = (0..block.entries())
            .map(|i| block.c[i * 16] as f64)
            .sum::<f64>()
            .max(1.0);
        for (f, (p, c)) in gf
            .iter()
            .chain(&lf)
            .zip(gp.iter().chain(&lp).zip(gc.iter().chain(&lc)))
        {
            worst_plain = worst_plain.max((f - p).abs() / scale);
            worst_cpu = worst_cpu.max((f - c).abs() / scale);
        }
    }
    println!(
        "fused wgpu kernel: max |Δ|/Σc vs plain ops {worst_plain:.2e}, vs cpu kernel {worst_cpu:.2e}"
    );
    assert!(worst_plain < 1e-5 && worst_cpu < 1e-5);
}

#[test]
fn resident_blocks_give_every_block_its_gradient_in_one_launch() {
    use prefdissect::solve::backend::wgpu::resident::ResidentBlocks;
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-resident");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let resident = ResidentBlocks::new(&FusedWgpuBackend::new(a), &design);
    let w = random_weights(&mut common::Lcg(9), design.blocks.len());
    let all = resident.gradients(&w);
    let mut worst = 0f64;
    for (b, block) in design.blocks.iter().enumerate() {
        let (mut g, mut l) = (vec![0f64; KPAD * 16], vec![0f64; 16]);
        let wb = host_field(&w[b * 512..(b + 1) * 512]);
        CpuBackend.block_gradient(
            &design.groups[block.group],
            block,
            &wb,
            &mut g,
            Some(&mut l),
        );
        let scale = (block.entries() as f64).max(1.0);
        for k in 0..29 {
            for lane in 0..16 {
                worst = worst
                    .max((all[b * 512 + k * 16 + lane] as f64 - g[k * 16 + lane]).abs() / scale);
            }
        }
        for lane in 0..16 {
            worst = worst.max((all[b * 512 + 29 * 16 + lane] as f64 - l[lane]).abs() / scale);
        }
    }
    println!(
        "{} blocks in one launch: max |Δ|/rows vs the cpu kernel {worst:.2e}",
        design.blocks.len()
    );
    assert!(worst < 1e-5, "{worst:e}");
}

#[test]
fn batches_cut_to_the_adapters_limits_give_the_same_gradients() {
    use prefdissect::solve::backend::wgpu::resident::ResidentBlocks;
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-chunks");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let whole = FusedWgpuBackend::new(a);
    let biggest = design
        .blocks
        .iter()
        .map(|b| (b.entries() * 32 * 4) as u64)
        .max()
        .unwrap();
    // Room for about two blocks per buffer, and at most 3 workgroups per launch.
    let cut = whole.clone().with_limits(2 * biggest, 3);
    let w = random_weights(&mut common::Lcg(11), design.blocks.len());
    let one = ResidentBlocks::new(&whole, &design);
    let many = ResidentBlocks::new(&cut, &design);
    println!(
        "{} blocks: {} launch(es) whole, {} cut",
        design.blocks.len(),
        one.launches(),
        many.launches()
    );
    assert!(many.launches() > one.launches());
    assert_eq!(one.gradients(&w), many.gradients(&w));
    let params = MapParams::new().check().unwrap();
    let fits = |b: &FusedWgpuBackend| -> Vec<[f64; prefdissect::base::features::MAX_K]> {
        solve_map(&design, b, &params)
            .fits
            .iter()
            .map(|f| f.weights)
            .collect()
    };
    assert_eq!(fits(&whole), fits(&cut));
}

/// The largest difference of two sets of a block's lane Hessians in units of Σc/4: f32
/// round-off scales with the rows summed, and Σ c / 4 bounds every entry.
fn curvature_gap(gpu: &[f64], cpu: &[f64], block: &prefdissect::design::Block) -> f64 {
    let scale = (0..block.entries())
        .map(|i| block.c[i * 16] as f64)
        .sum::<f64>()
        .max(1.0)
        / 4.0;
    gpu.iter()
        .zip(cpu)
        .map(|(g, c)| (g - c).abs() / scale)
        .fold(0f64, f64::max)
}

#[test]
fn curvature_kernel_matches_the_cpu_kernel() {
    use prefdissect::solve::backend::wgpu::curvature::to_lane_matrices;
    let block_hess = prefdissect::solve::backend::wgpu::DevWidth::PAPER.hess_len();
    use prefdissect::solve::backend::wgpu::resident::ResidentBlocks;
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-curvature");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let fused = FusedWgpuBackend::new(a);
    let resident = ResidentBlocks::new(&fused, &design);
    let w = random_weights(&mut common::Lcg(17), design.blocks.len());
    // Every other block: the rest must come back as zeros.
    let wanted: Vec<bool> = (0..design.blocks.len()).map(|b| b % 2 == 0).collect();
    let all = resident.curvatures(&w, &wanted).expect("packed rows");
    // Dense rows: no kernel (the CPU's serves them).
    let dense = ResidentBlocks::new(&fused.clone().with_dense_rows(), &design);
    assert!(dense.curvatures(&w, &wanted).is_none());
    let mut worst = 0f64;
    for (b, block) in design.blocks.iter().enumerate() {
        let out = &all[b * block_hess..(b + 1) * block_hess];
        if !wanted[b] {
            assert!(out.iter().all(|&v| v == 0.0));
            continue;
        }
        let group = &design.groups[block.group];
        let wb = &host_field(&w[b * 512..(b + 1) * 512]);
        let (mut gpu, mut cpu, mut one) = (
            vec![0f64; 16 * 841],
            vec![0f64; 16 * 841],
            vec![0f64; 16 * 841],
        );
        to_lane_matrices(
            out,
            &mut gpu,
            prefdissect::solve::backend::wgpu::DevWidth::PAPER,
        );
        CpuBackend.block_curvature(group, block, wb, &mut cpu);
        fused.block_curvature(group, block, wb, &mut one);
        assert_eq!(gpu, one, "one block alone gives the same Hessians");
        worst = worst.max(curvature_gap(&gpu, &cpu, block));
    }
    println!(
        "curvature kernel, {} blocks: max |Δ| vs the cpu kernel {worst:.2e} of Σc/4",
        design.blocks.len()
    );
    assert!(worst < 1e-5, "{worst:e}");
}

#[test]
fn loss_only_launches_give_the_full_launches_losses() {
    use prefdissect::solve::backend::wgpu::resident::ResidentBlocks;
    let Some(a) = adapter() else { return };
    let (_, data) = one_judge("wgpu-losses");
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let w = random_weights(&mut common::Lcg(19), design.blocks.len());
    let fused = FusedWgpuBackend::new(a);
    for backend in [fused.clone(), fused.with_dense_rows()] {
        let resident = ResidentBlocks::new(&backend, &design);
        let full = resident.gradients(&w);
        let losses = resident.losses(&w);
        let from_full: Vec<f32> = full
            .chunks(512)
            .flat_map(|b| b[29 * 16..30 * 16].to_vec())
            .collect();
        println!(
            "{} rows: {} losses from loss-only launches",
            if resident.packed() { "packed" } else { "dense" },
            losses.len()
        );
        // The same terms in the same order: only the gradient's sums are left out.
        assert_eq!(losses, from_full);
    }
}

/// The gradient kernels at widths past the paper's 29 (33 features: the sign masks' second
/// word holds one; 64: every slot), packed and dense rows, against the CPU kernel block by
/// block: gradients and losses within f32 round-off, the packed rows' equal to the dense ones';
/// and the curvature kernel on the packed rows against the CPU's.
#[test]
fn wide_designs_give_the_cpu_kernels_gradients() {
    use prefdissect::solve::backend::wgpu::DevWidth;
    use prefdissect::solve::backend::wgpu::resident::ResidentBlocks;
    let Some(a) = adapter() else { return };
    let fused = FusedWgpuBackend::new(a);
    for (k, real_valued) in [(33, false), (64, false), (64, true)] {
        let data = wide_data(k, real_valued);
        let design = BatchDesign::build(&data, 10, 0).unwrap();
        assert_eq!(design.nf(), k);
        let width = DevWidth::of(k);
        let resident = ResidentBlocks::new(&fused, &design);
        assert_eq!(resident.packed(), !real_valued);
        let mut lcg = common::Lcg(k as u64);
        // Host fields (KPAD × 16) of uniform(−0.25, 0.25) weights in the k features.
        let host: Vec<Vec<f32>> = (0..design.blocks.len())
            .map(|_| {
                (0..KPAD * 16)
                    .map(|i| {
                        if i / 16 < k {
                            ((lcg.next() - 0.5) * 0.5) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let w: Vec<f32> = host.iter().flat_map(|h| width.field_of(h)).collect();
        let all = resident.gradients(&w);
        if !real_valued {
            let dense = ResidentBlocks::new(&fused.clone().with_dense_rows(), &design);
            assert_eq!(
                written(&all, width),
                written(&dense.gradients(&w), width),
                "k = {k}: packed vs dense rows"
            );
        }
        let field = width.field();
        let mut worst = 0f64;
        for (b, block) in design.blocks.iter().enumerate() {
            let (mut g, mut l) = (vec![0f64; KPAD * 16], vec![0f64; 16]);
            let group = &design.groups[block.group];
            CpuBackend.block_gradient(group, block, &host[b], &mut g, Some(&mut l));
            let scale = (block.entries() as f64).max(1.0);
            let out = &all[b * field..(b + 1) * field];
            for i in 0..k * 16 {
                worst = worst.max((out[i] as f64 - g[i]).abs() / scale);
            }
            for lane in 0..16 {
                worst = worst.max((out[k * 16 + lane] as f64 - l[lane]).abs() / scale);
            }
            // The one-block path (the backend's own gradient) reads the host field as is.
            let (mut g1, mut l1) = (vec![0f64; KPAD * 16], vec![0f64; 16]);
            fused.block_gradient(group, block, &host[b], &mut g1, Some(&mut l1));
            for i in 0..k * 16 {
                assert_eq!(g1[i], out[i] as f64, "k = {k}, block {b}");
            }
            assert!(g1[k * 16..].iter().all(|&v| v == 0.0));
        }
        println!(
            "k = {k} ({}): {} blocks, max |Δ|/rows vs the cpu kernel {worst:.2e}",
            if real_valued { "dense" } else { "packed" },
            design.blocks.len()
        );
        assert!(worst < 1e-5, "k = {k}: {worst:e}");
        // The curvature kernel (packed rows) against the CPU's, in units of Σc/4.
        if !real_valued {
            use prefdissect::solve::backend::wgpu::curvature::to_lane_matrices;
            let hess = resident
                .curvatures(&w, &vec![true; design.blocks.len()])
                .expect("packed rows");
            let mut worst = 0f64;
            for (b, block) in design.blocks.iter().enumerate() {
                let (mut gpu, mut cpu) = (vec![0f64; 16 * k * k], vec![0f64; 16 * k * k]);
                let out = &hess[b * width.hess_len()..(b + 1) * width.hess_len()];
                to_lane_matrices(out, &mut gpu, width);
                let group = &design.groups[block.group];
                CpuBackend.block_curvature(group, block, &host[b], &mut cpu);
                worst = worst.max(curvature_gap(&gpu, &cpu, block));
            }
            println!("k = {k}: curvature kernel vs the cpu kernel {worst:.2e} of Σc/4");
            assert!(worst < 1e-5, "k = {k} curvature: {worst:e}");
        }
    }
}
