#![allow(clippy::needless_range_loop)]
//! The authors' fold split, bit for bit: numpy legacy MT19937 `seed(0)` + `shuffle` test vectors
//! (copied from shared/spec so this runs without shared/).

use prefdissect::design::{Mt19937, fold_ranges, held_out_masks, shuffled_indices};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("data/fold_shuffle_seed0.json");
    serde_json::from_str(text).unwrap()
}

#[test]
fn first_raw_outputs_match_numpy() {
    let v = vectors();
    let expected: Vec<u64> = v["first_uint32_seed0"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let mut rng = Mt19937::new(0);
    let got: Vec<u64> = (0..expected.len()).map(|_| rng.next_u32() as u64).collect();
    assert_eq!(got, expected);
}

#[test]
fn every_listed_permutation_matches_numpy() {
    let v = vectors();
    let perms = v["permutations"].as_object().unwrap();
    assert!(perms.len() >= 20, "test vectors missing");
    for (n, perm) in perms {
        let n: usize = n.parse().unwrap();
        let expected: Vec<usize> = perm
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shuffled_indices(n, 0), expected, "n = {n}");
    }
}

#[test]
fn fold_membership_follows_the_shuffled_cuts() {
    let v = vectors();
    for (n, perm) in v["permutations"].as_object().unwrap() {
        let n: usize = n.parse().unwrap();
        if n < 10 {
            continue;
        }
        let perm: Vec<usize> = perm
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let masks = held_out_masks(n, 10, 0);
        assert_eq!(masks.len(), 10);
        // Python: test = idx[int(i/10*n) : int(i/10*n) + int(n/10)]
        for i in 0..10 {
            let start = ((i as f64 / 10.0) * n as f64) as usize;
            let test: Vec<usize> = perm[start..start + n / 10].to_vec();
            for row in 0..n {
                assert_eq!(
                    masks[i][row],
                    test.contains(&row),
                    "n = {n}, fold {i}, row {row}"
                );
            }
            assert_eq!(masks[i].iter().filter(|&&m| m).count(), n / 10);
        }
    }
}

#[test]
fn fold_starts_use_the_float_product() {
    // int(i/10*n) for n = 1418: i/10 is inexact in binary; e.g. 3/10*1418 = 425.40000000000003.
    let starts: Vec<usize> = fold_ranges(1418, 10).iter().map(|r| r.0).collect();
    assert_eq!(
        starts,
        vec![0, 141, 283, 425, 567, 709, 850, 992, 1134, 1276]
    );
    assert!(fold_ranges(1418, 10).iter().all(|r| r.1 == 141));
}

#[test]
fn neighbouring_folds_can_share_a_row_as_in_python() {
    // int(0.7 * 360) = int(251.99999999999997) = 251 < 252 = int(0.6 * 360) + 36:
    // position 251 is left out by folds 6 and 7 (Python gives the same starts).
    let starts: Vec<usize> = fold_ranges(360, 10).iter().map(|r| r.0).collect();
    assert_eq!(starts, vec![0, 36, 72, 108, 144, 180, 216, 251, 288, 324]);
    let masks = held_out_masks(360, 10, 0);
    let shared = (0..360).filter(|&r| masks[6][r] && masks[7][r]).count();
    assert_eq!(shared, 1);
}

#[test]
fn one_fold_holds_nothing_out() {
    let masks = held_out_masks(400, 1, 0);
    assert_eq!(masks.len(), 1);
    assert!(masks[0].iter().all(|&m| !m));
}
