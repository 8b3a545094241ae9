//! [`FastDiagnostics`]: the diagnostics of [`diagnose`](super::diagnostics::diagnose) for
//! many quantities of one chain shape, to the same result and several times faster. A posterior
//! job summarises every weight of every fit (5,280 × 29 × 8,000 draws with the paper's
//! settings), which done the reference way was a quarter of the job.

use super::diagnostics::{Diagnostics, ess, inverse_normal_cdf, rhat};

/// [`diagnose`](super::diagnostics::diagnose) for many quantities with the same chain shape,
/// computed faster and to the same result: one integer sort per quantity (draws are f32), the
/// folded ranks by merging outwards from the median instead of a second sort, and Φ⁻¹ of every
/// possible (half-)rank tabulated once. Summarising 5,280 fits × 29 weights × 8,000 draws is
/// otherwise a large part of a run.
pub struct FastDiagnostics {
    chains: usize,
    draws: usize,
    /// Φ⁻¹((m/2 − 3/8)/(S + 1/4)) for m = 2·(average rank), m in 0..=2S.
    table: Vec<f64>,
    keys: Vec<u64>,
    scratch: Vec<u64>,
    run_start: Vec<u32>,
    merged_dist: Vec<f64>,
    merged_order: Vec<u32>,
    sorted: Vec<f64>,
    order: Vec<u32>,
    /// Split-chain values, flat: draw d of chain c is entry c·draws + d, so split chain 2c
    /// (the first half of chain c) and 2c + 1 are consecutive runs of draws/2.
    bulk: Vec<f64>,
    folded: Vec<f64>,
    raw: Vec<f64>,
}

impl FastDiagnostics {
    /// A workspace for `chains` chains of `draws` draws (an even number, ≥ 4).
    pub fn new(chains: usize, draws: usize) -> Self {
        assert!(
            draws >= 4 && draws.is_multiple_of(2),
            "even number of draws ≥ 4"
        );
        let s = chains * draws;
        let table = (0..=2 * s)
            .map(|m| inverse_normal_cdf((m as f64 / 2.0 - 0.375) / (s as f64 + 0.25)))
            .collect();
        FastDiagnostics {
            chains,
            draws,
            table,
            keys: Vec::with_capacity(s),
            scratch: vec![0; s],
            run_start: vec![0; s],
            merged_dist: vec![0.0; s],
            merged_order: vec![0; s],
            sorted: vec![0.0; s],
            order: vec![0; s],
            bulk: vec![0.0; s],
            folded: vec![0.0; s],
            raw: vec![0.0; s],
        }
    }

    /// Diagnostics of one quantity; `value(c, d)` is draw `d` of chain `c`.
    pub fn diagnose(&mut self, value: impl Fn(usize, usize) -> f32) -> Diagnostics {
        self.diagnose_with(value, true)
    }

