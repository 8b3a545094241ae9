//! Run settings from `configs/*.json`, overridable by command-line flags.
//!
//! A config file may set any subset of the fields; unknown fields are an error naming the field,
//! so a typo never silently falls back to a default.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::mcmc::Definition;
use crate::solve::map::MapParams;
use crate::solve::map::ValidMapParams;
use crate::solve::posterior::{HmcParams, Trajectory, ValidHmcParams};

/// Which estimate of the weights a fit reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Estimator {
    /// The paper's estimate: the posterior mean under the Laplace prior, by batched HMC.
    PosteriorMean,
    /// The Laplace-prior MAP (L1-penalised logistic regression), by batched FISTA.
    Map,
}

/// Settings of a `fit` run; every field optional in a file.
///
/// The same struct is the command line's settings flags, so a file and the flags cannot drift.
#[derive(Clone, Debug, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// Estimator [default: posterior-mean].
    #[arg(long, value_enum)]
    pub estimator: Option<Estimator>,
    /// Folds per (judge, group); 1 fits the whole group [default: 10, the paper's].
    #[arg(long)]
    pub folds: Option<usize>,
    /// Seed of numpy's legacy shuffle that cuts the folds [default: 0, the paper's].
    #[arg(long)]
    pub fold_seed: Option<u32>,
    /// Scale b of the Laplace(0, b) prior [default: 0.1, the paper's].
    #[arg(long)]
    pub prior_scale: Option<f64>,
    /// KKT tolerance of the MAP solver [default: 1e-4].
    #[arg(long)]
    pub kkt_tol: Option<f64>,
    /// Iteration cap per fit of the MAP solver [default: 20000].
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// Markov chains per fit [default: 4, the paper's].
    #[arg(long)]
    pub chains: Option<usize>,
    /// Warm-up iterations per chain [default: 500, the paper's].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Kept draws per chain [default: 2000, the paper's].
    #[arg(long)]
    pub draws: Option<usize>,
    /// Leapfrog steps per HMC iteration [default: 5].
    #[arg(long)]
    pub leapfrog_steps: Option<usize>,
    /// Acceptance rate the step-size adaptation targets [default: 0.8].
    #[arg(long)]
    pub target_accept: Option<f64>,
    /// Seed of the Markov chains [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop sampling a block once every weight's MCSE is at most this; `draws` is the cap
    /// [default: off, always `draws` draws].
    #[arg(long)]
    pub mcse_target: Option<f64>,
    /// Draws between two early-stopping checks [default: 250].
    #[arg(long)]
    pub check_every: Option<usize>,
    /// Estimate posterior means with zero-variance control variates (`true`/`false`)
    /// [default: false, the paper's plain mean of the draws].
    #[arg(long)]
    pub control_variates: Option<bool>,
    /// What moves an HMC trajectory: `surrogate` (each fit's quadratic model of the loss; the
    /// accept test uses the true one) or `exact` (the true gradient at every leapfrog step)
    /// [default: surrogate].
    #[arg(long, value_enum)]
    pub trajectory: Option<Trajectory>,
    /// Which R-hat and ESS each weight reports: `numpyro` (numpyro's split R-hat and ESS on the
    /// raw draws, as the paper's authors' summaries) or `rank-normalised` (Vehtari et al. 2021,
    /// as Stan and ArviZ; adds the folded tail R-hat, several times the cost) [default: numpyro].
    #[arg(long, value_enum)]
    pub diagnostics: Option<Definition>,
}

/// The settings files of `configs/`, built into the binary so that commands (the demo) and
/// bindings can name them without the repository at hand.
pub const PRESETS: [(&str, &str); 3] = [
    ("paper", include_str!("../../configs/paper.json")),
    ("fast", include_str!("../../configs/fast.json")),
    ("map", include_str!("../../configs/map.json")),
];

