//! The sampler's updates of whole fields, every lane at once: the half kicks of a leapfrog
//! step and the accepted proposals' copies. The sampler loop itself is compiled for baseline
//! x86-64 (compiled for AVX-512 it ran slower); these loops are compiled for AVX-512 or AVX2
//! where the CPU has them, with intrinsics, since LLVM, left to itself, vectorised them across
//! rows with gathers. Every path does the same IEEE operations, so the same bits as the plain
//! loops, which the tests hold them to.

use super::lanes::Field;
use crate::design::LANES;

/// p −= h·g for every (feature, lane) of the first `nf` features: a half kick. Ten a
/// trajectory of five steps; compiled for AVX-512 or AVX2 where the CPU has them (the sampler
/// loop around it is baseline x86-64, whose SSE2 takes two lanes an instruction). A multiply
/// and a subtraction on every path (no fused multiply-add), so the same bits.
pub(super) fn kick(p: &mut Field, half: &[f64; LANES], g: &Field, nf: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, level};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level() {
            Level::Avx512 => unsafe { return kick_avx512(p, half, g, nf) },
            Level::Avx2 => unsafe { return kick_avx2(p, half, g, nf) },
            Level::Portable => {}
        }
    }
    kick_body(p, half, g, nf);
}

/// [`kick_body`] a row (16 lanes) in two registers. Intrinsics: left to itself, LLVM
/// vectorised across rows, with gathers, and the kicks ran slower than with SSE2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn kick_avx512(p: &mut Field, half: &[f64; LANES], g: &Field, nf: usize) {
    use std::arch::x86_64::{_mm512_loadu_pd, _mm512_mul_pd, _mm512_storeu_pd, _mm512_sub_pd};
    const W: usize = 8;
    // SAFETY: every pointer is to a 16-double row (or `half`), read and written in halves.
    unsafe {
        let h = [0, W].map(|at| _mm512_loadu_pd(half.as_ptr().add(at)));
        for (pr, gr) in p[..nf].iter_mut().zip(&g[..nf]) {
            for (i, hv) in h.iter().enumerate() {
                let (pp, gp) = (pr.as_mut_ptr().add(i * W), gr.as_ptr().add(i * W));
                let kicked =
                    _mm512_sub_pd(_mm512_loadu_pd(pp), _mm512_mul_pd(*hv, _mm512_loadu_pd(gp)));
                _mm512_storeu_pd(pp, kicked);
            }
        }
    }
}

/// [`kick_avx512`] in four 256-bit registers a row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kick_avx2(p: &mut Field, half: &[f64; LANES], g: &Field, nf: usize) {
    use std::arch::x86_64::{_mm256_loadu_pd, _mm256_mul_pd, _mm256_storeu_pd, _mm256_sub_pd};
    const W: usize = 4;
    // SAFETY: every pointer is to a 16-double row (or `half`), read and written in quarters.
    unsafe {
        let h = [0, W, 2 * W, 3 * W].map(|at| _mm256_loadu_pd(half.as_ptr().add(at)));
        for (pr, gr) in p[..nf].iter_mut().zip(&g[..nf]) {
            for (i, hv) in h.iter().enumerate() {
                let (pp, gp) = (pr.as_mut_ptr().add(i * W), gr.as_ptr().add(i * W));
                let kicked =
                    _mm256_sub_pd(_mm256_loadu_pd(pp), _mm256_mul_pd(*hv, _mm256_loadu_pd(gp)));
                _mm256_storeu_pd(pp, kicked);
            }
        }
    }
}

#[inline(always)]
fn kick_body(p: &mut Field, half: &[f64; LANES], g: &Field, nf: usize) {
    for k in 0..nf {
        for l in 0..LANES {
            p[k][l] -= half[l] * g[k][l];
        }
    }
}

