//! A small seeded generator (xoshiro256**, seeded by SplitMix64), so simulated data sets are
//! the same on every platform and every version of this crate.

/// Deterministic pseudo-random numbers.
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Two independent standard normals (both halves of one Box–Muller draw).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        (r * c, r * s)
    }

    /// Two independent standard normals by Marsaglia's polar method: no sin/cos (a fifth of the
    /// HMC sampler's momentum refresh otherwise), at the cost of rejecting 21% of the uniform
    /// pairs. A different stream from [`Rng::normal_pair`], which the simulator keeps so that
    /// simulated data sets do not change. The HMC sampler draws this stream for all lanes at
    /// once ([`Rng::polar_uniforms_lockstep`], then [`Rng::polar_factor`]); this one-pair form
    /// is its reference, and the normality test below holds it to N(0, 1).
    pub fn normal_pair_polar(&mut self) -> (f64, f64) {
        let (u, v, s) = self.polar_uniforms();
        let f = Self::polar_factor(s);
        (u * f, v * f)
    }

    /// The polar method's accepted point (u, v) in the unit disc and s = u² + v²: what
    /// [`Rng::normal_pair_polar`] draws; the pair is (u·f, v·f) with f = [`Rng::polar_factor`]
    /// of s. Apart, so that many pairs' factors can be computed together.
    #[inline]
    pub fn polar_uniforms(&mut self) -> (f64, f64, f64) {
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return (u, v, s);
            }
        }
    }

    /// [`Rng::polar_uniforms`] `pairs` times from each of the (at most `W`) generators, into
    /// row i < `pairs`, column g of `out`: the same points, each generator left where drawing
    /// them one at a time leaves it. The generators step side by side, one candidate each per
    /// round, a generator stopping once it has its pairs; a rejected candidate (a fifth of
    /// them, at random) costs a masked slot, not a mispredicted branch, and the generators'
    /// steps run as vector code. Drawn one generator at a time, the polar method's uniforms
    /// were over half of the HMC sampler's momentum refresh.
    pub fn polar_uniforms_lockstep<const W: usize>(
        rngs: &mut [Rng],
        pairs: usize,
        out: &mut PolarPoints<W>,
    ) {
        assert!(
            rngs.len() <= W && pairs <= MAX_PAIRS,
            "at most {W} generators, {MAX_PAIRS} pairs"
        );
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, level};
            // SAFETY (both arms): the CPU supports the features the functions are compiled for.
            match level() {
                Level::Avx512 => unsafe { return lockstep_avx512(rngs, pairs, out) },
                Level::Avx2 => unsafe { return lockstep_avx2(rngs, pairs, out) },
                Level::Portable => {}
            }
        }
        lockstep_body(rngs, pairs, out);
    }

    /// √(−2·ln s / s): the polar method's factor for an accepted s.
    #[inline]
    pub fn polar_factor(s: f64) -> f64 {
        (-2.0 * s.ln() / s).sqrt()
    }

    /// Uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// The most pairs [`Rng::polar_uniforms_lockstep`] draws per generator (one per two features).
pub const MAX_PAIRS: usize = crate::base::features::MAX_K / 2;

/// Accepted polar-method points of up to `W` generators, as
/// [`Rng::polar_uniforms_lockstep`] leaves them: row i, column g is generator g's i-th point
/// (u, v) and s = u² + v². One row past the most pairs takes the rejected candidates.
pub struct PolarPoints<const W: usize> {
    /// First coordinates.
    pub u: [[f64; W]; MAX_PAIRS + 1],
    /// Second coordinates.
    pub v: [[f64; W]; MAX_PAIRS + 1],
    /// u² + v².
    pub s: [[f64; W]; MAX_PAIRS + 1],
}

impl<const W: usize> Default for PolarPoints<W> {
    fn default() -> Self {
        let zero = [[0.0; W]; MAX_PAIRS + 1];
        PolarPoints {
            u: zero,
            v: zero,
            s: zero,
        }
    }
}

