#![allow(clippy::needless_range_loop)]
//! The batched f32 MAP against an independent f64 coordinate-descent solver: every fit's
//! objective within 1e-6 (relative) of the reference, and KKT ≤ 1e-4 recomputed here in f64.

mod common;

use std::path::Path;

use common::{NF, coordinate_descent, kkt, objective};
use prefdissect::base::features::MAX_K;

/// The paper's NF weights of an engine weight array (its MAX_K slots).
fn narrow(w: &[f64; MAX_K]) -> [f64; NF] {
    std::array::from_fn(|k| w[k])
}
use prefdissect::bootstrap::Resampling;
use prefdissect::bootstrap::engine::{replicate_vectors, unit_vectors};
use prefdissect::design::{BatchDesign, KPAD, LANES};
use prefdissect::design::{GroupDesign, RowWeights};
use prefdissect::load::{Dataset, Selection};
use prefdissect::simulate::{simulate, write_simulated};
use prefdissect::solve::backend::cpu::CpuBackend;
use prefdissect::solve::backend::reference::ReferenceBackend;
use prefdissect::solve::backend::reference_curvature;
use prefdissect::solve::map::MapOptions;
use prefdissect::solve::map::MapParams;
use prefdissect::solve::map::MapSolution;
use prefdissect::solve::map::newton::{Metric, newton_block};
use prefdissect::solve::map::precondition::{Steps, steps_for};
use prefdissect::solve::map::solve_map;
use prefdissect::solve::map::solve_map_with;
use rayon::prelude::*;

const LAMBDA: f64 = 10.0;

struct Check {
    worst_rel: f64,
    worst_kkt: f64,
    fits: usize,
}

fn check_against_reference(design: &BatchDesign, which: &[usize]) -> Check {
    let params = MapParams::new().check().unwrap();
    let sol = solve_map(design, &CpuBackend, &params);
    check_solution(design, &sol, which)
}

fn check_solution(design: &BatchDesign, sol: &MapSolution, which: &[usize]) -> Check {
    let mut lane_of = vec![(0usize, 0usize); design.fits.len()];
    for (b, block) in design.blocks.iter().enumerate() {
        for (l, &f) in block.fits.iter().enumerate() {
            lane_of[f] = (b, l);
        }
    }
    let results: Vec<(f64, f64)> = which
        .par_iter()
        .map(|&f| {
            let (b, l) = lane_of[f];
            let block = &design.blocks[b];
            let g = &design.groups[block.group];
            let n = block.entries();
            let mut x = vec![[0f64; NF]; n];
            let (mut c, mut y) = (vec![0f64; n], vec![0f64; n]);
            for r in 0..n {
                for k in 0..NF {
                    x[r][k] = g.x[block.row(r) * KPAD + k] as f64;
                }
                c[r] = block.c[r * LANES + l] as f64;
                y[r] = if c[r] > 0.0 {
                    block.cy[r * LANES + l] as f64 / c[r]
                } else {
                    0.0
                };
            }
            let (_, ref_obj) = coordinate_descent(&x, &c, &y, LAMBDA, 1e-9);
            let ours = &sol.fits[f];
            let our_obj = objective(&x, &c, &y, &narrow(&ours.weights), LAMBDA);
            // Our reported objective must be the true one too.
            assert!((our_obj - ours.objective).abs() <= 1e-9 * our_obj.abs());
            let rel = (our_obj - ref_obj) / ref_obj.abs();
            (rel, kkt(&x, &c, &y, &narrow(&ours.weights), LAMBDA))
        })
        .collect();
    Check {
        worst_rel: results.iter().map(|r| r.0.abs()).fold(0.0, f64::max),
        worst_kkt: results.iter().map(|r| r.1).fold(0.0, f64::max),
        fits: results.len(),
    }
}

