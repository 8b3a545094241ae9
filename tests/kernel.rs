#![allow(clippy::needless_range_loop)]
//! The fused CPU kernel against its plain-ops reference (burn) and an f64 gradient.

mod common;

use common::Lcg;
use prefdissect::design::{KPAD, LANES, ROW_TILE};
use prefdissect::solve::backend::cpu::kernel::{
    exp_approx, logistic_gradient_block, logistic_gradient_block_portable,
};
use prefdissect::solve::backend::reference::reference_gradient;

/// The slot counts every kernel test runs at: the paper's 29 and the engine's widest, 64.
const WIDTHS: [usize; 2] = [29, 64];

/// A random block: signs X, 0/1/2 row weights, labels, weights of realistic size.
fn random_block(n: usize, nf: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Lcg(seed);
    let mut x = vec![0f32; n * KPAD];
    for r in 0..n {
        for k in 0..nf {
            x[r * KPAD + k] = (rng.next() * 3.0).floor() as f32 - 1.0;
        }
    }
    let mut c = vec![0f32; n * LANES];
    let mut cy = vec![0f32; n * LANES];
    for i in 0..n * LANES {
        c[i] = (rng.next() * 3.0).floor() as f32;
        cy[i] = if rng.next() < 0.5 { c[i] } else { 0.0 };
    }
    let w: Vec<f32> = (0..KPAD * LANES)
        .map(|i| {
            if i / LANES < nf {
                (rng.next() as f32 - 0.5) * 1.5
            } else {
                0.0
            }
        })
        .collect();
    (x, c, cy, w)
}

fn f64_gradient(
    x: &[f32],
    nf: usize,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    // Returns the gradient and, per entry, Σ|terms| (the scale of f32 rounding).
    let mut g = vec![0f64; KPAD * LANES];
    let mut scale = vec![0f64; KPAD * LANES];
    for r in 0..n {
        for l in 0..LANES {
            let z: f64 = (0..nf)
                .map(|k| x[r * KPAD + k] as f64 * w[k * LANES + l] as f64)
                .sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let res = c[r * LANES + l] as f64 * p - cy[r * LANES + l] as f64;
            for k in 0..nf {
                g[k * LANES + l] += res * x[r * KPAD + k] as f64;
                scale[k * LANES + l] += (res * x[r * KPAD + k] as f64).abs();
            }
        }
    }
    (g, scale)
}

#[test]
fn fused_kernel_matches_f64_gradient() {
    for nf in WIDTHS {
        fused_kernel_matches_f64_gradient_at(nf);
    }
}

fn fused_kernel_matches_f64_gradient_at(nf: usize) {
    for (n, seed) in [(ROW_TILE, 1), (640, 2), (1424, 3)] {
        let (x, c, cy, w) = random_block(n, nf, seed);
        let mut g = vec![0f64; KPAD * LANES];
        logistic_gradient_block(&x, nf, None, &c, &cy, &w, &mut g, None);
        let (exact, scale) = f64_gradient(&x, nf, &c, &cy, &w, n);
        for i in 0..KPAD * LANES {
            let err = (g[i] - exact[i]).abs();
            // f32 logits/residuals: a few ulps of each term at most.
            assert!(
                err <= 1e-6 * scale[i] + 1e-9,
                "n={n} entry {i}: {} vs {}",
                g[i],
                exact[i]
            );
        }
        // Padding features must come out exactly zero.
        assert!(g[nf * LANES..].iter().all(|&v| v == 0.0));
    }
}

#[test]
fn fused_kernel_matches_burn_plain_ops() {
    for nf in WIDTHS {
        fused_kernel_matches_burn_plain_ops_at(nf);
    }
}

