//! Warm-up adaptation as Stan and numpyro do it: step size by dual averaging (Hoffman & Gelman
//! 2014) and a diagonal mass matrix from the draws' variance in doubling slow windows.

/// Nesterov dual averaging of log step size towards a target acceptance rate.
#[derive(Clone, Debug)]
pub struct DualAveraging {
    mu: f64,
    h_bar: f64,
    log_eps_bar: f64,
    count: f64,
    target: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    /// Starts (or restarts) around step size `eps`: μ = ln(10·ε).
    pub fn new(eps: f64, target: f64) -> Self {
        DualAveraging {
            mu: (10.0 * eps).ln(),
            h_bar: 0.0,
            log_eps_bar: 0.0,
            count: 0.0,
            target,
        }
    }

    /// Takes one acceptance probability; returns the step size to use next.
    pub fn update(&mut self, accept_prob: f64) -> f64 {
        self.count += 1.0;
        let t = self.count + Self::T0;
        self.h_bar = (1.0 - 1.0 / t) * self.h_bar + (self.target - accept_prob) / t;
        let log_eps = self.mu - self.count.sqrt() / Self::GAMMA * self.h_bar;
        let w = self.count.powf(-Self::KAPPA);
        self.log_eps_bar = w * log_eps + (1.0 - w) * self.log_eps_bar;
        log_eps.exp()
    }

    /// The averaged step size, used once warm-up ends.
    pub fn final_step_size(&self) -> f64 {
        self.log_eps_bar.exp()
    }
}

/// Running mean and variance (Welford), per coordinate.
#[derive(Clone, Debug)]
pub struct Welford<const D: usize> {
    n: f64,
    mean: [f64; D],
    m2: [f64; D],
}

impl<const D: usize> Default for Welford<D> {
    fn default() -> Self {
        Welford {
            n: 0.0,
            mean: [0.0; D],
            m2: [0.0; D],
        }
    }
}

impl<const D: usize> Welford<D> {
    /// Adds one draw.
    pub fn add(&mut self, x: &[f64; D]) {
        self.n += 1.0;
        for k in 0..D {
            let d = x[k] - self.mean[k];
            self.mean[k] += d / self.n;
            self.m2[k] += d * (x[k] - self.mean[k]);
        }
    }

    /// The mean of the draws added.
    pub fn mean(&self) -> [f64; D] {
        self.mean
    }

    /// Stan's regularised variance: (n/(n+5))·var + 1e-3·(5/(n+5)).
    pub fn regularised_variance(&self) -> [f64; D] {
        let n = self.n;
        let mut v = [0f64; D];
        for k in 0..D {
            let var = if n > 1.0 { self.m2[k] / (n - 1.0) } else { 0.0 };
            v[k] = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0));
        }
        v
    }
}

/// Stan's warm-up schedule: a fast initial buffer, slow windows that double in length (where the
/// mass matrix is estimated), a fast terminal buffer.
#[derive(Clone, Debug)]
pub struct WarmupSchedule {
    /// Slow windows `[start, end)` in warm-up iterations.
    pub windows: Vec<(usize, usize)>,
}

impl WarmupSchedule {
    /// Schedule for `warmup` iterations (75 / 25-doubling / 50, shrunk for short warm-ups).
    pub fn new(warmup: usize) -> Self {
        let mut windows = Vec::new();
        if warmup >= 20 {
            let (init, term, base) = if 75 + 50 + 25 > warmup {
                let init = (0.15 * warmup as f64) as usize;
                let term = (0.1 * warmup as f64) as usize;
                (init, term, warmup - init - term)
            } else {
                (75, 50, 25)
            };
            let last = warmup - term;
            let (mut start, mut size) = (init, base);
            while start < last {
                let mut end = start + size;
                if end + 2 * size > last {
                    end = last;
                }
                windows.push((start, end));
                start = end;
                size *= 2;
            }
        }
        WarmupSchedule { windows }
    }

    /// Whether iteration `it` falls in a slow window.
    pub fn in_window(&self, it: usize) -> bool {
        self.windows.iter().any(|&(s, e)| it >= s && it < e)
    }

    /// Whether iteration `it` closes a slow window.
    pub fn closes_window(&self, it: usize) -> bool {
        self.windows.iter().any(|&(_, e)| it + 1 == e)
    }
}
