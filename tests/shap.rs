#![allow(clippy::needless_range_loop)]
//! Exact Shapley values: equal to the definition by brute force (all coalitions with explicit
//! factorial weights for ≤ 12 players; all orderings for ≤ 7), and efficient (they sum to
//! f(x) − f(0)) for every sample × judge of a data set.

mod common;

use common::Lcg;

use prefdissect::analyse::shap::{MAX_PLAYERS, shapley, shapley_sampled};
use prefdissect::cli::fit::{FitRequest, fit};
use prefdissect::cli::shap::{ShapRequest, explain};
use prefdissect::simulate::{simulate, write_simulated};

/// Every slot of the engine: a pair of any property set up to 64.
const NF: usize = prefdissect::base::features::MAX_K;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn value(w: &[f64; NF], x: &[f64; NF], players: &[usize], coalition: &[bool]) -> f64 {
    sigmoid(
        players
            .iter()
            .zip(coalition)
            .filter(|(_, in_s)| **in_s)
            .map(|(&k, _)| w[k] * x[k])
            .sum(),
    )
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|v| v as f64).product()
}

/// φ_i = Σ_{S ⊆ N∖i} |S|!(n−|S|−1)!/n! (v(S ∪ i) − v(S)), every coalition evaluated afresh.
fn by_coalitions(w: &[f64; NF], x: &[f64; NF]) -> [f64; NF] {
    let players: Vec<usize> = (0..NF).filter(|&k| x[k] != 0.0).collect();
    let n = players.len();
    let mut phi = [0f64; NF];
    for (i, &k) in players.iter().enumerate() {
        for mask in 0u32..1 << n {
            if mask & (1 << i) != 0 {
                continue;
            }
            let s = mask.count_ones() as usize;
            let wt = factorial(s) * factorial(n - s - 1) / factorial(n);
            let mut with: Vec<bool> = (0..n).map(|b| mask & (1 << b) != 0).collect();
            let without = value(w, x, &players, &with);
            with[i] = true;
            phi[k] += wt * (value(w, x, &players, &with) - without);
        }
    }
    phi
}

/// φ_i as the mean marginal contribution over all n! orderings.
fn by_orderings(w: &[f64; NF], x: &[f64; NF]) -> [f64; NF] {
    let players: Vec<usize> = (0..NF).filter(|&k| x[k] != 0.0).collect();
    let n = players.len();
    let mut phi = [0f64; NF];
    let mut order: Vec<usize> = (0..n).collect();
    let mut count = 0usize;
    // Heap's algorithm.
    fn visit(k: usize, order: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
        if k <= 1 {
            f(order);
            return;
        }
        for i in 0..k {
            visit(k - 1, order, f);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            order.swap(j, k - 1);
        }
    }
    visit(n, &mut order, &mut |ord| {
        count += 1;
        let mut coalition = vec![false; n];
        let mut prev = value(w, x, &players, &coalition);
        for &p in ord {
            coalition[p] = true;
            let now = value(w, x, &players, &coalition);
            phi[players[p]] += now - prev;
            prev = now;
        }
    });
    for v in &mut phi {
        *v /= count as f64;
    }
    phi
}

fn random_case(rng: &mut Lcg, players: usize) -> ([f64; NF], [f64; NF]) {
    let w: [f64; NF] = std::array::from_fn(|_| (rng.next() - 0.5) * 2.0);
    let mut x = [0f64; NF];
    let mut placed = 0;
    while placed < players {
        let k = (rng.next() * NF as f64) as usize;
        if x[k] == 0.0 {
            x[k] = if rng.next() < 0.5 { -1.0 } else { 1.0 };
            placed += 1;
        }
    }
    (w, x)
}