fn fused_kernel_matches_burn_plain_ops_at(nf: usize) {
    let n = 320;
    let (x, c, cy, w) = random_block(n, nf, 7);
    let mut g = vec![0f64; KPAD * LANES];
    logistic_gradient_block(&x, nf, None, &c, &cy, &w, &mut g, None);
    // Same problem laid out for the reference: X n×29, W m×29, C and CY m×n.
    let xr: Vec<f32> = (0..n)
        .flat_map(|r| x[r * KPAD..r * KPAD + nf].to_vec())
        .collect();
    let wr: Vec<f32> = (0..LANES)
        .flat_map(|l| (0..nf).map(move |k| (l, k)))
        .map(|(l, k)| w[k * LANES + l])
        .collect();
    let tr = |a: &[f32]| -> Vec<f32> {
        (0..LANES)
            .flat_map(|l| (0..n).map(move |r| (l, r)))
            .map(|(l, r)| a[r * LANES + l])
            .collect()
    };
    let reference = reference_gradient(&xr, &wr, &tr(&c), &tr(&cy), n);
    let (_, scale) = f64_gradient(&x, nf, &c, &cy, &w, n);
    for l in 0..LANES {
        for k in 0..nf {
            let ours = g[k * LANES + l];
            let theirs = reference[l * nf + k] as f64;
            let tol = 2e-6 * scale[k * LANES + l] + 1e-6;
            assert!(
                (ours - theirs).abs() <= tol,
                "lane {l} feature {k}: {ours} vs {theirs}"
            );
        }
    }
}

#[test]
fn exp_approximation_is_within_a_few_ulps() {
    let mut worst = 0f64;
    let mut v = -87.0f64;
    while v <= 87.0 {
        let x = v as f32;
        let got = exp_approx::<true>(x) as f64;
        let plain = exp_approx::<false>(x) as f64;
        let exact = (x as f64).exp();
        worst = worst
            .max(((got - exact) / exact).abs())
            .max(((plain - exact) / exact).abs());
        v += 0.001_7;
    }
    assert!(worst < 3e-7, "relative error {worst:e}");
}

#[test]
fn portable_path_matches_f64_gradient_too() {
    for nf in WIDTHS {
        portable_path_matches_f64_gradient_too_at(nf);
    }
}

fn portable_path_matches_f64_gradient_too_at(nf: usize) {
    let n = 480;
    let (x, c, cy, w) = random_block(n, nf, 9);
    let mut g = vec![0f64; KPAD * LANES];
    logistic_gradient_block_portable(&x, nf, None, &c, &cy, &w, &mut g, None);
    let (exact, scale) = f64_gradient(&x, nf, &c, &cy, &w, n);
    for i in 0..KPAD * LANES {
        assert!(
            (g[i] - exact[i]).abs() <= 1e-6 * scale[i] + 1e-9,
            "entry {i}"
        );
    }
}

/// Lane `l`'s Σ_r c·softplus(z) − cy·z in f64, and Σ|terms| (the scale of f32 rounding).
fn f64_loss(
    x: &[f32],
    nf: usize,
    c: &[f32],
    cy: &[f32],
    w: &[f32],
    n: usize,
    l: usize,
) -> (f64, f64) {
    let (mut exact, mut scale) = (0f64, 0f64);
    for r in 0..n {
        let z: f64 = (0..nf)
            .map(|k| x[r * KPAD + k] as f64 * w[k * LANES + l] as f64)
            .sum();
        let softplus = z.max(0.0) + (-z.abs()).exp().ln_1p();
        let term = c[r * LANES + l] as f64 * softplus - cy[r * LANES + l] as f64 * z;
        exact += term;
        scale += term.abs();
    }
    (exact, scale)
}

#[test]
fn loss_output_matches_f64_and_does_not_change_the_gradient() {
    for nf in WIDTHS {
        loss_output_matches_f64_and_does_not_change_the_gradient_at(nf);
    }
}

fn loss_output_matches_f64_and_does_not_change_the_gradient_at(nf: usize) {
    let n = 640;
    let (x, c, cy, w) = random_block(n, nf, 11);
    let (mut g0, mut g1, mut g2) = (
        vec![0f64; KPAD * LANES],
        vec![0f64; KPAD * LANES],
        vec![0f64; KPAD * LANES],
    );
    let (mut loss, mut loss_portable) = (vec![0f64; LANES], vec![0f64; LANES]);
    logistic_gradient_block(&x, nf, None, &c, &cy, &w, &mut g0, None);
    logistic_gradient_block(&x, nf, None, &c, &cy, &w, &mut g1, Some(&mut loss));
    logistic_gradient_block_portable(&x, nf, None, &c, &cy, &w, &mut g2, Some(&mut loss_portable));
    assert_eq!(g0, g1);
    for l in 0..LANES {
        let (exact, scale) = f64_loss(&x, nf, &c, &cy, &w, n, l);
        for got in [loss[l], loss_portable[l]] {
            assert!(
                (got - exact).abs() <= 1e-6 * scale,
                "lane {l}: {got} vs {exact}"
            );
        }
    }
}

