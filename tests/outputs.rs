#![allow(clippy::needless_range_loop)]
//! Output files: the authors' format byte for byte, fold averages, determinism, the simulator's
//! truth being recovered, and the full dev-data run writing 16 files × 33 judges.

mod common;

use std::path::Path;
use std::process::Command;

use prefdissect::analyse::pearson;
use prefdissect::base::features::SCENARIO_GROUPS;
use prefdissect::cli::fit::{FitRequest, fit};
use prefdissect::load::Selection;
use prefdissect::report::python_float;
use prefdissect::simulate::{simulate, write_simulated};
use prefdissect::solve::settings::{Estimator, FitConfig};
use serde_json::Value;

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn floats_are_written_as_python_repr() {
    assert_eq!(python_float(0.0), "0.0");
    assert_eq!(python_float(1.0), "1.0");
    assert_eq!(python_float(-123.0), "-123.0");
    assert_eq!(python_float(0.17659009620547295), "0.17659009620547295");
    assert_eq!(python_float(0.0001), "0.0001");
    assert_eq!(python_float(1e-05), "1e-05");
    assert_eq!(python_float(-2.5e-7), "-2.5e-07");
    assert_eq!(python_float(1.2345e-100), "1.2345e-100");
    assert_eq!(python_float(1e16), "1e+16");
    assert_eq!(python_float(123456789012345.6), "123456789012345.6");
}