    /// [`FastDiagnostics::diagnose`], with the MCSE of the plain mean left NaN unless `mcse`:
    /// where control variates give the mean and its error, the draws' own ESS (an
    /// autocovariance sweep of every chain) is not needed.
    pub fn diagnose_with(
        &mut self,
        value: impl Fn(usize, usize) -> f32,
        mcse: bool,
    ) -> Diagnostics {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::base::simd::{Level, level};
            // SAFETY (both arms): the CPU supports the features the functions are compiled for.
            match level() {
                Level::Avx512 => unsafe { return self.diagnose_avx512(value, mcse) },
                Level::Avx2 => unsafe { return self.diagnose_avx2(value, mcse) },
                Level::Portable => {}
            }
        }
        self.diagnose_body(value, mcse)
    }

    /// The same operations in the same order as the baseline build (the same bits), with the
    /// autocovariance and sum loops four or eight doubles wide instead of SSE2's two.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn diagnose_avx512(
        &mut self,
        value: impl Fn(usize, usize) -> f32,
        mcse: bool,
    ) -> Diagnostics {
        self.diagnose_body(value, mcse)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn diagnose_avx2(
        &mut self,
        value: impl Fn(usize, usize) -> f32,
        mcse: bool,
    ) -> Diagnostics {
        self.diagnose_body(value, mcse)
    }

    #[inline(always)]
    fn diagnose_body(&mut self, value: impl Fn(usize, usize) -> f32, mcse: bool) -> Diagnostics {
        let (m, n) = (self.chains, self.draws);
        let s = m * n;
        let half = n / 2;
        self.keys.clear();
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        for c in 0..m {
            for d in 0..n {
                let v = value(c, d);
                self.raw[c * n + d] = v as f64;
                sum += v as f64;
                count += 1.0;
                let bits = v.to_bits();
                let key = if bits >> 31 == 1 {
                    !bits
                } else {
                    bits | 0x8000_0000
                };
                self.keys.push(((key as u64) << 32) | (c * n + d) as u64);
            }
        }
        // The keys' low halves (the indices) rise in push order, so a stable sort on the high
        // halves is the full sort of the keys.
        sort_by_high_half(&mut self.keys, &mut self.scratch);
        let mean = sum / count;
        // The squared deviations' sum (in draw order, as a plain sum takes them) rides along
        // with the gather, whose loads hide its additions' latency.
        let mut squares = -0.0f64;
        let (raw, keys) = (&self.raw[..s], &self.keys[..s]);
        for (i, (&k, &v)) in keys.iter().zip(raw).enumerate() {
            let idx = (k & 0xffff_ffff) as usize;
            self.order[i] = idx as u32;
            self.sorted[i] = raw[idx];
            squares += (v - mean) * (v - mean);
        }
        let sd = (squares / (count - 1.0)).sqrt();
        let median = if s % 2 == 1 {
            self.sorted[s / 2]
        } else {
            0.5 * (self.sorted[s / 2 - 1] + self.sorted[s / 2])
        };
        // Bulk ranks: runs of equal values share their average rank.
        average_ranks(&self.sorted, &self.table, &mut self.run_start, |i, z| {
            self.bulk[self.order[i] as usize] = z
        });
        // Folded ranks of |x − median|: the two sides merged, nearest to the median first.
        let split_at = self.sorted.partition_point(|&v| v < median);
        merge_folded(
            &self.sorted[..s],
            &self.order[..s],
            median,
            split_at,
            &mut self.merged_dist[..s],
            &mut self.merged_order[..s],
        );
        average_ranks(
            &self.merged_dist,
            &self.table,
            &mut self.run_start,
            |i, z| self.folded[self.merged_order[i] as usize] = z,
        );
        fn halves(v: &[f64], half: usize) -> Vec<&[f64]> {
            v.chunks(half).collect()
        }
        let ess_mean = if mcse {
            ess(&halves(&self.raw, half))
        } else {
            f64::NAN
        };
        let bulk = halves(&self.bulk, half);
        Diagnostics {
            mean,
            sd,
            mcse: sd / ess_mean.sqrt(),
            rhat: rhat(&bulk).max(rhat(&halves(&self.folded, half))),
            ess_bulk: ess(&bulk),
        }
    }
}

/// The distances |x − median| of the ascending `sorted` in ascending order, into `dist`, with
/// the draw each belongs to (`order[i]` is the draw at sorted position i), into `who`: the
/// merge of the left side (positions below `split`, read downwards) and the right side (read
/// upwards), ties to the left side. Two merges run at once, the nearer half of the order from
/// the median outwards and the farther half from both ends inwards: each step waits on the
/// comparison before it, so two independent chains of steps take half the time of one. Which
/// side comes next is a coin toss the CPU cannot predict, so every choice is a select.
#[inline(always)]
fn merge_folded(
    sorted: &[f64],
    order: &[u32],
    median: f64,
    split: usize,
    dist: &mut [f64],
    who: &mut [u32],
) {
    use std::hint::select_unpredictable as pick;
    let s = sorted.len();
    if s == 0 {
        return;
    }
    let last = s - 1;
    // Near merge: left candidate at lo − 1, right at hi; an exhausted side is infinitely far.
    let (mut lo, mut hi) = (split, split);
    // Far merge: left candidate at a, right at b; an exhausted side is infinitely near. Ties
    // go to the right side here: in the one order both merges follow, left precedes right.
    let (mut a, mut b) = (0usize, last);
    let far = s / 2;
    let near = s - far;
    // One step of the near merge: the distance and draw taken.
    let near_step = |lo: &mut usize, hi: &mut usize| {
        let l = lo.wrapping_sub(1).min(last);
        let h = (*hi).min(last);
        let dl = pick(*lo > 0, median - sorted[l], f64::INFINITY);
        let dh = pick(*hi < s, sorted[h] - median, f64::INFINITY);
        let take_lo = dl <= dh;
        *lo -= take_lo as usize;
        *hi += !take_lo as usize;
        (pick(take_lo, dl, dh), order[pick(take_lo, l, h)])
    };
    for k in 0..far {
        (dist[k], who[k]) = near_step(&mut lo, &mut hi);
        let l = a.min(last);
        let h = b.min(last);
        let dl = pick(a < split, median - sorted[l], f64::NEG_INFINITY);
        let dh = pick(
            b >= split && b <= last,
            sorted[h] - median,
            f64::NEG_INFINITY,
        );
        let take_hi = dh >= dl;
        let slot = last - k;
        dist[slot] = pick(take_hi, dh, dl);
        who[slot] = order[pick(take_hi, h, l)];
        a += !take_hi as usize;
        b = b.wrapping_sub(take_hi as usize);
    }
    if near > far {
        (dist[far], who[far]) = near_step(&mut lo, &mut hi);
    }
}