/// The same integer and IEEE operations as the baseline build (the same bits), the
/// generators' steps eight (or four) at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn lockstep_avx512<const W: usize>(
    rngs: &mut [Rng],
    pairs: usize,
    out: &mut PolarPoints<W>,
) {
    lockstep_body(rngs, pairs, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lockstep_avx2<const W: usize>(rngs: &mut [Rng], pairs: usize, out: &mut PolarPoints<W>) {
    lockstep_body(rngs, pairs, out);
}

#[inline(always)]
fn lockstep_body<const W: usize>(rngs: &mut [Rng], pairs: usize, out: &mut PolarPoints<W>) {
    let n = rngs.len();
    let mut st = [[0u64; W]; 4];
    for (g, r) in rngs.iter().enumerate() {
        for w in 0..4 {
            st[w][g] = r.s[w];
        }
    }
    // Row `pairs` takes every rejected or surplus candidate.
    let mut filled = [pairs; W];
    filled[..n].fill(0);
    while filled.iter().any(|&f| f < pairs) {
        let mut x = [[0f64; W]; 2];
        for xd in x.iter_mut() {
            for g in 0..W {
                let active = filled[g] < pairs;
                let (s0, s1, s2, s3) = (st[0][g], st[1][g], st[2][g], st[3][g]);
                // xoshiro256**, as Rng::next_u64.
                let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
                let t = s1 << 17;
                let n2 = s2 ^ s0;
                let n3 = s3 ^ s1;
                let n1 = s1 ^ n2;
                let n0 = s0 ^ n3;
                let n2 = n2 ^ t;
                let n3 = n3.rotate_left(45);
                st[0][g] = if active { n0 } else { s0 };
                st[1][g] = if active { n1 } else { s1 };
                st[2][g] = if active { n2 } else { s2 };
                st[3][g] = if active { n3 } else { s3 };
                // As polar_uniforms: 2·uniform − 1.
                xd[g] = 2.0 * ((result >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) - 1.0;
            }
        }
        for g in 0..W {
            let (a, b) = (x[0][g], x[1][g]);
            let r2 = a * a + b * b;
            let ok = filled[g] < pairs && r2 > 0.0 && r2 < 1.0;
            let row = if ok { filled[g] } else { pairs };
            out.u[row][g] = a;
            out.v[row][g] = b;
            out.s[row][g] = r2;
            filled[g] += ok as usize;
        }
    }
    for (g, r) in rngs.iter_mut().enumerate() {
        for w in 0..4 {
            r.s[w] = st[w][g];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// The polar method's normals: mean, variance, fourth moment and the share beyond 2 sd
    /// within a few standard errors of N(0, 1) on 400,000 draws; the pair is uncorrelated.
    #[test]
    fn polar_normals_have_normal_moments() {
        let mut rng = Rng::new(11);
        let n = 200_000;
        let (mut s1, mut s2, mut s4, mut tail, mut cross) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for _ in 0..n {
            let (a, b) = rng.normal_pair_polar();
            for v in [a, b] {
                s1 += v;
                s2 += v * v;
                s4 += v.powi(4);
                tail += (v.abs() > 2.0) as u8 as f64;
            }
            cross += a * b;
        }
        let m = 2.0 * n as f64;
        let (mean, var, kurt) = (s1 / m, s2 / m, s4 / m);
        assert!(mean.abs() < 4.0 / m.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 4.0 * (2.0 / m).sqrt(), "variance {var}");
        assert!(
            (kurt - 3.0).abs() < 4.0 * (96.0 / m).sqrt(),
            "fourth moment {kurt}"
        );
        let p = 0.045_500_263_896_358_4; // P(|Z| > 2)
        assert!(
            (tail / m - p).abs() < 4.0 * (p * (1.0 - p) / m).sqrt(),
            "tail {}",
            tail / m
        );
        assert!(
            (cross / n as f64).abs() < 4.0 / (n as f64).sqrt(),
            "correlation"
        );
    }

    /// The generators stepped side by side draw each one's own points, to the bit, and leave
    /// each where one-at-a-time drawing leaves it (fewer generators than columns included).
    #[test]
    fn lockstep_polar_points_are_each_generators_own() {
        for (gens, pairs) in [(16, 15), (5, 32), (1, 1), (16, 0)] {
            let mut one: Vec<Rng> = (0..gens).map(|g| Rng::new(100 + g as u64)).collect();
            let mut many: Vec<Rng> = (0..gens).map(|g| Rng::new(100 + g as u64)).collect();
            let mut out = super::PolarPoints::<16>::default();
            Rng::polar_uniforms_lockstep(&mut many, pairs, &mut out);
            let (u, v, s) = (&out.u, &out.v, &out.s);
            for (g, r) in one.iter_mut().enumerate() {
                for i in 0..pairs {
                    let (a, b, c) = r.polar_uniforms();
                    assert_eq!(
                        (a.to_bits(), b.to_bits(), c.to_bits()),
                        (u[i][g].to_bits(), v[i][g].to_bits(), s[i][g].to_bits()),
                        "generator {g}, pair {i}"
                    );
                }
                assert_eq!(
                    r.next_u64(),
                    many[g].next_u64(),
                    "generator {g} left elsewhere"
                );
            }
            // Each vector path the CPU has, and the plain loops, draw the same points.
            let run = |path: &dyn Fn(&mut [Rng], &mut super::PolarPoints<16>)| {
                let mut rngs: Vec<Rng> = (0..gens).map(|g| Rng::new(100 + g as u64)).collect();
                let mut out = super::PolarPoints::<16>::default();
                path(&mut rngs, &mut out);
                let next: Vec<u64> = rngs.iter_mut().map(|r| r.next_u64()).collect();
                (
                    out.u[..pairs].to_vec(),
                    out.v[..pairs].to_vec(),
                    out.s[..pairs].to_vec(),
                    next,
                )
            };
            let plain = run(&|r, o| super::lockstep_body(r, pairs, o));
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA.
                    let avx2 = run(&|r, o| unsafe { super::lockstep_avx2(r, pairs, o) });
                    assert!(avx2 == plain, "avx2 path");
                }
                if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") {
                    // SAFETY: the CPU has AVX-512 (F, DQ, VL, BW).
                    let avx512 = run(&|r, o| unsafe { super::lockstep_avx512(r, pairs, o) });
                    assert!(avx512 == plain, "avx512 path");
                }
            }
        }
    }
}
