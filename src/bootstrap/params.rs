//! Bootstrap settings: a builder whose setters document their defaults, checked once into
//! [`ValidBootstrapParams`] before any fitting.

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};

/// How a replicate resamples the rows of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Resampling {
    /// n draws with replacement from the n rows (the classic bootstrap).
    Multinomial,
    /// An independent Poisson(1) count per row (the "Poisson bootstrap": rows are resampled
    /// independently, so a replicate's size varies around n).
    Poisson,
    /// Every count 1: each replicate is the plain fit (a check of the machinery, not a
    /// bootstrap).
    #[value(hide = true)]
    Ones,
}

/// Unchecked bootstrap settings; [`BootstrapParams::check`] validates them. (Serialised in a
/// shard's manifest, so `merge` can redo the run's outputs.)
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapParams {
    replicates: usize,
    resampling: Resampling,
    level: f64,
    bca: bool,
    jackknife_groups: usize,
    memory_budget: u64,
    seed: u64,
}

impl Default for BootstrapParams {
    fn default() -> Self {
        BootstrapParams {
            replicates: 1000,
            resampling: Resampling::Multinomial,
            level: 0.95,
            bca: false,
            jackknife_groups: 20,
            memory_budget: 1 << 30,
            seed: 0,
        }
    }
}

impl BootstrapParams {
    /// Defaults: 1,000 multinomial replicates, 95% percentile intervals, 1 GiB, seed 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// Replicates per (judge, group) model. Default 1,000.
    pub fn replicates(mut self, r: usize) -> Self {
        self.replicates = r;
        self
    }
    /// Resampling scheme. Default multinomial.
    pub fn resampling(mut self, s: Resampling) -> Self {
        self.resampling = s;
        self
    }
    /// Coverage of the intervals, in (0, 1). Default 0.95.
    pub fn level(mut self, level: f64) -> Self {
        self.level = level;
        self
    }
    /// Also compute BCa intervals (costs `jackknife_groups` extra fits per model). Default off.
    pub fn bca(mut self, on: bool) -> Self {
        self.bca = on;
        self
    }
    /// Groups of the delete-a-group jackknife that estimates the BCa acceleration. Default 20.
    pub fn jackknife_groups(mut self, g: usize) -> Self {
        self.jackknife_groups = g;
        self
    }
    /// Bytes the replicates in flight and the kept results may use. Default 1 GiB.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = bytes;
        self
    }
    /// Seed of the resampling (and of the sampler's chains). Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<ValidBootstrapParams> {
        if self.replicates < 2 {
            return Err(Error::Setting {
                name: "replicates",
                message: format!("must be at least 2, got {}", self.replicates),
            });
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::Setting {
                name: "level",
                message: format!("must be strictly between 0 and 1, got {}", self.level),
            });
        }
        if self.jackknife_groups < 2 {
            return Err(Error::Setting {
                name: "jackknife_groups",
                message: format!("must be at least 2, got {}", self.jackknife_groups),
            });
        }
        if self.memory_budget == 0 {
            return Err(Error::Setting {
                name: "memory_budget",
                message: "must be positive".into(),
            });
        }
        Ok(ValidBootstrapParams(self))
    }
}

/// Bootstrap settings that passed [`BootstrapParams::check`].
#[derive(Clone, Debug)]
pub struct ValidBootstrapParams(BootstrapParams);

impl ValidBootstrapParams {
    /// The settings as a JSON object ([`BootstrapParams`]' fields).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).expect("plain fields")
    }
    /// Replicates per model.
    pub fn replicates(&self) -> usize {
        self.0.replicates
    }
    /// Resampling scheme.
    pub fn resampling(&self) -> Resampling {
        self.0.resampling
    }
    /// Interval coverage.
    pub fn level(&self) -> f64 {
        self.0.level
    }
    /// Whether BCa intervals are computed.
    pub fn bca(&self) -> bool {
        self.0.bca
    }
    /// Jackknife groups for the BCa acceleration.
    pub fn jackknife_groups(&self) -> usize {
        self.0.jackknife_groups
    }
    /// Memory budget in bytes.
    pub fn memory_budget(&self) -> u64 {
        self.0.memory_budget
    }
    /// Resampling seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }
}

/// Parses a byte size such as `1GiB`, `512MiB`, `300MB`, `64k` or `1048576`.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 512MiB, 2GiB)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit `{other}` in `{text}`")),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("`{text}` is not a positive size"));
    }
    Ok(bytes as u64)
}