#[test]
fn log_approximation_is_within_a_few_ulps() {
    use prefdissect::solve::backend::cpu::kernel::log_approx;
    let mut worst = 0f64;
    let mut v = 1e-30f64;
    while v < 1e30 {
        let x = v as f32;
        let exact = (x as f64).ln();
        for got in [log_approx::<true>(x) as f64, log_approx::<false>(x) as f64] {
            let err = (got - exact).abs() / exact.abs().max(1.0);
            worst = worst.max(err);
        }
        v *= 1.000_37;
    }
    assert!(worst < 3e-7, "error {worst:e}");
}

/// The curvature kernel (sparse sign pairs, f32) against the plain f64 reference of
/// `GradientBackend::block_curvature`, on both code paths; also rows no lane uses.
#[test]
fn curvature_kernel_matches_f64_reference() {
    for nf in WIDTHS {
        curvature_kernel_matches_f64_reference_at(nf);
    }
}

fn curvature_kernel_matches_f64_reference_at(nf: usize) {
    use prefdissect::design::{Block, GroupDesign};
    use prefdissect::solve::backend::cpu::curvature::{curvature_block, curvature_block_portable};
    use prefdissect::solve::backend::reference_curvature;
    let n = 96;
    let (x, mut c, cy, w) = random_block(n, nf, 7);
    // A few rows that no lane draws, as in a bootstrap block.
    for r in [3, 40, 41, 77] {
        c[r * LANES..(r + 1) * LANES].fill(0.0);
    }
    let group = GroupDesign {
        name: "g".into(),
        nf,
        samples: (0..n).collect(),
        x: x.clone(),
        n_padded: n,
        held_out: vec![vec![false; n]],
        signs: None,
    };
    let block = Block {
        group: 0,
        fits: (0..LANES).collect(),
        chains: vec![0; LANES],
        rows: None,
        c: c.clone(),
        cy,
        signs: None,
    };
    let mut want = vec![0f64; LANES * nf * nf];
    reference_curvature(&group, &block, &w, &mut want);
    // Scale of each entry: Σ_r c·σ(1−σ)·|x_i x_j| ≤ Σ_r c/4.
    let scale: Vec<f64> = (0..LANES)
        .map(|l| (0..n).map(|r| c[r * LANES + l] as f64 / 4.0).sum())
        .collect();
    for (name, f) in [
        (
            "simd",
            curvature_block as fn(&[f32], usize, Option<&[u32]>, &[f32], &[f32], &mut [f64]),
        ),
        ("portable", curvature_block_portable),
    ] {
        let mut got = vec![f64::NAN; LANES * nf * nf];
        f(&x, nf, None, &c, &w, &mut got);
        let mut worst = 0f64;
        for l in 0..LANES {
            for e in 0..nf * nf {
                let i = l * nf * nf + e;
                worst = worst.max((got[i] - want[i]).abs() / scale[l]);
            }
        }
        eprintln!("curvature {name}: worst |Δ| / Σc/4 = {worst:.2e}");
        assert!(worst <= 2e-6, "{name}: {worst:e}");
    }
}

/// A row list (a bootstrap block's compacted entries) gives what the same rows copied out of X
/// give, for the gradient, the loss and the curvature.
#[test]
fn row_lists_read_the_rows_they_name() {
    for nf in WIDTHS {
        row_lists_read_the_rows_they_name_at(nf);
    }
}

fn row_lists_read_the_rows_they_name_at(nf: usize) {
    use prefdissect::solve::backend::cpu::curvature::curvature_block;
    let n_x = 80;
    let (x, _, _, w) = random_block(n_x, nf, 11);
    let rows: Vec<u32> = (0..48).map(|i| ((i * 37 + 5) % n_x) as u32).collect();
    let (_, c, cy, _) = random_block(rows.len(), nf, 12);
    let mut gathered = vec![0f32; rows.len() * KPAD];
    for (i, &r) in rows.iter().enumerate() {
        gathered[i * KPAD..(i + 1) * KPAD].copy_from_slice(&x[r as usize * KPAD..][..KPAD]);
    }
    let (mut g0, mut g1) = (vec![0f64; KPAD * LANES], vec![0f64; KPAD * LANES]);
    let (mut l0, mut l1) = (vec![0f64; LANES], vec![0f64; LANES]);
    logistic_gradient_block(&gathered, nf, None, &c, &cy, &w, &mut g0, Some(&mut l0));
    logistic_gradient_block(&x, nf, Some(&rows), &c, &cy, &w, &mut g1, Some(&mut l1));
    assert_eq!(g0, g1);
    assert_eq!(l0, l1);
    let (mut h0, mut h1) = (vec![0f64; LANES * nf * nf], vec![0f64; LANES * nf * nf]);
    curvature_block(&gathered, nf, None, &c, &w, &mut h0);
    curvature_block(&x, nf, Some(&rows), &c, &w, &mut h1);
    assert_eq!(h0, h1);
}

