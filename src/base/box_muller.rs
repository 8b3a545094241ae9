//! Box–Muller normals with a logarithm and a sine and cosine of this crate's own, in plain IEEE
//! operations: no fused multiply-adds (Rust never fuses on its own) and no library calls. So a
//! loop of them over lanes compiles to vector code at any width and gives the same bits on
//! every CPU and at every width, where the C library's `log` and `sin_cos` are scalar calls.
//! The HMC sampler's momentum refresh draws 29 normals a chain an iteration; by the polar
//! method (a scalar logarithm a pair, and a fifth of the pairs rejected, at random, which lanes
//! side by side pay for as the slowest lane's extra rounds) the refresh was 7% of a posterior
//! job.
//!
//! Both functions are the classic minimax/Taylor forms, accurate to a few units in the last
//! place (tested against the standard library's): ample for normals, whose only use is as
//! momenta and simulated noise.

/// ln 2 in two parts, the high one with trailing zero bits so that e·LN2_HI is exact. These
/// and [`LG`] are fdlibm's `__ieee754_log` constants, by their bit patterns.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// ln((1 + s)/(1 − s)) = 2s + s·R(s²), R's coefficients.
const LG: [f64; 7] = [
    f64::from_bits(0x3fe5_5555_5555_5593),
    f64::from_bits(0x3fd9_9999_9997_fa04),
    f64::from_bits(0x3fd2_4924_9422_9359),
    f64::from_bits(0x3fcc_71c5_1d8e_78af),
    f64::from_bits(0x3fc7_4664_96cb_03de),
    f64::from_bits(0x3fc3_9a09_d078_c69f),
    f64::from_bits(0x3fc2_f112_df3e_5244),
];

/// ln x for a positive normal `x` (not 0, a subnormal, infinity or NaN: the sampler's uses are
/// in [2⁻⁵³, 1]). fdlibm's reduction x = 2ᵉ·m with m in [√2/2, √2), then its polynomial in
/// s = f/(2 + f), f = m − 1, branch-free.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let e = ((bits >> 52) as i64) - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = (if big { e + 1 } else { e }) as f64;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    e * LN2_HI - ((hfsq - (s * (hfsq + r) + e * LN2_LO)) - f)
}

/// Taylor coefficients of sin t / t − 1 in powers of t² (−1/3!, 1/5!, …, −1/15!): on
/// |t| ≤ π/4 the first term left out is below 5·10⁻¹⁷ of sin t.
const SIN: [f64; 7] = [
    -1.0 / 6.0,
    1.0 / 120.0,
    -1.0 / 5_040.0,
    1.0 / 362_880.0,
    -1.0 / 39_916_800.0,
    1.0 / 6_227_020_800.0,
    -1.0 / 1_307_674_368_000.0,
];
/// Taylor coefficients of (cos t − 1 + t²/2) / t⁴ in powers of t² (1/4!, −1/6!, …, 1/16!).
const COS: [f64; 7] = [
    1.0 / 24.0,
    -1.0 / 720.0,
    1.0 / 40_320.0,
    -1.0 / 3_628_800.0,
    1.0 / 479_001_600.0,
    -1.0 / 87_178_291_200.0,
    1.0 / 20_922_789_888_000.0,
];