#[test]
fn fitted_paras_are_fold_means_in_the_authors_format_and_runs_repeat_exactly() {
    let dir = common::temp_dir("outputs");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 160);
    let request = |out: &str| FitRequest {
        data: data.clone(),
        out: dir.join(out),
        selection: Selection::default(),
        config: FitConfig {
            estimator: Some(Estimator::Map),
            ..FitConfig::default()
        },
        progress: false,
        backend: Default::default(),
    };
    fit(&request("a")).unwrap();
    fit(&request("b")).unwrap();
    for rel in [
        "fits.jsonl",
        "fitted_paras_comparison/model_g1_fitted_paras.jsonl",
        "fitted_paras_comparison/model_g2_fitted_paras.jsonl",
    ] {
        let a = std::fs::read(dir.join("a").join(rel)).unwrap();
        let b = std::fs::read(dir.join("b").join(rel)).unwrap();
        assert!(a == b, "{rel} differs between two runs with the same seed");
    }
    let fits = read_jsonl(&dir.join("a/fits.jsonl"));
    assert_eq!(fits.len(), 2 * 2 * 10);
    let text =
        std::fs::read_to_string(dir.join("a/fitted_paras_comparison/model_g2_fitted_paras.jsonl"))
            .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, judge) in lines.iter().zip(["alice", "bob"]) {
        assert!(line.starts_with(&format!("{{\"model_name\": \"{judge}\", \"parameters\": [")));
        let v: Value = serde_json::from_str(line).unwrap();
        let params: Vec<f64> = v["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(params.len(), 29);
        let mut mean = [0f64; 29];
        let mut n = 0;
        for f in fits
            .iter()
            .filter(|f| f["judge"] == judge && f["group"] == "g2")
        {
            n += 1;
            for k in 0..29 {
                mean[k] += f["weights"][k].as_f64().unwrap();
            }
            assert!(f["kkt"].as_f64().unwrap() <= 1e-4);
        }
        assert_eq!(n, 10);
        for k in 0..29 {
            assert!((params[k] - mean[k] / 10.0).abs() <= 1e-12);
        }
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("a/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["counts"]["fits"], 40);
    assert_eq!(summary["counts"]["samples_unchecked_999"], 1);
    assert_eq!(summary["counts"]["fits_over_kkt_tol"], 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fits_recover_the_simulators_true_weights() {
    let dir = common::temp_dir("truth");
    let sim = simulate(11);
    write_simulated(&sim, &dir.join("data"), 11).unwrap();
    let judges = [
        "human",
        "gpt-4-1106-preview",
        "llama-2-7b-chat",
        "zephyr-7b-beta",
    ];
    let outcome = fit(&FitRequest {
        data: dir.join("data"),
        out: dir.join("out"),
        selection: Selection {
            judges: Some(judges.iter().map(|s| s.to_string()).collect()),
            groups: None,
        },
        config: FitConfig {
            estimator: Some(Estimator::Map),
            ..FitConfig::default()
        },
        progress: false,
        backend: Default::default(),
    })
    .unwrap();
    for judge in judges {
        let (mut fitted, mut truth) = (Vec::new(), Vec::new());
        for scen in SCENARIO_GROUPS {
            let path = dir.join(format!(
                "out/fitted_paras_comparison/model_{scen}_fitted_paras.jsonl"
            ));
            let line = read_jsonl(&path)
                .into_iter()
                .find(|v| v["model_name"] == judge)
                .unwrap();
            for k in 0..29 {
                fitted.push(line["parameters"][k].as_f64().unwrap());
            }
            truth.extend_from_slice(&sim.truth[scen][judge]);
        }
        let r = pearson(&fitted, &truth);
        eprintln!("{judge}: r(fitted, true) = {r:.3}");
        // The L1 MAP shrinks hard (λ = 10 on ~360 rows) but must track the truth.
        assert!(r > 0.5, "{judge}: r = {r}");
    }
    assert_eq!(outcome.design.fits.len(), 4 * 16 * 10);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dev_data_fit_writes_every_group_and_judge() {
    let dev = Path::new("../shared/data/dev");
    if !dev.join("resolved.jsonl").exists() {
        eprintln!("skipped: ../shared/data/dev not present");
        return;
    }
    let dir = common::temp_dir("dev-fit");
    let status = Command::new(env!("CARGO_BIN_EXE_prefdissect"))
        .args(["fit", "--estimator", "map", "--data"])
        .arg(dev)
        .arg("--out")
        .arg(dir.join("out"))
        .status()
        .unwrap();
    assert!(status.success());
    let files: Vec<_> = std::fs::read_dir(dir.join("out/fitted_paras_comparison"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 16);
    for f in &files {
        assert_eq!(read_jsonl(f).len(), 33, "{}", f.display());
    }
    let fits = read_jsonl(&dir.join("out/fits.jsonl"));
    assert_eq!(fits.len(), 5280);
    assert!(fits.iter().all(|f| f["kkt"].as_f64().unwrap() <= 1e-4));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_authors_released_files_re_render_byte_for_byte() {
    let dir = Path::new("../shared/reference/paper/fitted_paras_comparison");
    if !dir.is_dir() {
        eprintln!("skipped: ../shared/reference/paper not present");
        return;
    }
    let mut lines_checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let params: Vec<String> = v["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| python_float(x.as_f64().unwrap()))
                .collect();
            let ours = format!(
                "{{\"model_name\": {}, \"parameters\": [{}]}}",
                v["model_name"],
                params.join(", ")
            );
            assert_eq!(ours, line, "{}", path.display());
            lines_checked += 1;
        }
    }
    assert_eq!(lines_checked, 16 * 33);
}

#[test]
fn a_fit_with_a_non_finite_estimate_writes_nothing() {
    use prefdissect::cli::fit::{Solution, check_finite};
    let dir = common::temp_dir("non-finite");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 60);
    let mut outcome = fit(&FitRequest {
        data,
        out: dir.join("fit"),
        selection: Selection::default(),
        config: FitConfig {
            estimator: Some(Estimator::Map),
            ..FitConfig::default()
        },
        progress: false,
        backend: Default::default(),
    })
    .unwrap();
    let judges: Vec<String> = outcome.data.judges.iter().map(|j| j.name.clone()).collect();
    check_finite(&outcome.design, &judges, &outcome.solution).unwrap();
    let Solution::Map(s) = &mut outcome.solution else {
        panic!("a MAP fit")
    };
    s.fits[3].weights[7] = f64::NAN;
    let f = &outcome.design.fits[3];
    let err = check_finite(&outcome.design, &judges, &outcome.solution)
        .unwrap_err()
        .to_string();
    let name = format!(
        "fit {} / {} / fold {}: weights is NaN",
        judges[f.judge],
        outcome.design.groups[f.group].name,
        f.fold.unwrap()
    );
    assert!(err.contains(&name), "{err}");
}
