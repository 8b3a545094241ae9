#![allow(clippy::needless_range_loop)]
//! Held-out accuracy and log-loss in the fit output, recomputed here from the written weights,
//! the labels and the fold split.

mod common;

use prefdissect::cli::fit::{FitRequest, fit};
use prefdissect::design::held_out_masks;
use prefdissect::load::{Dataset, Selection};
use prefdissect::solve::settings::{Estimator, FitConfig};
use serde_json::Value;

#[test]
fn heldout_figures_are_each_folds_predictions_of_its_left_out_rows() {
    let dir = common::temp_dir("heldout");
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let signs = common::write_small_dataset(&data_dir, 200);
    fit(&FitRequest {
        data: data_dir.clone(),
        out: dir.join("out"),
        selection: Selection::default(),
        config: FitConfig {
            estimator: Some(Estimator::Map),
            ..FitConfig::default()
        },
        progress: false,
        backend: Default::default(),
    })
    .unwrap();
    let data = Dataset::load(&data_dir, &Selection::default()).unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(dir.join("out/fits.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut checked = 0;
    let mut pooled = std::collections::HashMap::new();
    for line in &lines {
        let group = line["group"].as_str().unwrap();
        let judge = line["judge"].as_str().unwrap();
        let fold = line["fold"].as_u64().unwrap() as usize;
        let w: Vec<f64> = line["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let g = data.groups.iter().find(|g| g.name == group).unwrap();
        let rows: Vec<usize> = g
            .samples
            .iter()
            .copied()
            .filter(|&s| !data.annotations.unchecked[s])
            .collect();
        let labels = &data
            .judges
            .iter()
            .find(|j| j.name == judge)
            .unwrap()
            .prefers_a;
        let mask = &held_out_masks(rows.len(), 10, 0)[fold];
        let (mut n, mut correct, mut loss) = (0usize, 0usize, 0f64);
        for (i, &s) in rows.iter().enumerate() {
            if !mask[i] {
                continue;
            }
            let z: f64 = (0..29).map(|k| signs[s][k] as f64 * w[k]).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = labels[s];
            n += 1;
            correct += ((p > 0.5) == y) as usize;
            loss -= if y { p.ln() } else { (1.0 - p).ln() };
        }
        let h = &line["heldout"];
        assert_eq!(h["n"].as_u64().unwrap() as usize, n);
        let acc = correct as f64 / n as f64;
        assert!((h["accuracy"].as_f64().unwrap() - acc).abs() < 1e-12);
        assert!((h["log_loss"].as_f64().unwrap() - loss / n as f64).abs() < 1e-9);
        let e = pooled
            .entry((judge.to_string(), group.to_string()))
            .or_insert((0, 0));
        e.0 += n;
        e.1 += correct;
        checked += 1;
    }
    assert_eq!(checked, lines.len());
    let csv = std::fs::read_to_string(dir.join("out/heldout.csv")).unwrap();
    for line in csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        if let Some(&(n, correct)) = pooled.get(&(c[0].to_string(), c[1].to_string())) {
            assert_eq!(c[2].parse::<usize>().unwrap(), n);
            assert!((c[3].parse::<f64>().unwrap() - correct as f64 / n as f64).abs() < 1e-12);
        }
    }
}
