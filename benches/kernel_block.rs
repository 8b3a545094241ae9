//! `cargo bench --bench kernel_block`: the dense and the sign-sparse CPU kernels on one block
//! held in cache, as the HMC sampler calls them (thousands of calls on the same block), so
//! memory traffic does not hide the kernels' own cost. Data: `PREFDISSECT_DATA` (e.g.
//! `../shared/data/dev`) or a simulated data set.

use std::time::Instant;

use prefdissect::design::{BatchDesign, KPAD, LANES};
use prefdissect::load::{Dataset, Selection};
use prefdissect::solve::GradientBackend;
use prefdissect::solve::cpu::{CpuBackend, DenseCpuBackend};

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
    let w = prefdissect::bench::typical_weights(0.1);
    let mut grad = vec![0f64; KPAD * LANES];
    let signs = group.signs.as_ref().map_or(0, |s| s.nonzeros);
    println!(
        "block of {} rows, X {:.1}% non-zero",
        group.n_padded,
        100.0 * signs as f64 / (group.n_rows() * 29) as f64
    );
    let calls = 20_000;
    let mut medians = Vec::new();
    for (name, backend) in [
        ("dense", &DenseCpuBackend as &dyn GradientBackend),
        ("signs", &CpuBackend),
    ] {
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..calls {
                    backend.block_gradient(group, block, &w, &mut grad, None);
                }
                t.elapsed().as_secs_f64() / calls as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let per_call = times[2];
        println!(
            "{name}: {:.2} µs per call, {:.1} ns per row (median of 5 × {calls} calls)",
            per_call * 1e6,
            per_call * 1e9 / group.n_padded as f64
        );
        medians.push(per_call);
    }
    println!(
        "sign kernel speed-up over dense: {:.2}×",
        medians[0] / medians[1]
    );
}
