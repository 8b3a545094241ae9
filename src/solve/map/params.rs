//! MAP solver settings: a builder whose setters document their defaults, checked once into a
//! validated type before any fitting (as linfa's `ParamGuard` does).

use crate::base::error::{Error, Result};

/// Unchecked MAP settings; call [`MapParams::check`] to get [`ValidMapParams`].
#[derive(Clone, Debug)]
pub struct MapParams {
    prior_scale: f64,
    kkt_tol: f64,
    max_iter: usize,
}

impl Default for MapParams {
    fn default() -> Self {
        MapParams {
            prior_scale: 0.1,
            kkt_tol: 1e-4,
            max_iter: 20_000,
        }
    }
}

impl MapParams {
    /// The paper's settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scale b of the Laplace(0, b) prior; the L1 penalty is (1/b)·‖w‖₁. Default 0.1 (the paper).
    pub fn prior_scale(mut self, b: f64) -> Self {
        self.prior_scale = b;
        self
    }

    /// Stop a fit when its KKT violation (max over features, on the summed log-loss scale) is at
    /// most this. Default 1e-4.
    pub fn kkt_tol(mut self, tol: f64) -> Self {
        self.kkt_tol = tol;
        self
    }

    /// Proximal-gradient iterations allowed per fit. Default 20,000.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }

    /// Validates the settings.
    pub fn check(self) -> Result<ValidMapParams> {
        if !(self.prior_scale.is_finite() && self.prior_scale > 0.0) {
            return Err(Error::Setting {
                name: "prior_scale",
                message: format!("must be a positive number, got {}", self.prior_scale),
            });
        }
        if !(self.kkt_tol.is_finite() && self.kkt_tol > 0.0) {
            return Err(Error::Setting {
                name: "kkt_tol",
                message: format!("must be a positive number, got {}", self.kkt_tol),
            });
        }
        if self.max_iter == 0 {
            return Err(Error::Setting {
                name: "max_iter",
                message: "must be at least 1".into(),
            });
        }
        Ok(ValidMapParams(self))
    }
}

/// MAP settings that passed [`MapParams::check`].
#[derive(Clone, Debug)]
pub struct ValidMapParams(MapParams);

impl ValidMapParams {
    /// The L1 penalty weight λ = 1/b.
    pub fn lambda(&self) -> f64 {
        1.0 / self.0.prior_scale
    }
    /// Prior scale b.
    pub fn prior_scale(&self) -> f64 {
        self.0.prior_scale
    }
    /// KKT tolerance.
    pub fn kkt_tol(&self) -> f64 {
        self.0.kkt_tol
    }
    /// Iteration cap per fit.
    pub fn max_iter(&self) -> usize {
        self.0.max_iter
    }
}