/// (sin 2πu, cos 2πu) for `u` in [0, 1): the nearest quarter turn q taken off exactly
/// (4u − q in [−½, ½] is exact; a tie goes to the even q), the rest t = (4u − q)·π/2 in
/// [−π/4, π/4] by Taylor series, and the quarter turns put back by swapping and negating.
#[inline(always)]
pub fn sin_cos_turns(u: f64) -> (f64, f64) {
    let w = 4.0 * u;
    // The nearest quarter turn, 0 to 4 (4 is a whole turn, as 0), as a float: adding and
    // taking off 2⁵² rounds to an integer in two IEEE additions. (A float-to-integer `as`
    // saturates and `floor` is a library call here; LLVM vectorised neither.)
    const ROUND: f64 = 4_503_599_627_370_496.0; // 2⁵²
    let q = (w + ROUND) - ROUND;
    let t = (w - q) * std::f64::consts::FRAC_PI_2;
    let z = t * t;
    let ps = SIN[0]
        + z * (SIN[1] + z * (SIN[2] + z * (SIN[3] + z * (SIN[4] + z * (SIN[5] + z * SIN[6])))));
    let pc = COS[0]
        + z * (COS[1] + z * (COS[2] + z * (COS[3] + z * (COS[4] + z * (COS[5] + z * COS[6])))));
    let s = t + t * (z * ps);
    let c = (1.0 - 0.5 * z) + (z * z) * pc;
    // cos 2πu, sin 2πu by quarter turn: (c, s), (−s, c), (−c, −s), (s, −c).
    // `|`, not `||`: no branch, so a loop of these stays vector code.
    let odd = (q == 1.0) | (q == 3.0);
    let (a, b) = if odd { (s, c) } else { (c, s) };
    let cos = if (q == 1.0) | (q == 2.0) { -a } else { a };
    let sin = if (q == 2.0) | (q == 3.0) { -b } else { b };
    (sin, cos)
}

/// Two independent standard normals from two uniforms in [0, 1) (Box–Muller):
/// r = √(−2 ln(1 − u₁)), the pair r·(cos 2πu₂, sin 2πu₂).
#[inline(always)]
pub fn normal_pair(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0 * ln(1.0 - u1)).sqrt();
    let (s, c) = sin_cos_turns(u2);
    (r * c, r * s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::Rng;

    /// Distance in units in the last place of `want`.
    fn ulps(got: f64, want: f64) -> f64 {
        let ulp = f64::from_bits(want.abs().to_bits() + 1) - want.abs();
        (got - want).abs() / ulp
    }

    /// ln within 2 ulp of the standard library's over (0, 1] (uniforms' complements, the
    /// smallest 2⁻⁵³, values next to 1 and to √2/2) and over a wide range of magnitudes.
    #[test]
    fn ln_matches_the_standard_library() {
        let mut rng = Rng::new(5);
        let mut worst = 0f64;
        let edge = [
            1.0,
            1.0 - f64::EPSILON / 2.0,
            2f64.powi(-53),
            0.707_106_781_186_547_5,
        ];
        let randoms = (0..200_000).map(|_| 1.0 - rng.uniform());
        let wide: Vec<f64> = (-300..300).map(|e| 1.37 * 2f64.powi(e)).collect();
        for x in edge.into_iter().chain(randoms).chain(wide) {
            let want = x.ln();
            if want == 0.0 {
                assert_eq!(ln(x), 0.0, "ln({x})");
                continue;
            }
            worst = worst.max(ulps(ln(x), want));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
    }

    /// sin and cos of 2πu against the standard library's: within 1e-15 of sin_cos(2πu) (whose
    /// argument is itself rounded, by up to 4.4e-16 near a whole turn), and within 2.5e-16 of
    /// the quarter turn put back by hand on sin_cos of the same reduced t (the series alone).
    #[test]
    fn sin_cos_match_the_standard_library() {
        let mut rng = Rng::new(6);
        let quarters = [
            0.0,
            0.125,
            0.25,
            0.375,
            0.5,
            0.625,
            0.75,
            0.875,
            1.0 - 2f64.powi(-53),
        ];
        let randoms = (0..200_000).map(|_| rng.uniform());
        let (mut whole, mut series) = (0f64, 0f64);
        for u in quarters.into_iter().chain(randoms) {
            let (s, c) = sin_cos_turns(u);
            let (ws, wc) = (2.0 * std::f64::consts::PI * u).sin_cos();
            whole = whole.max((s - ws).abs()).max((c - wc).abs());
            let q = (4.0 * u).round_ties_even();
            let (ts, tc) = ((4.0 * u - q) * std::f64::consts::FRAC_PI_2).sin_cos();
            let (rs, rc) = match q as i64 & 3 {
                0 => (ts, tc),
                1 => (tc, -ts),
                2 => (-ts, -tc),
                _ => (-tc, ts),
            };
            series = series.max((s - rs).abs()).max((c - rc).abs());
        }
        assert!(whole <= 1e-15, "against sin_cos(2πu): {whole}");
        assert!(series <= 2.5e-16, "against the same reduction: {series}");
    }
}
