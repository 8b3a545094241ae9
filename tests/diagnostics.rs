//! MCMC diagnostics against cases whose answer is known: iid draws, AR(1) chains (ESS =
//! N(1−ρ)/(1+ρ)), and chains that disagree (R-hat ≫ 1).

use prefdissect::base::mcmc::diagnostics::{diagnose, ess, inverse_normal_cdf};
use prefdissect::base::rng::Rng;

fn ar1(rng: &mut Rng, n: usize, rho: f64) -> Vec<f64> {
    let mut x = rng.normal() / (1.0 - rho * rho).sqrt();
    (0..n)
        .map(|_| {
            x = rho * x + rng.normal();
            x
        })
        .collect()
}

#[test]
fn inverse_normal_cdf_known_values() {
    assert!((inverse_normal_cdf(0.5)).abs() < 1e-12);
    assert!((inverse_normal_cdf(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
    assert!((inverse_normal_cdf(0.001) + 3.090_232_306_167_813_5).abs() < 1e-8);
    assert!((inverse_normal_cdf(0.8413447460685429) - 1.0).abs() < 1e-8);
}

#[test]
fn iid_draws_have_ess_near_n_and_rhat_near_one() {
    let mut rng = Rng::new(1);
    let chains: Vec<Vec<f64>> = (0..4)
        .map(|_| (0..2000).map(|_| rng.normal()).collect())
        .collect();
    let refs: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
    let d = diagnose(&refs);
    assert!(d.rhat < 1.01, "rhat {}", d.rhat);
    assert!(
        (d.ess_bulk / 8000.0 - 1.0).abs() < 0.1,
        "ess {}",
        d.ess_bulk
    );
    assert!(
        (d.mcse / (d.sd / 8000f64.sqrt()) - 1.0).abs() < 0.1,
        "mcse {}",
        d.mcse
    );
}

#[test]
fn ar1_chains_have_the_theoretical_ess() {
    let mut rng = Rng::new(2);
    for rho in [0.5, 0.9] {
        let n = 20_000;
        let chains: Vec<Vec<f64>> = (0..4).map(|_| ar1(&mut rng, n, rho)).collect();
        let refs: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
        let expected = 4.0 * n as f64 * (1.0 - rho) / (1.0 + rho);
        let got = ess(&refs);
        assert!(
            (got / expected - 1.0).abs() < 0.15,
            "rho {rho}: ess {got} vs {expected}"
        );
    }
}

#[test]
fn disagreeing_chains_have_large_rhat() {
    let mut rng = Rng::new(3);
    let chains: Vec<Vec<f64>> = (0..4)
        .map(|c| {
            (0..1000)
                .map(|_| rng.normal() + if c == 0 { 2.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
    let r = diagnose(&refs).rhat;
    // Split chains: means 2,2,0×6 → B/n ≈ 0.86, so R-hat ≈ √1.86 ≈ 1.36 on the raw scale.
    assert!(r > 1.2, "rhat {r}");
}

/// A fixture case's `chains`: arrays of draws.
fn fixture_chains(case: &serde_json::Value) -> Vec<Vec<f64>> {
    case["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn agrees_with_arviz() {
    // tests/data/arviz_reference.json: seeded chains and ArviZ 0.23.4's rhat (rank), ess_bulk
    // and mcse_mean for them.
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("data/arviz_reference.json")).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let chains = fixture_chains(case);
        let refs: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
        let d = diagnose(&refs);
        let name = case["name"].as_str().unwrap();
        let close = |ours: f64, theirs: &serde_json::Value, what: &str| {
            let theirs = theirs.as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-6 * theirs.abs(),
                "{name} {what}: ours {ours} vs arviz {theirs}"
            );
        };
        close(d.rhat, &case["rhat"], "rhat");
        close(d.ess_bulk, &case["ess_bulk"], "ess_bulk");
        close(d.mcse, &case["mcse_mean"], "mcse_mean");
    }
}

#[test]
fn too_short_chains_give_nan_not_a_panic() {
    let chains: Vec<&[f64]> = vec![&[1.0, 2.0, 3.0], &[2.0, 1.0, 0.5]];
    assert!(ess(&chains).is_nan());
}

#[test]
fn fast_path_equals_the_reference_including_ties() {
    use prefdissect::base::mcmc::fast_diagnostics::FastDiagnostics;
    let mut rng = Rng::new(5);
    let (m, n) = (4, 600);
    let mut fast = FastDiagnostics::new(m, n);
    for case in 0..6 {
        // HMC-like chains: AR(1) values on the f32 grid, with repeats (rejections).
        let chains: Vec<Vec<f32>> = (0..m)
            .map(|c| {
                let mut out = Vec::with_capacity(n);
                let mut x = 0.0f64;
                for _ in 0..n {
                    if rng.uniform() < 0.75 {
                        x = 0.6 * x + rng.normal() + if c == 0 { 0.1 * case as f64 } else { 0.0 };
                    }
                    let v = if case == 5 {
                        (x * 4.0).round() / 4.0
                    } else {
                        x
                    };
                    out.push(v as f32);
                }
                out
            })
            .collect();
        let as_f64: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| c.iter().map(|&v| v as f64).collect())
            .collect();
        let refs: Vec<&[f64]> = as_f64.iter().map(|c| c.as_slice()).collect();
        let want = diagnose(&refs);
        let got = fast.diagnose(|c, d| chains[c][d]);
        for (a, b, what) in [
            (got.mean, want.mean, "mean"),
            (got.sd, want.sd, "sd"),
            (got.mcse, want.mcse, "mcse"),
            (got.rhat, want.rhat, "rhat"),
            (got.ess_bulk, want.ess_bulk, "ess_bulk"),
        ] {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs(),
                "case {case} {what}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn numpyro_definition_agrees_with_numpyro() {
    // tests/data/numpyro_reference.json (written by numpyro_reference.py beside it): seeded
    // chains and numpyro 0.22's split_gelman_rubin and effective_sample_size for them.
    use prefdissect::base::mcmc::numpyro_diagnostics::{
        NumpyroDiagnostics, effective_sample_size, split_gelman_rubin,
    };
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("data/numpyro_reference.json")).unwrap();
    let mut held = 0;
    for case in doc["cases"].as_array().unwrap() {
        let chains = fixture_chains(case);
        let refs: Vec<&[f64]> = chains.iter().map(|c| c.as_slice()).collect();
        let name = case["name"].as_str().unwrap();
        let theirs_rhat = case["split_rhat"].as_f64().unwrap();
        let theirs_ess = case["ess"].as_f64().unwrap();
        // Where numpyro's τ = S/ESS is below 1/log10 S, ours holds τ at that bound.
        let total = (chains.len() * chains[0].len()) as f64;
        let want_ess = if total / theirs_ess < 1.0 / total.log10() {
            held += 1;
            total * total.log10()
        } else {
            theirs_ess
        };
        // numpyro's autocovariances come from an FFT: agreement to round-off, not bits.
        let close = |ours: f64, theirs: f64, what: &str| {
            assert!(
                (ours - theirs).abs() <= 1e-9 * theirs.abs(),
                "{name} {what}: ours {ours} vs numpyro {theirs}"
            );
        };
        close(split_gelman_rubin(&refs), theirs_rhat, "split_rhat");
        close(effective_sample_size(&refs), want_ess, "ess");
        // The fast path reads f32 draws: the fixture's values rounded to f32 move the figures
        // by far less than they resolve.
        let mut fast = NumpyroDiagnostics::new(chains.len(), chains[0].len());
        let d = fast.diagnose(|c, i| chains[c][i] as f32);
        assert!(
            (d.rhat - theirs_rhat).abs() <= 1e-6 * theirs_rhat,
            "{name}: fast rhat {} vs {theirs_rhat}",
            d.rhat
        );
        assert!(
            (d.ess_bulk - want_ess).abs() <= 1e-4 * want_ess,
            "{name}: fast ess {} vs {want_ess}",
            d.ess_bulk
        );
    }
    assert_eq!(held, 1, "the antithetic case is the one held at the bound");
}
