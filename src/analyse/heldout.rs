//! Held-out accuracy and log-loss: each fold's model predicts the tenth of its group it left
//! out, as the paper reports (about 80% for most judges; human 78.12%, GPT-4-Turbo 86.79%).

use super::tables::SCENARIO_MEAN;
use crate::base::features::{MAX_K, SCENARIO_GROUPS};
use crate::base::logistic::sigmoid;
use crate::design::BatchDesign;
use crate::load::Dataset;

/// One fit's predictions of its left-out rows.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct HeldOut {
    /// Left-out rows predicted.
    pub n: usize,
    /// Rows whose label the model got right (P("A") > 0.5 predicts "A"; a tie predicts "B",
    /// as the paper's labelling breaks ties).
    pub correct: usize,
    /// Σ of −log P(label).
    pub log_loss_sum: f64,
}

impl HeldOut {
    /// Share predicted right.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.n as f64
    }
    /// Mean log-loss (nats).
    pub fn log_loss(&self) -> f64 {
        self.log_loss_sum / self.n as f64
    }
    fn add(&mut self, o: &HeldOut) {
        self.n += o.n;
        self.correct += o.correct;
        self.log_loss_sum += o.log_loss_sum;
    }
}

/// Predictions of every fit with a left-out fold (`None` for whole-group fits).
pub fn held_out(
    design: &BatchDesign,
    data: &Dataset,
    weights: &[[f64; MAX_K]],
) -> Vec<Option<HeldOut>> {
    design
        .fits
        .iter()
        .zip(weights)
        .map(|(fit, w)| {
            let fold = fit.fold?;
            let g = &design.groups[fit.group];
            let judge = &data.judges[fit.judge];
            let mut h = HeldOut::default();
            for (r, &out) in g.held_out[fold as usize].iter().enumerate() {
                // Pairs the judge did not label are in none of its fits, held-out ones included.
                if !out || !judge.has_label(g.samples[r]) {
                    continue;
                }
                let z: f64 = g.row(r).iter().zip(w).map(|(&x, &wk)| x as f64 * wk).sum();
                let p = sigmoid(z);
                let a = judge.prefers_a[g.samples[r]];
                h.n += 1;
                h.correct += ((p > 0.5) == a) as usize;
                // −log σ(±z) without cancellation.
                let margin = if a { z } else { -z };
                h.log_loss_sum += crate::base::logistic::softplus(-margin);
            }
            Some(h)
        })
        .collect()
}

/// Pooled over folds per (judge, group), then per judge over the scenario groups (each sample
/// predicted once, by its scenario's model): `(judge, group or "scenarios", pooled)`.
pub fn pooled(
    design: &BatchDesign,
    data: &Dataset,
    per_fit: &[Option<HeldOut>],
) -> Vec<(usize, String, HeldOut)> {
    let nj = data.judges.len();
    let mut by_model = vec![HeldOut::default(); nj * design.groups.len()];
    for (fit, h) in design.fits.iter().zip(per_fit) {
        if let Some(h) = h {
            by_model[fit.group * nj + fit.judge].add(h);
        }
    }
    let mut out = Vec::new();
    for (g, group) in design.groups.iter().enumerate() {
        for j in 0..nj {
            let h = by_model[g * nj + j];
            if h.n > 0 {
                out.push((j, group.name.clone(), h));
            }
        }
    }
    for j in 0..nj {
        let mut h = HeldOut::default();
        for (g, group) in design.groups.iter().enumerate() {
            if SCENARIO_GROUPS.contains(&group.name.as_str()) {
                h.add(&by_model[g * nj + j]);
            }
        }
        if h.n > 0 {
            out.push((j, SCENARIO_MEAN.to_string(), h));
        }
    }
    out
}