/// The sign-sparse kernel (X as ±1 lists) against the f64 gradient and loss, on both code
/// paths, for chunk-aligned and ragged row counts; and against the dense kernel.
#[test]
fn sign_kernel_matches_f64_and_the_dense_kernel() {
    for nf in WIDTHS {
        sign_kernel_matches_f64_and_the_dense_kernel_at(nf);
    }
}

fn sign_kernel_matches_f64_and_the_dense_kernel_at(nf: usize) {
    use prefdissect::design::SignIndex;
    use prefdissect::solve::backend::cpu::signs_kernel::{
        logistic_gradient_signs, logistic_gradient_signs_portable,
    };
    for (n, seed) in [(ROW_TILE, 21), (640, 22), (1424, 23), (80, 24)] {
        let (x, c, cy, w) = random_block(n, nf, seed);
        let index = SignIndex::from_dense(&x, nf).expect("X is all signs");
        let (exact, scale) = f64_gradient(&x, nf, &c, &cy, &w, n);
        let mut dense = vec![0f64; KPAD * LANES];
        logistic_gradient_block(&x, nf, None, &c, &cy, &w, &mut dense, None);
        let (mut dense_loss, mut loss, mut loss_portable) =
            (vec![0f64; LANES], vec![0f64; LANES], vec![0f64; LANES]);
        logistic_gradient_block(&x, nf, None, &c, &cy, &w, &mut dense, Some(&mut dense_loss));
        let (mut g, mut g_portable, mut g_no_loss) = (
            vec![0f64; KPAD * LANES],
            vec![0f64; KPAD * LANES],
            vec![0f64; KPAD * LANES],
        );
        logistic_gradient_signs(&index, &c, &cy, &w, &mut g, Some(&mut loss));
        logistic_gradient_signs(&index, &c, &cy, &w, &mut g_no_loss, None);
        logistic_gradient_signs_portable(
            &index,
            &c,
            &cy,
            &w,
            &mut g_portable,
            Some(&mut loss_portable),
        );
        assert_eq!(
            g, g_no_loss,
            "asking for the loss must not change the gradient"
        );
        for i in 0..KPAD * LANES {
            for (name, got) in [
                ("avx2", g[i]),
                ("portable", g_portable[i]),
                ("dense", dense[i]),
            ] {
                assert!(
                    (got - exact[i]).abs() <= 1e-6 * scale[i] + 1e-9,
                    "{name} n={n} entry {i}: {got} vs {}",
                    exact[i]
                );
            }
        }
        assert!(g[nf * LANES..].iter().all(|&v| v == 0.0));
        for l in 0..LANES {
            let tol = 1e-6 * dense_loss[l].abs().max(1.0);
            assert!(
                (loss[l] - dense_loss[l]).abs() <= tol,
                "lane {l}: {} vs {}",
                loss[l],
                dense_loss[l]
            );
            assert!(
                (loss_portable[l] - dense_loss[l]).abs() <= tol,
                "lane {l} portable"
            );
        }
    }
    // Junk in w's padding rows must not reach the gradient (list padding reads row 29).
    let (x, c, cy, mut w) = random_block(80, nf, 26);
    let index = SignIndex::from_dense(&x, nf).unwrap();
    let (mut clean, mut junk) = (vec![0f64; KPAD * LANES], vec![0f64; KPAD * LANES]);
    logistic_gradient_signs(&index, &c, &cy, &w, &mut clean, None);
    w[nf * LANES..].fill(7.0);
    logistic_gradient_signs(&index, &c, &cy, &w, &mut junk, None);
    assert_eq!(clean, junk);
    // A design that is not all signs has no index (the backend then uses the dense kernel).
    let (mut x, ..) = random_block(32, nf, 25);
    x[5] = 0.5;
    assert!(SignIndex::from_dense(&x, nf).is_none());
}

