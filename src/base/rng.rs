//! A small seeded generator (xoshiro256**, seeded by SplitMix64), so simulated data sets are
//! the same on every platform and every version of this crate.

use super::box_muller;

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

    /// Two independent standard normals by Box–Muller with this crate's own logarithm, sine
    /// and cosine ([`box_muller`]): the same bits on every CPU. A different stream from
    /// [`Rng::normal_pair`], which the simulator keeps so that simulated data sets do not
    /// change. The HMC sampler draws this stream for all lanes at once
    /// ([`Rng::normals_lockstep`]); this one-pair form is its reference.
    pub fn normal_pair_own(&mut self) -> (f64, f64) {
        let u1 = self.uniform();
        let u2 = self.uniform();
        box_muller::normal_pair(u1, u2)
    }

    /// `count` standard normals from each of the (at most `W`) generators, into row i <
    /// `count`, column g of `out`: generator g's [`Rng::normal_pair_own`] draws in order (the
    /// second of an odd count's last pair drawn and unused), each generator left where drawing
    /// them one at a time leaves it. The generators step side by side and every pair is
    /// computed for all of them at once, as vector code: no pair is rejected, so no lane
    /// waits on another's extra rounds.
    pub fn normals_lockstep<const W: usize>(rngs: &mut [Rng], count: usize, out: &mut [[f64; W]]) {
        assert!(
            rngs.len() <= W && count <= out.len(),
            "at most {W} generators and {} normals",
            out.len()
        );
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, level};
            // SAFETY (both arms): the CPU supports the features the functions are compiled for.
            match level() {
                Level::Avx512 => unsafe { return lockstep_avx512(rngs, count, out) },
                Level::Avx2 => unsafe { return lockstep_avx2(rngs, count, out) },
                Level::Portable => {}
            }
        }
        lockstep_body(rngs, count, out);
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

/// The same IEEE and integer operations as the plain build (the same bits), eight (or four)
/// lanes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn lockstep_avx512<const W: usize>(rngs: &mut [Rng], count: usize, out: &mut [[f64; W]]) {
    lockstep_body(rngs, count, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lockstep_avx2<const W: usize>(rngs: &mut [Rng], count: usize, out: &mut [[f64; W]]) {
    lockstep_body(rngs, count, out);
}

#[inline(always)]
fn lockstep_body<const W: usize>(rngs: &mut [Rng], count: usize, out: &mut [[f64; W]]) {
    // Columns past the generators step an all-zero state, which stays zero.
    let mut st = [[0u64; W]; 4];
    for (g, r) in rngs.iter().enumerate() {
        for w in 0..4 {
            st[w][g] = r.s[w];
        }
    }
    for pair in 0..count.div_ceil(2) {
        let mut u = [[0f64; W]; 2];
        for ud in u.iter_mut() {
            for g in 0..W {
                let (s0, s1, s2, s3) = (st[0][g], st[1][g], st[2][g], st[3][g]);
                // xoshiro256**, as Rng::next_u64, then Rng::uniform.
                let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
                let t = s1 << 17;
                let n2 = s2 ^ s0;
                let n3 = s3 ^ s1;
                st[1][g] = s1 ^ n2;
                st[0][g] = s0 ^ n3;
                st[2][g] = n2 ^ t;
                st[3][g] = n3.rotate_left(45);
                ud[g] = (result >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            }
        }
        let (first, second) = (2 * pair, 2 * pair + 1);
        let mut b = [0f64; W];
        for g in 0..W {
            let (x, y) = box_muller::normal_pair(u[0][g], u[1][g]);
            out[first][g] = x;
            b[g] = y;
        }
        if second < count {
            out[second] = b;
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

    /// The Box–Muller normals: mean, variance, fourth moment and the share beyond 2 sd within
    /// a few standard errors of N(0, 1) on 400,000 draws; the pair is uncorrelated.
    #[test]
    fn own_normals_have_normal_moments() {
        let mut rng = Rng::new(11);
        let n = 200_000;
        let (mut s1, mut s2, mut s4, mut tail, mut cross) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for _ in 0..n {
            let (a, b) = rng.normal_pair_own();
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
        let p = 0.045_500_263_896_358_41; // P(|Z| > 2)
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

    /// The generators stepped side by side draw each one's own normals, to the bit, and leave
    /// each where one-at-a-time drawing leaves it (fewer generators than columns and odd
    /// counts included); every vector path the CPU has draws the plain loops' bits.
    #[test]
    fn lockstep_normals_are_each_generators_own() {
        for (gens, count) in [(16, 29), (5, 64), (1, 1), (16, 0), (3, 2)] {
            let mut one: Vec<Rng> = (0..gens).map(|g| Rng::new(100 + g as u64)).collect();
            let mut many: Vec<Rng> = (0..gens).map(|g| Rng::new(100 + g as u64)).collect();
            let mut out = vec![[0f64; 16]; 64];
            Rng::normals_lockstep(&mut many, count, &mut out);
            for (g, r) in one.iter_mut().enumerate() {
                for i in 0..count.div_ceil(2) {
                    let (a, b) = r.normal_pair_own();
                    assert_eq!(a.to_bits(), out[2 * i][g].to_bits(), "generator {g}, {i}");
                    if 2 * i + 1 < count {
                        assert_eq!(b.to_bits(), out[2 * i + 1][g].to_bits(), "generator {g}");
                    }
                }
                assert_eq!(
                    r.next_u64(),
                    many[g].next_u64(),
                    "generator {g} left elsewhere"
                );
            }
            type Path<'a> = &'a dyn Fn(&mut [Rng], &mut [[f64; 16]]);
            let run = |path: Path| {
                let mut rngs: Vec<Rng> = (0..gens).map(|g| Rng::new(100 + g as u64)).collect();
                let mut out = vec![[0f64; 16]; 64];
                path(&mut rngs, &mut out);
                let next: Vec<u64> = rngs.iter_mut().map(|r| r.next_u64()).collect();
                let bits: Vec<u64> = out[..count]
                    .iter()
                    .flat_map(|row| row[..gens].iter().map(|v| v.to_bits()))
                    .collect();
                (bits, next)
            };
            let plain = run(&|r, o| super::lockstep_body(r, count, o));
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA.
                    let avx2 = run(&|r, o| unsafe { super::lockstep_avx2(r, count, o) });
                    assert!(avx2 == plain, "avx2 path");
                }
                if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") {
                    // SAFETY: the CPU has AVX-512 (F, DQ, VL, BW).
                    let avx512 = run(&|r, o| unsafe { super::lockstep_avx512(r, count, o) });
                    assert!(avx512 == plain, "avx512 path");
                }
            }
        }
    }
}