/// For every lane whose proposal was accepted, its position and gradient (`to`) replaced by
/// the proposal's (`from`), as bit masks: written as a choice per lane, LLVM loaded every
/// value through a pointer chosen per lane, one scalar at a time. Compiled for AVX-512 or AVX2
/// where the CPU has them; a copy on every path, so the same bits.
pub(super) fn take_accepted(
    accepted: &[bool; LANES],
    to: (&mut Field, &mut Field),
    from: (&Field, &Field),
    nf: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::base::simd::{Level, level};
        // SAFETY (both arms): the CPU supports the features the functions are compiled for.
        match level() {
            Level::Avx512 => unsafe { return take_accepted_avx512(accepted, to, from, nf) },
            Level::Avx2 => unsafe { return take_accepted_avx2(accepted, to, from, nf) },
            Level::Portable => {}
        }
    }
    take_accepted_body(accepted, to, from, nf);
}

/// [`take_accepted_body`] with one 8-lane mask per register half. Intrinsics: left to itself,
/// LLVM vectorised across rows, with gathers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
unsafe fn take_accepted_avx512(
    accepted: &[bool; LANES],
    (q, g): (&mut Field, &mut Field),
    (qn, gn): (&Field, &Field),
    nf: usize,
) {
    use std::arch::x86_64::{_mm512_loadu_pd, _mm512_mask_blend_pd, _mm512_storeu_pd};
    const W: usize = 8;
    let masks: [u8; 2] =
        std::array::from_fn(|h| (0..W).fold(0u8, |m, i| m | ((accepted[h * W + i] as u8) << i)));
    // SAFETY: every pointer is to a 16-double row, read and written in halves.
    unsafe {
        for (to, from) in [(q, qn), (g, gn)] {
            for (tr, fr) in to[..nf].iter_mut().zip(&from[..nf]) {
                for (h, &m) in masks.iter().enumerate() {
                    let (tp, fp) = (tr.as_mut_ptr().add(h * W), fr.as_ptr().add(h * W));
                    let v = _mm512_mask_blend_pd(m, _mm512_loadu_pd(tp), _mm512_loadu_pd(fp));
                    _mm512_storeu_pd(tp, v);
                }
            }
        }
    }
}

/// [`take_accepted_avx512`] with 4-lane blends.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn take_accepted_avx2(
    accepted: &[bool; LANES],
    (q, g): (&mut Field, &mut Field),
    (qn, gn): (&Field, &Field),
    nf: usize,
) {
    use std::arch::x86_64::{
        __m256d, _mm256_blendv_pd, _mm256_castsi256_pd, _mm256_loadu_pd, _mm256_set_epi64x,
        _mm256_storeu_pd,
    };
    const W: usize = 4;
    let bit = |l: usize| if accepted[l] { -1i64 } else { 0 };
    let masks: [__m256d; 4] = std::array::from_fn(|h| {
        let l = h * W;
        _mm256_castsi256_pd(_mm256_set_epi64x(
            bit(l + 3),
            bit(l + 2),
            bit(l + 1),
            bit(l),
        ))
    });
    // SAFETY: every pointer is to a 16-double row, read and written in quarters.
    unsafe {
        for (to, from) in [(q, qn), (g, gn)] {
            for (tr, fr) in to[..nf].iter_mut().zip(&from[..nf]) {
                for (h, &m) in masks.iter().enumerate() {
                    let (tp, fp) = (tr.as_mut_ptr().add(h * W), fr.as_ptr().add(h * W));
                    let v = _mm256_blendv_pd(_mm256_loadu_pd(tp), _mm256_loadu_pd(fp), m);
                    _mm256_storeu_pd(tp, v);
                }
            }
        }
    }
}