/// Calls `set(i, z)` for every position of the ascending `sorted` with z = `table[a + b + 2]`,
/// where a..=b is the run of values equal to `sorted[i]` (so z is Φ⁻¹ of the run's average
/// rank). Two branch-free passes: run starts forwards, run ends backwards.
#[inline(always)]
fn average_ranks(
    sorted: &[f64],
    table: &[f64],
    run_start: &mut [u32],
    mut set: impl FnMut(usize, f64),
) {
    let s = sorted.len();
    if s == 0 {
        return;
    }
    let mut start = 0u32;
    run_start[0] = 0;
    for i in 1..s {
        start = if sorted[i] == sorted[i - 1] {
            start
        } else {
            i as u32
        };
        run_start[i] = start;
    }
    let mut end = s - 1;
    for i in (0..s).rev() {
        end = if i + 1 < s && sorted[i + 1] == sorted[i] {
            end
        } else {
            i
        };
        set(i, table[run_start[i] as usize + end + 2]);
    }
}

/// Sorts `keys` stably by their high 32 bits: a least-significant-digit radix sort, four
/// passes of 8 bits (all histograms from one read), a pass skipped where every key has the
/// same digit (a weight's draws often share the sign and exponent byte). 256 buckets keep each
/// pass's scattered writes within 256 cache lines, which L1 holds (2,048 buckets did not). On a
/// fit's 8,000 draws it is several times faster than a comparison sort, whose branches on
/// random data mispredict.
///
/// The keys are counted and moved as [`STREAMS`] consecutive runs side by side, each with its
/// own counters (a run's keys go into each bucket after the runs before it, so the sort stays
/// stable). One run alone waits on its counters: where consecutive keys share a digit (the
/// exponent byte, mostly), each increment waits for the one before it to be stored.
#[inline(always)]
fn sort_by_high_half(keys: &mut [u64], scratch: &mut Vec<u64>) {
    const PASSES: usize = 4;
    const BUCKETS: usize = 256;
    let n = keys.len();
    scratch.resize(n, 0);
    // Runs 0..STREAMS − 1 hold `run` keys each, the last one the rest.
    let run = n / STREAMS;
    let tail = STREAMS * run;
    let mut counts = [[[0u32; BUCKETS]; PASSES]; STREAMS];
    let digit = |k: u64, p: usize| ((k >> (32 + 8 * p)) & 0xff) as usize;
    for i in 0..run {
        for (s, c) in counts.iter_mut().enumerate() {
            let k = keys[s * run + i];
            for (p, cp) in c.iter_mut().enumerate() {
                cp[digit(k, p)] += 1;
            }
        }
    }
    for &k in &keys[tail..] {
        for (p, cp) in counts[STREAMS - 1].iter_mut().enumerate() {
            cp[digit(k, p)] += 1;
        }
    }
    let mut in_keys = true; // where the data is now
    let mut moved = false; // whether a pass has moved the keys from their first order
    for p in 0..PASSES {
        let one_digit =
            (0..BUCKETS).any(|b| counts.iter().map(|c| c[p][b] as usize).sum::<usize>() == n);
        if one_digit {
            continue; // one digit for all: the pass would not move anything
        }
        let from: &[u64] = if in_keys { keys } else { scratch };
        if moved {
            // A pass before this one moved the keys: the runs' counts are those of the keys'
            // order now.
            for c in counts.iter_mut() {
                c[p] = [0; BUCKETS];
            }
            for i in 0..run {
                for (s, c) in counts.iter_mut().enumerate() {
                    c[p][digit(from[s * run + i], p)] += 1;
                }
            }
            for &k in &from[tail..] {
                counts[STREAMS - 1][p][digit(k, p)] += 1;
            }
        }
        // Each run's first slot in each bucket.
        let mut at = [[0u32; BUCKETS]; STREAMS];
        let mut next = 0u32;
        for b in 0..BUCKETS {
            for s in 0..STREAMS {
                at[s][b] = next;
                next += counts[s][p][b];
            }
        }
        let (from, to): (&[u64], &mut [u64]) = if in_keys {
            (keys, scratch.as_mut_slice())
        } else {
            (scratch.as_slice(), keys)
        };
        for i in 0..run {
            for (s, a) in at.iter_mut().enumerate() {
                let k = from[s * run + i];
                let b = digit(k, p);
                to[a[b] as usize] = k;
                a[b] += 1;
            }
        }
        let last = &mut at[STREAMS - 1];
        for &k in &from[tail..] {
            let b = digit(k, p);
            to[last[b] as usize] = k;
            last[b] += 1;
        }
        in_keys = !in_keys;
        moved = true;
    }
    if !in_keys {
        keys.copy_from_slice(scratch);
    }
}