#[test]
fn equals_brute_force_up_to_twelve_features() {
    let mut rng = Lcg(42);
    for players in 0..=12 {
        for _ in 0..3 {
            let (w, x) = random_case(&mut rng, players);
            let ours = shapley(&w, &x).unwrap();
            let brute = by_coalitions(&w, &x);
            for k in 0..NF {
                assert!(
                    (ours[k] - brute[k]).abs() < 1e-12,
                    "{players} players, feature {k}"
                );
            }
            if players <= 7 {
                let perm = by_orderings(&w, &x);
                for k in 0..NF {
                    assert!(
                        (ours[k] - perm[k]).abs() < 1e-12,
                        "{players} players (orderings)"
                    );
                }
            }
        }
    }
}

/// Past the exact enumeration's 24 players (a wide property set's pair has up to 64 non-zero
/// features) the values are sampled: within 4 standard errors of the exact ones where both
/// run (20 and 24 players), a standard error of a few 1e-4 of P(A) up to 64, and the values
/// sum to f(x) − 0.5 exactly, as the exact ones do.
#[test]
fn sampled_values_agree_with_exact_ones_and_keep_their_sum() {
    let mut rng = Lcg(7);
    for players in [20, MAX_PLAYERS] {
        let (w, x) = random_case(&mut rng, players);
        let exact = shapley(&w, &x).unwrap();
        let (est, se) = shapley_sampled(&w, &x, 3);
        assert!(se > 0.0 && se < 1e-3, "{players} players: se {se}");
        for k in 0..NF {
            assert!(
                (est[k] - exact[k]).abs() <= 4.0 * se,
                "{players} players, feature {k}: {} vs {} (se {se:e})",
                est[k],
                exact[k]
            );
        }
    }
    for players in [MAX_PLAYERS + 1, 40, 64] {
        let (w, x) = random_case(&mut rng, players);
        assert!(shapley(&w, &x).is_none());
        let (est, se) = shapley_sampled(&w, &x, 5);
        let f_x = 1.0 / (1.0 + (-(0..NF).map(|k| w[k] * x[k]).sum::<f64>()).exp());
        let total: f64 = est.iter().sum();
        assert!(
            (total - (f_x - 0.5)).abs() < 1e-12,
            "{players}: {total} vs {f_x}"
        );
        assert!(se < 1e-3, "{players} players: se {se}");
        eprintln!("{players} players: largest standard error {se:.1e}");
        assert_eq!(
            shapley_sampled(&w, &x, 5),
            (est, se),
            "deterministic in its seed"
        );
    }
}

#[test]
fn sums_to_prediction_minus_baseline_for_every_sample() {
    let dir = common::temp_dir("shap");
    let data = dir.join("data");
    write_simulated(&simulate(4), &data, 4).unwrap();
    fit(&FitRequest {
        data: data.clone(),
        out: dir.join("fit"),
        selection: prefdissect::load::Selection {
            judges: Some(vec!["human".into(), "zephyr-7b-beta".into()]),
            groups: None,
        },
        config: prefdissect::solve::settings::FitConfig {
            estimator: Some(prefdissect::solve::settings::Estimator::Map),
            ..Default::default()
        },
        progress: false,
        backend: Default::default(),
    })
    .unwrap();
    let rows = explain(&ShapRequest {
        data: data.clone(),
        fit: dir.join("fit"),
        judges: None,
        sample: None,
        group: None,
        out: dir.join("shap.csv"),
    })
    .unwrap();
    // Every sample is in one scenario group: 5,240 samples × 2 judges.
    assert_eq!(rows.len(), 5240 * 2);
    let mut worst = 0f64;
    for e in &rows {
        let total: f64 = e.shap.iter().sum();
        worst = worst.max((total - (e.f_x - 0.5)).abs());
        for k in 0..NF {
            if e.x[k] == 0.0 {
                assert_eq!(e.shap[k], 0.0);
            }
        }
    }
    eprintln!(
        "max |Σφ − (f(x) − f(0))| over {} explanations: {worst:.1e}",
        rows.len()
    );
    assert!(worst < 1e-12);
    let csv = std::fs::read_to_string(dir.join("shap.csv")).unwrap();
    assert!(csv.starts_with("sample,judge,group,f_x,feature,x,contribution,shap\n"));
}