#[inline(always)]
fn take_accepted_body(
    accepted: &[bool; LANES],
    (q, g): (&mut Field, &mut Field),
    (qn, gn): (&Field, &Field),
    nf: usize,
) {
    let mask = accepted.map(|a| if a { u64::MAX } else { 0 });
    let pick =
        |new: f64, old: f64, m: u64| f64::from_bits((new.to_bits() & m) | (old.to_bits() & !m));
    for k in 0..nf {
        for l in 0..LANES {
            q[k][l] = pick(qn[k][l], q[k][l], mask[l]);
            g[k][l] = pick(gn[k][l], g[k][l], mask[l]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::features::MAX_K;
    use crate::base::rng::Rng;

    /// The accepted lanes' copies, by every path the CPU has, are the plain choices' bits.
    #[test]
    fn accepted_copies_are_the_plain_choices() {
        let mut rng = Rng::new(22);
        for nf in [29, MAX_K] {
            let field = |rng: &mut Rng| -> Field {
                std::array::from_fn(|_| std::array::from_fn(|_| rng.normal()))
            };
            let (q, g, qn, gn) = (
                field(&mut rng),
                field(&mut rng),
                field(&mut rng),
                field(&mut rng),
            );
            let accepted: [bool; LANES] = std::array::from_fn(|_| rng.uniform() < 0.5);
            let check = |q1: &Field, g1: &Field| {
                for k in 0..MAX_K {
                    for l in 0..LANES {
                        let take = accepted[l] && k < nf;
                        let (wq, wg) = if take {
                            (qn[k][l], gn[k][l])
                        } else {
                            (q[k][l], g[k][l])
                        };
                        assert_eq!(q1[k][l].to_bits(), wq.to_bits());
                        assert_eq!(g1[k][l].to_bits(), wg.to_bits());
                    }
                }
            };
            let (mut q1, mut g1) = (q, g);
            take_accepted_body(&accepted, (&mut q1, &mut g1), (&qn, &gn), nf);
            check(&q1, &g1);
            let (mut q1, mut g1) = (q, g);
            take_accepted(&accepted, (&mut q1, &mut g1), (&qn, &gn), nf);
            check(&q1, &g1);
            #[cfg(target_arch = "x86_64")]
            {
                use crate::base::simd::{Level, detected};
                if detected() >= Level::Avx2 {
                    let (mut q1, mut g1) = (q, g);
                    // SAFETY: the CPU has AVX2 and FMA.
                    unsafe { take_accepted_avx2(&accepted, (&mut q1, &mut g1), (&qn, &gn), nf) };
                    check(&q1, &g1);
                }
                if detected() >= Level::Avx512 {
                    let (mut q1, mut g1) = (q, g);
                    // SAFETY: the CPU has the AVX-512 features.
                    unsafe { take_accepted_avx512(&accepted, (&mut q1, &mut g1), (&qn, &gn), nf) };
                    check(&q1, &g1);
                }
            }
        }
    }

    /// The kick's AVX2 and AVX-512 paths (as far as the CPU has them) give the plain loop's
    /// bits, at the paper's width and the widest.
    #[test]
    fn kick_paths_are_the_plain_loop() {
        let mut rng = Rng::new(21);
        for nf in [29, MAX_K] {
            let mut p: Field = [[0.0; LANES]; MAX_K];
            let mut g: Field = [[0.0; LANES]; MAX_K];
            let mut half = [0f64; LANES];
            for l in 0..LANES {
                half[l] = 0.01 + 0.2 * rng.uniform();
                for k in 0..MAX_K {
                    p[k][l] = 3.0 * rng.normal();
                    g[k][l] = 50.0 * rng.normal();
                }
            }
            let mut plain = p;
            kick_body(&mut plain, &half, &g, nf);
            let mut dispatched = p;
            kick(&mut dispatched, &half, &g, nf);
            assert_eq!(plain, dispatched);
            #[cfg(target_arch = "x86_64")]
            {
                use crate::base::simd::{Level, detected};
                if detected() >= Level::Avx2 {
                    let mut a = p;
                    // SAFETY: the CPU has AVX2 and FMA.
                    unsafe { kick_avx2(&mut a, &half, &g, nf) };
                    assert_eq!(plain, a);
                }
                if detected() >= Level::Avx512 {
                    let mut b = p;
                    // SAFETY: the CPU has the AVX-512 features.
                    unsafe { kick_avx512(&mut b, &half, &g, nf) };
                    assert_eq!(plain, b);
                }
            }
        }
    }
}
