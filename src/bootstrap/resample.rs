//! Resampling counts: which rows a replicate draws, as per-row weights of the shared X.
//!
//! A replicate of group g is a vector of counts over g's rows, drawn from its own random
//! stream keyed by (seed, group name, replicate). So replicate r of a group is the same
//! whatever other groups are selected, however the run is cut into chunks and whether it was
//! resumed; and all judges of a group see the same resample (the unit resampled is the
//! sample, which every judge labelled), which keeps judge-vs-judge statistics honest.

use super::params::Resampling;
use crate::base::rng::Rng;

/// FNV-1a of a group name: part of the key of its random streams.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The random stream of (seed, group, replicate).
fn stream(seed: u64, group: &str, replicate: u64) -> Rng {
    let mut z = seed ^ 0x6a09_e667_f3bc_c908;
    for v in [name_hash(group), replicate] {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ v;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    Rng::new(z)
}

/// Counts of replicate `replicate` over `n` rows of `group`.
pub fn counts(scheme: Resampling, seed: u64, group: &str, replicate: u64, n: usize) -> Vec<u32> {
    let mut rng = stream(seed, group, replicate);
    let mut c = vec![0u32; n];
    match scheme {
        Resampling::Ones => c.fill(1),
        Resampling::Multinomial => {
            for _ in 0..n {
                c[rng.below(n)] += 1;
            }
        }
        Resampling::Poisson => {
            // Knuth's product of uniforms: exact for a mean of 1 and ~2.7 uniforms a row.
            let limit = (-1.0f64).exp();
            for v in &mut c {
                let mut k = 0;
                let mut p = rng.uniform();
                while p > limit {
                    k += 1;
                    p *= rng.uniform();
                }
                *v = k;
            }
        }
    }
    c
}

/// The delete-a-group jackknife's partition of `n` rows into `groups` groups of near-equal
/// size (a seeded shuffle, dealt round-robin): `part[r]` is row r's group.
pub fn jackknife_partition(seed: u64, group: &str, n: usize, groups: usize) -> Vec<usize> {
    // u64::MAX never collides with a replicate number.
    let mut rng = stream(seed, group, u64::MAX);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut part = vec![0; n];
    for (pos, &r) in order.iter().enumerate() {
        part[r] = pos % groups;
    }
    part
}
