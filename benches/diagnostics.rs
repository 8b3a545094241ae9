//! `cargo bench --bench diagnostics [DRAWS]`: the per-weight summary of a posterior job
//! (`FastDiagnostics`: mean, sd, MCSE, rank-normalised split R-hat, bulk ESS) on 4 chains of
//! DRAWS (default 2,000, the paper's) f32 draws shaped like a sampler's: AR(1) values with one
//! draw in ten a repeat (a rejection), so the ranks have ties. Prints the best of 7 timings of
//! 600 weights, per weight and per draw, and a checksum of the results (the same for any build
//! that keeps the bits).

use std::time::Instant;

use prefdissect::base::mcmc::fast_diagnostics::FastDiagnostics;
use prefdissect::base::rng::Rng;

fn main() {
    let chains = 4;
    let draws: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let weights = 600;
    let mut rng = Rng::new(3);
    let sets: Vec<Vec<f32>> = (0..16)
        .map(|_| {
            let mut v = vec![0f32; chains * draws];
            for c in 0..chains {
                let mut x = 0.0f64;
                for d in 0..draws {
                    if rng.uniform() > 0.1 {
                        x = 0.3 * x + 0.95 * rng.normal();
                    }
                    v[c * draws + d] = (0.05 * x + 0.1) as f32;
                }
            }
            v
        })
        .collect();
    let mut fast = FastDiagnostics::new(chains, draws);
    let (mut best, mut checksum) = (f64::INFINITY, 0.0);
    for _ in 0..7 {
        checksum = 0.0;
        let t = Instant::now();
        for w in 0..weights {
            let v = &sets[w % sets.len()];
            let d = fast.diagnose(|c, i| v[c * draws + i]);
            checksum += d.rhat + d.ess_bulk + d.mcse;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{chains} chains × {draws} draws: {:.1} µs a weight, {:.1} ns a draw (checksum {checksum:.6})",
        best / weights as f64 * 1e6,
        best / (weights * chains * draws) as f64 * 1e9
    );
}
