//! The quantities users read off a fit, computed per replicate so that their intervals carry
//! the joint uncertainty of all weights: a judge's probability of preferred averaged over the
//! scenario groups, and judge-vs-judge similarity (the paper's Pearson averaged over them).

use crate::analyse::{mean_similarity, probability_of_preferred};
use crate::base::features::MAX_K;

/// Where the derived statistics sit in one replicate's derived vector.
#[derive(Clone, Debug)]
pub struct DerivedLayout {
    /// Judges.
    pub judges: usize,
    /// Indices of the selected groups that are scenario groups (the paper averages over these;
    /// a table's own groups, none of the paper's: all of them).
    pub scenarios: Vec<usize>,
    /// The properties K (the first K of each model's weight slots).
    pub k: usize,
}

impl DerivedLayout {
    /// Judge pairs (a < b) in the order their similarities are stored.
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for a in 0..self.judges {
            for b in a + 1..self.judges {
                out.push((a, b));
            }
        }
        out
    }

    /// Length of one replicate's derived vector: J × K scenario means of the probability of
    /// preferred, then one similarity per pair. Empty without a scenario group.
    pub fn len(&self) -> usize {
        if self.scenarios.is_empty() {
            return 0;
        }
        self.judges * self.k + self.judges * (self.judges - 1) / 2
    }

    /// Whether there is nothing derived (no scenario group selected).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The derived vector of one replicate; `w(m)` gives model m's weights (m = group · J +
    /// judge).
    pub fn compute<'w>(&self, w: impl Fn(usize) -> &'w [f32]) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        if self.is_empty() {
            return out;
        }
        let j = self.judges;
        for judge in 0..j {
            for k in 0..self.k {
                let sum: f64 = self
                    .scenarios
                    .iter()
                    .map(|&g| probability_of_preferred(w(g * j + judge)[k] as f64))
                    .sum();
                out.push(sum / self.scenarios.len() as f64);
            }
        }
        // Pearson r of two vectors is the dot product of their centred, unit-length versions:
        // standardise each (scenario, judge) once, then every pair is 29 multiply-adds. A
        // constant vector has no such version (r undefined): `None`.
        let unit: Vec<Option<[f64; MAX_K]>> = self
            .scenarios
            .iter()
            .flat_map(|&g| (0..j).map(move |judge| (g, judge)))
            .map(|(g, judge)| {
                let v = &w(g * j + judge)[..self.k];
                let mean = v.iter().map(|&x| x as f64).sum::<f64>() / self.k as f64;
                let mut z = [0f64; MAX_K];
                for k in 0..self.k {
                    z[k] = v[k] as f64 - mean;
                }
                let norm = z.iter().map(|x| x * x).sum::<f64>().sqrt();
                (norm > 0.0).then(|| z.map(|x| x / norm))
            })
            .collect();
        for (a, b) in self.pairs() {
            let rs =
                (0..self.scenarios.len()).map(|s| match (&unit[s * j + a], &unit[s * j + b]) {
                    (Some(x), Some(y)) => x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>(),
                    _ => f64::NAN,
                });
            out.push(mean_similarity(rs));
        }
        out
    }
}
