//! From the kept replicates to one interval per statistic: the weights and their
//! probabilities (one sort serves both), then the derived statistics computed per replicate.

use rayon::prelude::*;

use super::ValidBootstrapParams;
use super::derived::DerivedLayout;
use super::intervals::{summarise, summarise_monotone};
use super::output::Row;
use crate::base::features::MAX_K;
use crate::design::GroupDesign;
use crate::load::Dataset;

/// Every statistic's interval, in output order: weights, probabilities, scenario means,
/// similarities.
pub(super) fn summarise_all(
    data: &Dataset,
    groups: &[GroupDesign],
    layout: &DerivedLayout,
    p: &ValidBootstrapParams,
    point: &[[f64; MAX_K]],
    reps: &[f32],
    jack: Option<&[[f64; MAX_K]]>,
) -> Vec<Row> {
    let nj = data.judges.len();
    let models = point.len();
    let names = &data.annotations.names;
    let k_used = names.len();
    // The replicates are stored in the design's slots per model.
    let nf = crate::base::features::slots(k_used);
    let stride = models * nf;
    let r_total = reps.len() / stride;
    let jg = p.jackknife_groups();
    let level = p.level();
    let prob = crate::analyse::probability_of_preferred;

    // Columns are gathered a tile at a time: one replicate's tile is contiguous, where a
    // single column would stride through the whole store once per value.
    const TILE: usize = 64;
    let tiles: Vec<(Vec<Row>, Vec<Row>)> = (0..stride.div_ceil(TILE))
        .into_par_iter()
        .map(|t| {
            let cols = (t * TILE..((t + 1) * TILE).min(stride)).len();
            let mut values = vec![vec![0f64; r_total]; cols];
            for r in 0..r_total {
                let base = r * stride + t * TILE;
                for (c, col) in values.iter_mut().enumerate() {
                    col[r] = reps[base + c] as f64;
                }
            }
            let mut weight_rows = Vec::with_capacity(cols);
            let mut prob_rows = Vec::with_capacity(cols);
            for (c, col) in values.iter_mut().enumerate() {
                let mk = t * TILE + c;
                let (m, k) = (mk / nf, mk % nf);
                if k >= k_used {
                    continue; // a zero column's slot: never shown
                }
                let row = |quantity, interval| Row {
                    quantity,
                    judge: data.judges[m % nj].name.clone(),
                    judge_b: String::new(),
                    group: groups[m / nj].name.clone(),
                    feature: names[k].clone(),
                    interval,
                };
                let jk: Option<Vec<f64>> =
                    jack.map(|j| (0..jg).map(|d| j[m * jg + d][k]).collect());
                // One selection serves both: 100·σ(w) is increasing in w.
                col.retain(|v| !v.is_nan());
                weight_rows.push(row(
                    "weight",
                    summarise_monotone(point[m][k], col, level, jk.as_deref(), |w| w),
                ));
                prob_rows.push(row(
                    "probability",
                    summarise_monotone(point[m][k], col, level, jk.as_deref(), prob),
                ));
            }
            (weight_rows, prob_rows)
        })
        .collect();
    let mut rows: Vec<Row> = Vec::with_capacity(2 * stride + layout.len());
    let mut probs = Vec::with_capacity(stride);
    for (w, p) in tiles {
        rows.extend(w);
        probs.extend(p);
    }
    rows.extend(probs);

    if layout.is_empty() {
        return rows;
    }
    // Derived statistics per replicate (and per jackknife drop), then their intervals.
    let derived: Vec<Vec<f64>> = (0..r_total)
        .into_par_iter()
        .map(|r| {
            let base = &reps[r * stride..(r + 1) * stride];
            layout.compute(|m| &base[m * nf..(m + 1) * nf])
        })
        .collect();
    let to_f32 = |ws: &[[f64; MAX_K]]| -> Vec<f32> {
        ws.iter()
            .flat_map(|w| w.iter().map(|&v| v as f32))
            .collect()
    };
    let point32 = to_f32(point);
    let point_d = layout.compute(|m| &point32[m * MAX_K..(m + 1) * MAX_K]);
    let jack_d: Option<Vec<Vec<f64>>> = jack.map(|j| {
        (0..jg)
            .map(|d| {
                let ws: Vec<[f64; MAX_K]> = (0..models).map(|m| j[m * jg + d]).collect();
                let w32 = to_f32(&ws);
                layout.compute(|m| &w32[m * MAX_K..(m + 1) * MAX_K])
            })
            .collect()
    });
    let pairs = layout.pairs();
    let extra: Vec<Row> = (0..layout.len())
        .into_par_iter()
        .map(|d| {
            let values: Vec<f64> = derived.iter().map(|v| v[d]).collect();
            let jk: Option<Vec<f64>> = jack_d.as_ref().map(|j| j.iter().map(|v| v[d]).collect());
            let interval = summarise(point_d[d], &values, level, jk.as_deref());
            if d < nj * k_used {
                Row {
                    quantity: "probability_scenario_mean",
                    judge: data.judges[d / k_used].name.clone(),
                    judge_b: String::new(),
                    group: "scenarios".into(),
                    feature: names[d % k_used].clone(),
                    interval,
                }
            } else {
                let (a, b) = pairs[d - nj * k_used];
                Row {
                    quantity: "similarity_scenario_mean",
                    judge: data.judges[a].name.clone(),
                    judge_b: data.judges[b].name.clone(),
                    group: "scenarios".into(),
                    feature: String::new(),
                    interval,
                }
            }
        })
        .collect();
    rows.extend(extra);
    rows
}