impl FitConfig {
    /// The settings of `configs/<name>.json` (`paper`, `fast` or `map`), as built in.
    pub fn preset(name: &str) -> Result<FitConfig> {
        let (_, text) = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::Setting {
                name: "config",
                message: format!("no preset `{name}` (have: paper, fast, map)"),
            })?;
        Ok(serde_json::from_str(text).expect("configs/*.json parse (tested)"))
    }

    /// Reads a config file.
    pub fn read(path: &Path) -> Result<FitConfig> {
        let text = crate::base::text::read_text(path)?;
        serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: format!("line {}: {e}", e.line()),
        })
    }

    /// The settings of a run: the file's (when given) with every field `flags` sets replaced.
    pub fn load(file: Option<&Path>, flags: &FitConfig) -> Result<FitConfig> {
        let base = match file {
            Some(path) => FitConfig::read(path)?,
            None => FitConfig::default(),
        };
        Ok(base.overridden_by(flags))
    }

    /// `self` with every field that `over` sets replaced.
    pub fn overridden_by(self, over: &FitConfig) -> FitConfig {
        FitConfig {
            estimator: over.estimator.or(self.estimator),
            folds: over.folds.or(self.folds),
            fold_seed: over.fold_seed.or(self.fold_seed),
            prior_scale: over.prior_scale.or(self.prior_scale),
            kkt_tol: over.kkt_tol.or(self.kkt_tol),
            max_iter: over.max_iter.or(self.max_iter),
            chains: over.chains.or(self.chains),
            warmup: over.warmup.or(self.warmup),
            draws: over.draws.or(self.draws),
            leapfrog_steps: over.leapfrog_steps.or(self.leapfrog_steps),
            target_accept: over.target_accept.or(self.target_accept),
            seed: over.seed.or(self.seed),
            mcse_target: over.mcse_target.or(self.mcse_target),
            check_every: over.check_every.or(self.check_every),
            control_variates: over.control_variates.or(self.control_variates),
            trajectory: over.trajectory.or(self.trajectory),
            diagnostics: over.diagnostics.or(self.diagnostics),
        }
    }
}

/// Validated settings of either estimator, checked once before any fitting.
#[derive(Clone, Debug)]
pub enum EstimatorSettings {
    /// Posterior mean by batched HMC.
    Posterior(ValidHmcParams),
    /// Laplace-prior MAP by batched FISTA.
    Map(ValidMapParams),
}

impl EstimatorSettings {
    /// The settings as recorded in `summary.json` files.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            EstimatorSettings::Map(m) => serde_json::json!({"estimator": "map",
                "prior_scale": m.prior_scale(), "kkt_tol": m.kkt_tol(), "max_iter": m.max_iter()}),
            EstimatorSettings::Posterior(h) => serde_json::json!({"estimator": "posterior-mean",
                "prior_scale": h.prior_scale(), "chains": h.chains(), "warmup": h.warmup(),
                "draws": h.draws(), "leapfrog_steps": h.leapfrog_steps(),
                "target_accept": h.target_accept(), "seed": h.seed(),
                "mcse_target": h.mcse_target(), "check_every": h.check_every(),
                "control_variates": h.control_variates(), "trajectory": h.trajectory(),
                "diagnostics": h.diagnostics()}),
        }
    }
}

impl FitConfig {
    /// The estimator's validated settings; `default` applies when no estimator is set.
    pub fn estimator_settings(&self, default: Estimator) -> Result<EstimatorSettings> {
        let cfg = self;
        let b = cfg.prior_scale.unwrap_or(0.1);
        Ok(match cfg.estimator.unwrap_or(default) {
            Estimator::PosteriorMean => {
                let mut p = HmcParams::new().prior_scale(b);
                if let Some(v) = cfg.chains {
                    p = p.chains(v);
                }
                if let Some(v) = cfg.warmup {
                    p = p.warmup(v);
                }
                if let Some(v) = cfg.draws {
                    p = p.draws(v);
                }
                if let Some(v) = cfg.leapfrog_steps {
                    p = p.leapfrog_steps(v);
                }
                if let Some(v) = cfg.target_accept {
                    p = p.target_accept(v);
                }
                if let Some(v) = cfg.seed {
                    p = p.seed(v);
                }
                p = p.mcse_target(cfg.mcse_target);
                if let Some(v) = cfg.check_every {
                    p = p.check_every(v);
                }
                if let Some(v) = cfg.control_variates {
                    p = p.control_variates(v);
                }
                if let Some(v) = cfg.trajectory {
                    p = p.trajectory(v);
                }
                if let Some(v) = cfg.diagnostics {
                    p = p.diagnostics(v);
                }
                EstimatorSettings::Posterior(p.check()?)
            }
            Estimator::Map => {
                let mut p = MapParams::new().prior_scale(b);
                if let Some(t) = cfg.kkt_tol {
                    p = p.kkt_tol(t);
                }
                if let Some(m) = cfg.max_iter {
                    p = p.max_iter(m);
                }
                EstimatorSettings::Map(p.check()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_preset_parses_into_valid_settings() {
        for (name, _) in PRESETS {
            let c = FitConfig::preset(name).unwrap();
            let s = c.estimator_settings(Estimator::PosteriorMean).unwrap();
            assert_eq!(
                matches!(s, EstimatorSettings::Map(_)),
                name == "map",
                "{name}"
            );
        }
        assert!(FitConfig::preset("fastest").is_err());
    }
}
