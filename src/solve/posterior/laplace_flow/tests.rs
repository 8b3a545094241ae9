//! The closed-form flow held to the event-by-event reference and its SIMD paths to each other;
//! its energy and reversibility; one coordinate's flow against a fine numerical integration.

use super::*;
use crate::base::features::MAX_K;
use crate::base::rng::Rng;

/// The closed-form flow of all lanes against the event-by-event reference, including
/// coordinates on the kink, at rest, crossing once and crossing many times; and every SIMD
/// path of it against the others.
#[test]
fn closed_form_prior_flow_matches_the_reference() {
    use crate::base::simd::Level;
    let mut rng = Rng::new(5);
    let lambda = 10.0;
    for round in 0..200 {
        let mut q: Field = [[0.0; LANES]; MAX_K];
        let mut p: Field = [[0.0; LANES]; MAX_K];
        let mut metric = Metric {
            inv_mass: [[1.0; LANES]; MAX_K],
            mass: [[1.0; LANES]; MAX_K],
            sqrt_mass: [[1.0; LANES]; MAX_K],
        };
        let mut step = [0f64; LANES];
        for l in 0..LANES {
            step[l] = 0.05 + rng.uniform() * if round % 4 == 0 { 5.0 } else { 0.5 };
            for k in 0..MAX_K {
                q[k][l] = match (k + l + round) % 7 {
                    0 => 0.0,
                    1 => 1e-7 * rng.normal(),
                    _ => 0.1 * rng.normal(),
                };
                p[k][l] = if (k * l + round) % 11 == 0 {
                    0.0
                } else {
                    3.0 * rng.normal()
                };
                metric.set(k, l, 0.001 + 0.05 * rng.uniform());
            }
        }
        let (mut qc, mut pc) = (q, p);
        prior_flow(&mut qc, &mut pc, &metric, &step, lambda, MAX_K);
        // The divisions skipped where no lane completes an excursion: the same bits.
        let (mut qd, mut pd) = (q, p);
        prior_flow_dividing(&mut qd, &mut pd, &metric, &step, lambda, MAX_K);
        let bits = |f: &Field| f.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(
            bits(&qd) == bits(&qc) && bits(&pd) == bits(&pc),
            "round {round}: the skipped divisions change the flow"
        );
        // Every code path (portable, AVX2, AVX-512, as far as the CPU has them) gives the
        // same bits.
        for level in [Level::Portable, Level::Avx2, Level::Avx512] {
            let (mut ql, mut pl) = (q, p);
            prior_flow_at(level, &mut ql, &mut pl, &metric, &step, lambda, MAX_K);
            let bits = |f: &Field| f.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&ql) == bits(&qc) && bits(&pl) == bits(&pc),
                "{level:?} differs"
            );
        }
        let inv_mass = metric.inv_mass;
        for k in 0..MAX_K {
            for l in 0..LANES {
                let (mut x, mut pp) = (q[k][l], p[k][l]);
                laplace_flow(&mut x, &mut pp, inv_mass[k][l], lambda, step[l]);
                let scale_x =
                    1e-9 + 1e-9 * (q[k][l].abs() + inv_mass[k][l] * p[k][l].abs() * step[l]);
                assert!(
                    (qc[k][l] - x).abs() <= 1e3 * scale_x,
                    "x: {} vs {x} from ({}, {}) im {} t {}",
                    qc[k][l],
                    q[k][l],
                    p[k][l],
                    inv_mass[k][l],
                    step[l]
                );
                assert!(
                    (pc[k][l] - pp).abs() <= 1e-9 * (1.0 + p[k][l].abs() + lambda * step[l]),
                    "p: {} vs {pp} from ({}, {}) im {} t {}",
                    pc[k][l],
                    q[k][l],
                    p[k][l],
                    inv_mass[k][l],
                    step[l]
                );
            }
        }
    }
}

fn energy(x: f64, p: f64, inv_m: f64, lambda: f64) -> f64 {
    lambda * x.abs() + 0.5 * inv_m * p * p
}

#[test]
fn conserves_energy_and_is_reversible() {
    let (inv_m, lambda) = (0.02, 10.0);
    for &(x0, p0) in &[
        (0.3, -2.0),
        (-0.05, 7.5),
        (0.0, 1e-9),
        (0.2, 0.0),
        (-1e-7, -3.0),
    ] {
        for &tau in &[0.01, 0.3, 2.0, 37.0] {
            let (mut x, mut p) = (x0, p0);
            laplace_flow(&mut x, &mut p, inv_m, lambda, tau);
            let (e0, e1) = (energy(x0, p0, inv_m, lambda), energy(x, p, inv_m, lambda));
            assert!(
                (e1 - e0).abs() <= 1e-9 * e0.max(1e-12),
                "{x0} {p0} {tau}: {e0} → {e1}"
            );
            // Reversibility: flip momentum, run again, flip back.
            p = -p;
            laplace_flow(&mut x, &mut p, inv_m, lambda, tau);
            p = -p;
            assert!(
                (x - x0).abs() < 1e-9 && (p - p0).abs() < 1e-7,
                "{x0} {p0} {tau}: {x} {p}"
            );
        }
    }
}

#[test]
fn matches_a_fine_numerical_integration() {
    let (inv_m, lambda) = (0.5, 3.0);
    let (x0, p0, tau) = (0.4, -1.3, 1.7);
    let (mut x, mut p) = (x0, p0);
    laplace_flow(&mut x, &mut p, inv_m, lambda, tau);
    let (mut xn, mut pn) = (x0, p0);
    let h = 1e-6;
    for _ in 0..(tau / h).round() as usize {
        pn -= 0.5 * h * lambda * xn.signum();
        xn += h * inv_m * pn;
        pn -= 0.5 * h * lambda * xn.signum();
    }
    assert!(
        (x - xn).abs() < 1e-4 && (p - pn).abs() < 1e-4,
        "{x} {p} vs {xn} {pn}"
    );
}
