//! Reranker training settings: a builder whose setters document their defaults, checked once
//! into [`ValidRerankParams`] before any training.

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};

/// Unchecked reranker settings; [`RerankParams::check`] validates them.
#[derive(Clone, Debug)]
pub struct RerankParams {
    buckets: usize,
    embed: usize,
    hidden: usize,
    steps: usize,
    learning_rate: f64,
    l2: f64,
    seed: u64,
}

impl Default for RerankParams {
    fn default() -> Self {
        RerankParams {
            buckets: 1024,
            embed: 8,
            hidden: 16,
            steps: 300,
            learning_rate: 0.02,
            l2: 1e-4,
            seed: 0,
        }
    }
}

impl RerankParams {
    /// Defaults: 1,024 buckets, 8-dim embedding bag, 16 hidden units, 300 full-batch Adam steps
    /// at learning rate 0.02, L2 1e-4, seed 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// Hash buckets of the word/bigram bag. Default 1,024.
    pub fn buckets(mut self, b: usize) -> Self {
        self.buckets = b;
        self
    }
    /// Width of the embedding bag. Default 8.
    pub fn embed(mut self, e: usize) -> Self {
        self.embed = e;
        self
    }
    /// Hidden units of the MLP. Default 16.
    pub fn hidden(mut self, h: usize) -> Self {
        self.hidden = h;
        self
    }
    /// Full-batch Adam steps. Default 300.
    pub fn steps(mut self, s: usize) -> Self {
        self.steps = s;
        self
    }
    /// Adam's learning rate. Default 0.02.
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.learning_rate = lr;
        self
    }
    /// L2 penalty per model on all its weights (sum of squares, times this). Default 1e-4.
    pub fn l2(mut self, l2: f64) -> Self {
        self.l2 = l2;
        self
    }
    /// Seed of the initial weights (each model's stream is keyed by its name as well). Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the settings.
    pub fn check(self) -> Result<ValidRerankParams> {
        let bad = |name: &'static str, message: String| Err(Error::Setting { name, message });
        if !(16..=1 << 20).contains(&self.buckets) {
            return bad(
                "buckets",
                format!("must be in 16..=1048576, got {}", self.buckets),
            );
        }
        if !(1..=256).contains(&self.embed) {
            return bad("embed", format!("must be in 1..=256, got {}", self.embed));
        }
        if !(1..=1024).contains(&self.hidden) {
            return bad(
                "hidden",
                format!("must be in 1..=1024, got {}", self.hidden),
            );
        }
        if self.steps == 0 {
            return bad("steps", "must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad(
                "learning-rate",
                format!("must be in (0, 1], got {}", self.learning_rate),
            );
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return bad("l2", format!("must be finite and ≥ 0, got {}", self.l2));
        }
        Ok(ValidRerankParams {
            buckets: self.buckets,
            embed: self.embed,
            hidden: self.hidden,
            steps: self.steps,
            learning_rate: self.learning_rate,
            l2: self.l2,
            seed: self.seed,
        })
    }
}

/// Checked settings; saved with a trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidRerankParams {
    /// Hash buckets.
    pub buckets: usize,
    /// Embedding width.
    pub embed: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Adam steps.
    pub steps: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// L2 penalty.
    pub l2: f64,
    /// Seed.
    pub seed: u64,
}