#[test]
fn simulated_fits_match_f64_coordinate_descent() {
    let dir = common::temp_dir("mapref-sim");
    write_simulated(&simulate(3), &dir, 3).unwrap();
    let sel = Selection {
        judges: Some(vec![
            "human".into(),
            "gpt-4-1106-preview".into(),
            "yi-6b".into(),
        ]),
        groups: None,
    };
    let data = Dataset::load(&dir, &sel).unwrap();
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let all: Vec<usize> = (0..design.fits.len()).collect();
    let c = check_against_reference(&design, &all);
    eprintln!(
        "simulated: {} fits, worst |rel obj diff| {:.2e}, worst KKT {:.2e}",
        c.fits, c.worst_rel, c.worst_kkt
    );
    assert_eq!(c.fits, 3 * 16 * 10);
    assert!(c.worst_rel <= 1e-6, "objective off by {:e}", c.worst_rel);
    assert!(c.worst_kkt <= 1e-4, "KKT {:e}", c.worst_kkt);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dev_data_every_fit_matches_f64_coordinate_descent() {
    let dev = Path::new("../shared/data/dev");
    if !dev.join("resolved.jsonl").exists() {
        eprintln!("skipped: ../shared/data/dev not present");
        return;
    }
    let data = Dataset::load(dev, &Selection::default()).unwrap();
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    assert_eq!(design.fits.len(), 33 * 16 * 10);
    let all: Vec<usize> = (0..design.fits.len()).collect();
    let c = check_against_reference(&design, &all);
    eprintln!(
        "dev: {} fits, worst |rel obj diff| {:.2e}, worst KKT {:.2e}",
        c.fits, c.worst_rel, c.worst_kkt
    );
    assert!(c.worst_rel <= 1e-6, "objective off by {:e}", c.worst_rel);
    assert!(c.worst_kkt <= 1e-4, "KKT {:e}", c.worst_kkt);
}

#[test]
fn reference_backend_and_fused_kernel_reach_the_same_map() {
    let dir = common::temp_dir("mapref-backends");
    common::write_small_dataset(&dir, 120);
    let data = Dataset::load(&dir, &Selection::default()).unwrap();
    let design = BatchDesign::build(&data, 10, 0).unwrap();
    let params = MapParams::new().check().unwrap();
    let fused = solve_map(&design, &CpuBackend, &params);
    let plain = solve_map(&design, &ReferenceBackend, &params);
    let mut worst = 0f64;
    for (a, b) in fused.fits.iter().zip(&plain.fits) {
        assert!(a.kkt <= 1e-4 && b.kkt <= 1e-4);
        let rel = (a.objective - b.objective).abs() / a.objective;
        assert!(rel <= 1e-7, "objectives {} vs {}", a.objective, b.objective);
        for k in 0..NF {
            worst = worst.max((a.weights[k] - b.weights[k]).abs());
        }
    }
    eprintln!("fused vs burn plain ops: max |Δw| = {worst:.2e}");
    assert!(worst <= 1e-3);
    std::fs::remove_dir_all(&dir).ok();
}

/// Bootstrap-count fits solved the bootstrap's way (warm start at the plain fit, proximal
/// Newton with each fit's Hessian there) against the f64 reference; and with metrics 20× too
/// small, which overshoot, the FISTA fallback still reaches the same optimum.
#[test]
fn warm_started_newton_on_bootstrap_counts_matches_f64_coordinate_descent() {
    let dir = common::temp_dir("mapref-newton");
    write_simulated(&simulate(5), &dir, 5).unwrap();
    let sel = Selection {
        judges: Some(vec!["human".into(), "qwen-7b".into(), "yi-34b".into()]),
        groups: None,
    };
    let data = Dataset::load(&dir, &sel).unwrap();
    let groups = GroupDesign::build_all(&data, 1, 0).unwrap();
    let nj = data.judges.len();
    let keys_of = |v: &[RowWeights]| -> Vec<u64> { v.iter().map(|w| w.group as u64).collect() };
    let ones = unit_vectors(&groups);
    let plain_design =
        BatchDesign::from_row_weights(&data, groups.clone(), ones.clone(), &keys_of(&ones), true);
    let params = MapParams::new().check().unwrap();
    let plain = solve_map(&plain_design, &CpuBackend, &params);
    let point: Vec<[f64; MAX_K]> = plain.fits.iter().map(|f| f.weights).collect();

    let vectors = replicate_vectors(&groups, Resampling::Multinomial, 1, 0..4);
    let vkeys = keys_of(&vectors);
    let design = BatchDesign::from_row_weights(&data, groups.clone(), vectors, &vkeys, true);
    let model = |i: usize| design.fits[i].group * nj + design.fits[i].judge;
    let init = |i: usize| point[model(i)];
    let options = MapOptions {
        init: Some(&init),
        newton: true,
        skip_f64_check: false,
        checkpoint: None,
        data: None,
    };
    let sol = solve_map_with(&design, &CpuBackend, &params, options);
    let polished = sol.fits.iter().filter(|f| f.polish_iterations > 0).count();
    let all: Vec<usize> = (0..design.fits.len()).collect();
    let c = check_solution(&design, &sol, &all);
    let mean_iter = sol.fits.iter().map(|f| f.iterations).sum::<usize>() as f64 / c.fits as f64;
    eprintln!(
        "newton: {} fits, worst |rel obj diff| {:.2e}, worst KKT {:.2e}, {polished} polished, \
         {mean_iter:.1} gradient calls a fit",
        c.fits, c.worst_rel, c.worst_kkt
    );
    assert_eq!(c.fits, 4 * 16 * 3);
    assert_eq!(polished, 0, "the batched solver alone must converge");
    // FISTA from the same starts, for the gradient-call comparison in the README.
    let fista = solve_map_with(
        &design,
        &CpuBackend,
        &params,
        MapOptions {
            init: Some(&init),
            newton: false,
            skip_f64_check: false,
            checkpoint: None,
            data: None,
        },
    );
    let fista_iter = fista.fits.iter().map(|f| f.iterations).sum::<usize>() as f64 / c.fits as f64;
    eprintln!("FISTA from the same starts: {fista_iter:.1} gradient calls a fit");
    assert!(c.worst_rel <= 1e-6, "objective off by {:e}", c.worst_rel);
    assert!(c.worst_kkt <= 1e-4, "KKT {:e}", c.worst_kkt);

    // Metrics 20× too small: steps overshoot, the KKT test rejects them, FISTA takes over.
    let mut worst = 0f64;
    let mut fallbacks_needed = 0;
    for block in &design.blocks {
        let g = &design.groups[block.group];
        let start: Vec<[f64; MAX_K]> = block.fits.iter().map(|&f| init(f)).collect();
        let mut w32 = vec![0f32; KPAD * LANES];
        for (l, w) in start.iter().enumerate() {
            for k in 0..NF {
                w32[k * LANES + l] = w[k] as f32;
            }
        }
        let mut hess = vec![0f64; LANES * NF * NF];
        reference_curvature(g, block, &w32, &mut hess);
        let metrics: Vec<Metric> = hess
            .chunks_exact(NF * NF)
            .take(block.fits.len())
            .map(|h| Metric::from_hessian(&h.iter().map(|v| v * 0.05).collect::<Vec<_>>(), NF))
            .collect();
        let steps: Vec<Steps> = block
            .fits
            .iter()
            .map(|&f| steps_for(g, &design.row_weights[design.fits[f].row_weights].c))
            .collect();
        let step_of = |l: usize| &steps[l];
        let lanes = newton_block(
            &CpuBackend,
            g,
            block,
            &step_of,
            &metrics,
            &start,
            LAMBDA,
            0.5e-4,
            20_000,
        );
        for (l, lane) in lanes.iter().enumerate() {
            assert!(lane.converged, "lane {l} of a block did not converge");
            let good = &sol.fits[block.fits[l]].weights;
            for k in 0..NF {
                worst = worst.max((lane.w[k] as f64 - good[k]).abs());
            }
            fallbacks_needed += (lane.iterations > 30) as usize;
        }
    }
    eprintln!("newton with a 20x-wrong metric: max |Δw| to the good solution {worst:.2e}");
    assert!(
        fallbacks_needed > 0,
        "a bad metric should have forced the fallback"
    );
    assert!(worst <= 2e-4, "{worst:e}");
    std::fs::remove_dir_all(&dir).ok();
}