/// The forward-only sign kernel (the accept test of surrogate-trajectory HMC) against an f64
/// loss, on both code paths: with 0/1 row weights (the logs taken 16 rows at a time as the log
/// of a product, including a short last batch) and with counts 0–2 (one log per row); and it
/// equals the loss of the gradient pass exactly.
#[test]
fn loss_only_sign_kernel_matches_f64_loss() {
    for nf in WIDTHS {
        loss_only_sign_kernel_matches_f64_loss_at(nf);
    }
}

fn loss_only_sign_kernel_matches_f64_loss_at(nf: usize) {
    use prefdissect::design::SignIndex;
    use prefdissect::solve::backend::cpu::signs_kernel::{
        logistic_gradient_signs, logistic_loss_signs, logistic_loss_signs_portable,
    };
    for (n, seed, binary) in [
        (640, 31, true),
        (1424, 32, true),
        (83, 33, true),
        (640, 34, false),
    ] {
        let (x, mut c, mut cy, w) = random_block(n, nf, seed);
        if binary {
            for i in 0..c.len() {
                c[i] = c[i].min(1.0);
                cy[i] = cy[i].min(c[i]);
            }
        }
        let index = SignIndex::from_dense(&x, nf).expect("X is all signs");
        let (mut loss, mut portable, mut with_grad) =
            (vec![0f64; LANES], vec![0f64; LANES], vec![0f64; LANES]);
        logistic_loss_signs(&index, &c, &cy, &w, &mut loss);
        logistic_loss_signs_portable(&index, &c, &cy, &w, &mut portable);
        let mut g = vec![0f64; KPAD * LANES];
        logistic_gradient_signs(&index, &c, &cy, &w, &mut g, Some(&mut with_grad));
        assert_eq!(
            loss, with_grad,
            "n={n}: the loss must not depend on the gradient"
        );
        for l in 0..LANES {
            let (exact, scale) = f64_loss(&x, nf, &c, &cy, &w, n, l);
            for (name, got) in [("avx2", loss[l]), ("portable", portable[l])] {
                assert!(
                    (got - exact).abs() <= 1e-6 * scale + 1e-9,
                    "{name} n={n} binary={binary} lane {l}: {got} vs {exact}"
                );
            }
        }
    }
}

/// The sign kernel's AVX2 and AVX-512 paths (as far as this CPU has them; the portable path
/// below them) give the same bits: gradient, gradient with loss, and loss alone, on 0/1 and
/// count row weights and ragged row counts. The level a run uses thus never changes its
/// outputs.
#[test]
fn sign_kernel_simd_paths_give_the_same_bits() {
    for nf in WIDTHS {
        sign_kernel_simd_paths_give_the_same_bits_at(nf);
    }
}

fn sign_kernel_simd_paths_give_the_same_bits_at(nf: usize) {
    use prefdissect::base::simd::Level;
    use prefdissect::design::SignIndex;
    use prefdissect::solve::backend::cpu::signs_kernel::{
        logistic_gradient_signs_at, logistic_loss_signs_at,
    };
    for (n, seed, binary) in [(640, 41, true), (83, 42, true), (1424, 43, false)] {
        let (x, mut c, mut cy, w) = random_block(n, nf, seed);
        if binary {
            for i in 0..c.len() {
                c[i] = c[i].min(1.0);
                cy[i] = cy[i].min(c[i]);
            }
        }
        let index = SignIndex::from_dense(&x, nf).expect("X is all signs");
        let run = |level: Level| {
            let (mut g, mut g_loss, mut loss, mut loss_only) = (
                vec![0f64; KPAD * LANES],
                vec![0f64; KPAD * LANES],
                vec![0f64; LANES],
                vec![0f64; LANES],
            );
            logistic_gradient_signs_at(level, &index, &c, &cy, &w, &mut g, None);
            logistic_gradient_signs_at(level, &index, &c, &cy, &w, &mut g_loss, Some(&mut loss));
            logistic_loss_signs_at(level, &index, &c, &cy, &w, &mut loss_only);
            [g, g_loss, loss, loss_only]
                .concat()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<u64>>()
        };
        assert_eq!(
            run(Level::Avx2),
            run(Level::Avx512),
            "n={n} binary={binary}"
        );
    }
}
