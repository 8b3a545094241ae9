//! Posterior-sampling settings: a builder whose setters document their defaults (the paper's
//! numpyro settings), checked once into a validated type before sampling.

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::mcmc::Definition;
use crate::design::LANES;

/// What moves the particle along an HMC trajectory. Both leave the posterior exactly invariant
/// (the accept test always uses the true potential); they differ in cost and in how well the
/// proposals are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Trajectory {
    /// Leapfrog steps with the true loss gradient: L gradient passes of the kernel per
    /// iteration.
    Exact,
    /// Leapfrog steps with each lane's quadratic model of the loss (`surrogate.rs`): one
    /// forward pass of the kernel per iteration (a gradient pass with control variates).
    Surrogate,
}

/// Unchecked sampler settings; call [`HmcParams::check`].
#[derive(Clone, Debug)]
pub struct HmcParams {
    chains: usize,
    warmup: usize,
    draws: usize,
    leapfrog_steps: usize,
    target_accept: f64,
    seed: u64,
    prior_scale: f64,
    mcse_target: Option<f64>,
    check_every: usize,
    control_variates: bool,
    trajectory: Trajectory,
    diagnostics: Definition,
}

impl Default for HmcParams {
    fn default() -> Self {
        HmcParams {
            chains: 4,
            warmup: 500,
            draws: 2000,
            leapfrog_steps: 5,
            target_accept: 0.8,
            seed: 0,
            prior_scale: 0.1,
            mcse_target: None,
            check_every: 250,
            control_variates: false,
            trajectory: Trajectory::Surrogate,
            diagnostics: Definition::Numpyro,
        }
    }
}

impl HmcParams {
    /// The paper's settings (4 chains, 500 warm-up, 2,000 draws, seed 0, Laplace(0, 0.1)).
    pub fn new() -> Self {
        Self::default()
    }
    /// Markov chains per fit, 1–16 (lanes of one block). Default 4.
    pub fn chains(mut self, n: usize) -> Self {
        self.chains = n;
        self
    }
    /// Warm-up (adaptation) iterations per chain, discarded. Default 500.
    pub fn warmup(mut self, n: usize) -> Self {
        self.warmup = n;
        self
    }
    /// Kept draws per chain. Default 2,000.
    pub fn draws(mut self, n: usize) -> Self {
        self.draws = n;
        self
    }
    /// Mean leapfrog steps per HMC iteration (all lanes take them in lock-step; the count is
    /// drawn uniformly from 1..=2L−1 each iteration). Default 5: on the dev data it gives a
    /// Monte-Carlo error equal to numpyro's NUTS with the paper's draws.
    pub fn leapfrog_steps(mut self, n: usize) -> Self {
        self.leapfrog_steps = n;
        self
    }
    /// Acceptance rate the step-size adaptation aims at. Default 0.8 (Stan, numpyro).
    pub fn target_accept(mut self, a: f64) -> Self {
        self.target_accept = a;
        self
    }
    /// Seed of the chains' random numbers. Default 0.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Scale b of the Laplace(0, b) prior. Default 0.1 (the paper).
    pub fn prior_scale(mut self, b: f64) -> Self {
        self.prior_scale = b;
        self
    }

    /// Stop sampling a block early once every weight of every fit in it has a Monte-Carlo
    /// standard error at most this (checked every `check_every` draws; `draws` stays the cap).
    /// Default: off (always `draws` draws, as the paper).
    pub fn mcse_target(mut self, target: Option<f64>) -> Self {
        self.mcse_target = target;
        self
    }
    /// Estimate each posterior mean with zero-variance control variates (the score ∇log π and a
    /// term for the prior's kink, both of mean zero under the posterior, regressed out of the
    /// draws; `control_variates.rs`) instead of the plain mean of the draws. The same draws give
    /// a far smaller Monte-Carlo error. Default: off (the paper's plain mean).
    pub fn control_variates(mut self, on: bool) -> Self {
        self.control_variates = on;
        self
    }
    /// What moves the particle between accept tests. Default [`Trajectory::Surrogate`]: on
    /// the dev data it accepts as often and mixes as fast as [`Trajectory::Exact`] at a
    /// fraction of the kernel work.
    pub fn trajectory(mut self, t: Trajectory) -> Self {
        self.trajectory = t;
        self
    }
    /// Which R-hat and ESS each weight's summary reports ([`Definition`]). Default
    /// [`Definition::Numpyro`] (the paper's authors' numpyro figures, no sort);
    /// [`Definition::RankNormalised`] gives Stan's and ArviZ's at several times the cost.
    pub fn diagnostics(mut self, d: Definition) -> Self {
        self.diagnostics = d;
        self
    }
    /// Draws between two early-stopping checks. Default 250.
    pub fn check_every(mut self, n: usize) -> Self {
        self.check_every = n;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<ValidHmcParams> {
        let bad = |name: &'static str, message: String| Err(Error::Setting { name, message });
        if self.chains == 0 || self.chains > LANES {
            return bad(
                "chains",
                format!("must be 1..={LANES}, got {}", self.chains),
            );
        }
        if self.draws < 4 {
            return bad("draws", format!("must be at least 4, got {}", self.draws));
        }
        if self.leapfrog_steps == 0 {
            return bad("leapfrog_steps", "must be at least 1".into());
        }
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return bad(
                "target_accept",
                format!("must be in (0, 1), got {}", self.target_accept),
            );
        }
        if !(self.prior_scale.is_finite() && self.prior_scale > 0.0) {
            return bad(
                "prior_scale",
                format!("must be a positive number, got {}", self.prior_scale),
            );
        }
        if let Some(t) = self.mcse_target
            && !(t.is_finite() && t > 0.0)
        {
            return bad("mcse_target", format!("must be a positive number, got {t}"));
        }
        if self.check_every < 4 || !self.check_every.is_multiple_of(2) {
            return bad(
                "check_every",
                format!("must be an even number ≥ 4, got {}", self.check_every),
            );
        }
        Ok(ValidHmcParams(self))
    }
}

/// Sampler settings that passed [`HmcParams::check`].
#[derive(Clone, Debug)]
pub struct ValidHmcParams(HmcParams);

impl ValidHmcParams {
    /// Chains per fit.
    pub fn chains(&self) -> usize {
        self.0.chains
    }
    /// Warm-up iterations.
    pub fn warmup(&self) -> usize {
        self.0.warmup
    }
    /// Kept draws per chain.
    pub fn draws(&self) -> usize {
        self.0.draws
    }
    /// Leapfrog steps per iteration.
    pub fn leapfrog_steps(&self) -> usize {
        self.0.leapfrog_steps
    }
    /// Target acceptance.
    pub fn target_accept(&self) -> f64 {
        self.0.target_accept
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }
    /// Prior scale b.
    pub fn prior_scale(&self) -> f64 {
        self.0.prior_scale
    }
    /// Early-stopping MCSE target, if any.
    pub fn mcse_target(&self) -> Option<f64> {
        self.0.mcse_target
    }
    /// Draws between early-stopping checks.
    pub fn check_every(&self) -> usize {
        self.0.check_every
    }
    /// Whether means are estimated with control variates.
    pub fn control_variates(&self) -> bool {
        self.0.control_variates
    }
    /// What moves the particle between accept tests.
    pub fn trajectory(&self) -> Trajectory {
        self.0.trajectory
    }
    /// Which R-hat and ESS the summaries report.
    pub fn diagnostics(&self) -> Definition {
        self.0.diagnostics
    }
    /// L1 weight λ = 1/b of the potential.
    pub fn lambda(&self) -> f64 {
        1.0 / self.0.prior_scale
    }
}
