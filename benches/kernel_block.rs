//! `cargo bench --bench kernel_block`: the dense and the sign-sparse CPU kernels on one block
//! held in cache, as the HMC sampler calls them (thousands of calls on the same block), so
//! memory traffic does not hide the kernels' own cost. Data: `PREFDISSECT_DATA` (e.g.
//! `../shared/data/dev`) or a simulated data set. The rate is dense-equivalent (4 × 29 flops
//! per row and lane, padding rows included), against one core's share of an SGEMM timed in the
//! same run.

use std::time::Instant;

use prefdissect::design::{BatchDesign, KPAD, LANES};
use prefdissect::load::{Dataset, Selection};
use prefdissect::solve::backend::GradientBackend;
use prefdissect::solve::backend::cpu::{CpuBackend, DenseCpuBackend};

fn main() {
    let data = match std::env::var_os("PREFDISSECT_DATA") {
        Some(dir) => Dataset::load(std::path::Path::new(&dir), &Selection::default()),
        None => {
            let dir = std::env::temp_dir().join(format!("kernel-block-{}", std::process::id()));
            prefdissect::simulate::write_simulated(&prefdissect::simulate::simulate(0), &dir, 0)
                .expect("simulated data");
            let data = Dataset::load(&dir, &Selection::default());
            let _ = std::fs::remove_dir_all(&dir);
            data
        }
    }
    .expect("data set");
    let design = BatchDesign::build(&data, 10, 0).expect("design");
    let block = &design.blocks[0];
    let group = &design.groups[block.group];
    let w = prefdissect::cli::bench::typical_weights(0.1);
    let mut grad = vec![0f64; KPAD * LANES];
    let signs = group.signs.as_ref().map_or(0, |s| s.nonzeros);
    println!(
        "block of {} rows, X {:.1}% non-zero",
        group.n_padded,
        100.0 * signs as f64 / (group.n_rows() * 29) as f64
    );
    let calls = 20_000;
    let backends = [
        ("dense", &DenseCpuBackend as &dyn GradientBackend),
        ("signs", &CpuBackend),
    ];
    // Rounds alternate the two kernels, so a noisy moment on a shared machine hits both.
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..7 {
        for ((_, backend), t) in backends.iter().zip(&mut times) {
            let start = Instant::now();
            for _ in 0..calls {
                backend.block_gradient(group, block, &w, &mut grad, None);
            }
            t.push(start.elapsed().as_secs_f64() / calls as f64);
        }
    }
    let mut medians = Vec::new();
    for ((name, _), mut t) in backends.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        let per_call = t[t.len() / 2];
        let gflops = (group.n_padded * LANES * 4 * 29) as f64 / per_call / 1e9;
        println!(
            "{name}: {:.2} µs per call, {:.1} ns per row (median of 7 × {calls} calls), \
             {gflops:.1} dense-equivalent GFLOP/s on one core",
            per_call * 1e6,
            per_call * 1e9 / group.n_padded as f64
        );
        medians.push(per_call);
    }
    println!(
        "sign kernel speed-up over dense: {:.2}×",
        medians[0] / medians[1]
    );
    let sgemm = prefdissect::base::peak::sgemm_gflops(2048);
    let threads = rayon::current_num_threads();
    println!(
        "SGEMM 2048³ in this run: {sgemm:.1} GFLOP/s on {threads} threads = {:.1} per core",
        sgemm / threads as f64
    );
}
