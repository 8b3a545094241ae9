//! The quantities users read off a fit, computed per replicate so that their intervals carry
//! the joint uncertainty of all weights: a judge's probability of preferred averaged over the
//! scenario groups, and judge-vs-judge similarity (the paper's Pearson averaged over them).

use crate::analyse::{pearson, probability_of_preferred};
use crate::features::N_FEATURES;

/// Where the derived statistics sit in one replicate's derived vector.
#[derive(Clone, Debug)]
pub struct DerivedLayout {
    /// Judges.
    pub judges: usize,
    /// Indices of the selected groups that are scenario groups (the paper averages over these).
    pub scenarios: Vec<usize>,
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

    /// Length of one replicate's derived vector: J × 29 scenario means of the probability of
    /// preferred, then one similarity per pair. Empty without a scenario group.
    pub fn len(&self) -> usize {
        if self.scenarios.is_empty() {
            return 0;
        }
        self.judges * N_FEATURES + self.judges * (self.judges - 1) / 2
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
        let weights = |g: usize, judge: usize| -> Vec<f64> {
            w(g * j + judge).iter().map(|&v| v as f64).collect()
        };
        for judge in 0..j {
            for k in 0..N_FEATURES {
                let sum: f64 = self
                    .scenarios
                    .iter()
                    .map(|&g| probability_of_preferred(w(g * j + judge)[k] as f64))
                    .sum();
                out.push(sum / self.scenarios.len() as f64);
            }
        }
        let per_group: Vec<Vec<Vec<f64>>> = self
            .scenarios
            .iter()
            .map(|&g| (0..j).map(|judge| weights(g, judge)).collect())
            .collect();
        for (a, b) in self.pairs() {
            // Pearson is undefined for a constant vector (e.g. an all-zero MAP); such a
            // scenario is left out of the mean, and a pair with none left is NaN.
            let rs: Vec<f64> = per_group
                .iter()
                .map(|g| pearson(&g[a], &g[b]))
                .filter(|r| r.is_finite())
                .collect();
            out.push(if rs.is_empty() {
                f64::NAN
            } else {
                rs.iter().sum::<f64>() / rs.len() as f64
            });
        }
        out
    }
}
