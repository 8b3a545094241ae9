//! Exact Shapley values of a judge's model for one comparison.
//!
//! The model's prediction is f(x) = σ(w·x) and the baseline is x = 0 (no property differs,
//! f = 0.5). A feature with x_k = 0 changes nothing and gets 0, so only the n non-zero features
//! of a sample are players. f of a coalition S depends on S only through s_S = Σ_{i∈S} w_i x_i,
//! so all 2ⁿ coalition values come from one pass of subset sums (each = a smaller subset's sum
//! plus one term), and
//!
//! ```text
//! φ_i = Σ_{S ∌ i} |S|! (n − |S| − 1)! / n! · (σ(s_S + w_i x_i) − σ(s_S))
//! ```
//!
//! costs n·2ⁿ lookups: a few microseconds for the ~11 non-zero features of a typical sample.
//! Exact enumeration stops at [`MAX_PLAYERS`] non-zero features (a wide property set's pair
//! may have up to 64); past it [`shapley_sampled`] estimates the same values from random
//! orderings, with their Monte-Carlo error.

use crate::base::features::MAX_K;
use crate::base::logistic::sigmoid;
use crate::base::rng::Rng;

/// Most non-zero features a sample may have (2²⁴ coalitions, 16M values).
pub const MAX_PLAYERS: usize = 24;

/// Shapley value of each feature (0 where x_k = 0), or `None` past [`MAX_PLAYERS`].
pub fn shapley(w: &[f64; MAX_K], x: &[f64; MAX_K]) -> Option<[f64; MAX_K]> {
    let players: Vec<usize> = (0..MAX_K).filter(|&k| x[k] != 0.0).collect();
    let n = players.len();
    let mut phi = [0f64; MAX_K];
    if n == 0 {
        return Some(phi);
    }
    if n > MAX_PLAYERS {
        return None;
    }
    let a: Vec<f64> = players.iter().map(|&k| w[k] * x[k]).collect();
    // Coalition values f(S) = σ(s_S), S as a bit mask over the players.
    let mut f = vec![0f64; 1 << n];
    let mut sums = vec![0f64; 1 << n];
    f[0] = sigmoid(0.0);
    for mask in 1usize..1 << n {
        let low = mask.trailing_zeros() as usize;
        sums[mask] = sums[mask & (mask - 1)] + a[low];
        f[mask] = sigmoid(sums[mask]);
    }
    // Weight of a coalition of size s: s! (n − s − 1)! / n!.
    let mut weight = vec![0f64; n];
    for s in 0..n {
        let mut v = 1.0 / n as f64;
        // 1 / (n · C(n−1, s))
        let mut c = 1.0;
        for t in 0..s {
            c = c * (n - 1 - t) as f64 / (t + 1) as f64;
        }
        v /= c;
        weight[s] = v;
    }
    let mut acc = vec![0f64; n];
    let full = (1usize << n) - 1;
    for mask in 0usize..full {
        let wt = weight[mask.count_ones() as usize];
        let fm = f[mask];
        let mut free = !mask & full;
        while free != 0 {
            let i = free.trailing_zeros() as usize;
            acc[i] += wt * (f[mask | (1 << i)] - fm);
            free &= free - 1;
        }
    }
    for (i, &k) in players.iter().enumerate() {
        phi[k] = acc[i];
    }
    Some(phi)
}

/// Orderings [`shapley_sampled`] averages over: half drawn at random, half their reverses.
pub const ORDERINGS: usize = 1 << 16;

/// Shapley values by sampling orderings of the non-zero features (Castro, Gómez & Tejada
/// 2009), for samples past [`MAX_PLAYERS`]: φ_i is the mean of f(predecessors ∪ {i}) −
/// f(predecessors) over [`ORDERINGS`] orderings, each drawn one paired with its reverse
/// (antithetic: a feature early in one is late in the other). Every ordering's terms sum to
/// f(x) − f(0), so the estimates do too, exactly as the exact values. Deterministic in `seed`.
/// Returns the values and the largest standard error among them (from the spread of the
/// pairs' means).
pub fn shapley_sampled(w: &[f64; MAX_K], x: &[f64; MAX_K], seed: u64) -> ([f64; MAX_K], f64) {
    let players: Vec<usize> = (0..MAX_K).filter(|&k| x[k] != 0.0).collect();
    let n = players.len();
    let mut phi = [0f64; MAX_K];
    if n == 0 {
        return (phi, 0.0);
    }
    let a: Vec<f64> = players.iter().map(|&k| w[k] * x[k]).collect();
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let (mut sum, mut sum_sq) = (vec![0f64; n], vec![0f64; n]);
    let mut pair = vec![0f64; n];
    let pairs = ORDERINGS / 2;
    for _ in 0..pairs {
        rng.shuffle(&mut order);
        pair.fill(0.0);
        for reverse in [false, true] {
            let (mut s, mut f) = (0.0, sigmoid(0.0));
            for t in 0..n {
                let i = if reverse { order[n - 1 - t] } else { order[t] };
                s += a[i];
                let next = sigmoid(s);
                pair[i] += 0.5 * (next - f);
                f = next;
            }
        }
        for i in 0..n {
            sum[i] += pair[i];
            sum_sq[i] += pair[i] * pair[i];
        }
    }
    let m = pairs as f64;
    let mut max_se = 0f64;
    for (i, &k) in players.iter().enumerate() {
        let mean = sum[i] / m;
        phi[k] = mean;
        let var = ((sum_sq[i] - m * mean * mean) / (m - 1.0)).max(0.0);
        max_se = max_se.max((var / m).sqrt());
    }
    (phi, max_se)
}