/// Runs of keys [`sort_by_high_half`] counts and moves side by side.
const STREAMS: usize = 4;

#[cfg(test)]
mod radix_tests {
    use super::sort_by_high_half;
    use crate::base::rng::Rng;

    /// The radix sort gives the comparison sort's order on keys whose low halves rise, with
    /// many ties (the draws of a chain that rejects repeat its value).
    #[test]
    fn radix_sort_is_the_full_sort() {
        let mut rng = Rng::new(3);
        for n in [0, 1, 7, 1000, 8000] {
            let keys: Vec<u64> = (0..n)
                .map(|i| {
                    let v = if rng.uniform() < 0.3 {
                        5
                    } else {
                        rng.next_u64() as u32
                    };
                    ((v as u64) << 32) | i as u64
                })
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            let mut got = keys.clone();
            sort_by_high_half(&mut got, &mut Vec::new());
            assert_eq!(got, expected, "n = {n}");
        }
    }
}

#[cfg(test)]
mod merge_tests {
    use super::merge_folded;
    use crate::base::rng::Rng;

    /// The two-ended merge gives the distances of a full sort of |x − median| and, for each, a
    /// draw at that distance, for even and odd sizes, ties across and within the sides, and
    /// medians outside the values (one side empty).
    #[test]
    fn two_ended_merge_is_the_sorted_distances() {
        let mut rng = Rng::new(9);
        for (n, median) in [
            (1, 0.0),
            (2, 0.5),
            (7, 0.0),
            (8, 0.25),
            (999, 0.0),
            (1000, 0.0),
        ]
        .into_iter()
        .chain([(50, -10.0), (50, 10.0)])
        {
            let mut sorted: Vec<f64> = (0..n)
                .map(|_| (rng.normal() * 4.0).round() / 4.0) // many ties, some mirrored
                .collect();
            sorted.sort_by(f64::total_cmp);
            let order: Vec<u32> = (0..n as u32).collect();
            let split = sorted.partition_point(|&v| v < median);
            let (mut dist, mut who) = (vec![0.0; n], vec![0u32; n]);
            merge_folded(&sorted, &order, median, split, &mut dist, &mut who);
            let mut want: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
            want.sort_by(f64::total_cmp);
            assert_eq!(dist, want, "n {n}, median {median}");
            let mut seen = who.clone();
            seen.sort_unstable();
            assert_eq!(seen, order, "every draw once, n {n}");
            for (d, &w) in dist.iter().zip(&who) {
                assert_eq!(*d, (sorted[w as usize] - median).abs(), "n {n}");
            }
        }
    }
}
