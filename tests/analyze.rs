//! `analyze`: the paper's headline figures from its released weights, tables from a fit with a
//! bootstrap's intervals joined in, and malformed weight files.

mod common;

use std::path::Path;

use prefdissect::Error;
use prefdissect::analyse::fitted::FittedWeights;
use prefdissect::analyse::tables::{SCENARIO_MEAN, probabilities, similarity};
use prefdissect::base::features::FEATURE_NAMES;
use prefdissect::bootstrap::{BootstrapParams, BootstrapRequest, bootstrap};
use prefdissect::cli::analyze::{AnalyzeRequest, analyze};
use prefdissect::cli::fit::{FitRequest, fit};
use prefdissect::load::Selection;
use prefdissect::simulate::{simulate, write_simulated};
use prefdissect::solve::settings::{Estimator, FitConfig};

#[test]
fn paper_released_weights_give_the_papers_figures() {
    let dir = Path::new("../shared/reference/paper/fitted_paras_comparison");
    if !dir.is_dir() {
        eprintln!("skipped: {} not present", dir.display());
        return;
    }
    let fw = FittedWeights::read(dir).unwrap();
    assert_eq!(fw.groups.len(), 16);
    assert_eq!(fw.judges.len(), 33);
    let sim = similarity(&fw, "human", "gpt-4-1106-preview");
    eprintln!("human vs gpt-4-1106-preview similarity {sim:.4}");
    assert_eq!(format!("{sim:.2}"), "0.74");
    let severe = FEATURE_NAMES
        .iter()
        .position(|&f| f == "no severe errors")
        .unwrap();
    let probs = probabilities(&fw);
    let mean = |judge: &str| {
        probs
            .iter()
            .find(|p| p.judge == judge && p.group == SCENARIO_MEAN && p.feature == severe)
            .unwrap()
            .probability
    };
    eprintln!(
        "no severe errors, scenario mean: human {:.4}, gpt-4-1106-preview {:.4}",
        mean("human"),
        mean("gpt-4-1106-preview")
    );
    assert_eq!(format!("{:.2}", mean("human")), "62.86");
    assert_eq!(format!("{:.2}", mean("gpt-4-1106-preview")), "76.19");
}

#[test]
fn tables_from_a_fit_with_bootstrap_intervals() {
    let dir = common::temp_dir("analyze-fit");
    let data = dir.join("data");
    write_simulated(&simulate(2), &data, 2).unwrap();
    let selection = Selection {
        judges: Some(vec!["human".into(), "qwen-7b".into(), "yi-6b".into()]),
        groups: Some(vec!["Advice".into(), "Code".into(), "w_mistakes".into()]),
    };
    let config = FitConfig {
        estimator: Some(Estimator::Map),
        ..FitConfig::default()
    };
    fit(&FitRequest {
        data: data.clone(),
        out: dir.join("fit"),
        selection: selection.clone(),
        config: config.clone(),
        progress: false,
        backend: Default::default(),
    })
    .unwrap();
    bootstrap(&BootstrapRequest {
        data: data.clone(),
        out: dir.join("boot"),
        selection,
        config,
        params: BootstrapParams::new().replicates(40).check().unwrap(),
        resume: false,
        progress: false,
        stop_after_chunks: None,
        shard: None,
        merging: false,
        backend: Default::default(),
    })
    .unwrap();
    let out = analyze(&AnalyzeRequest {
        fit: dir.join("fit"),
        out: dir.join("tables"),
        k: 2,
        similarity_groups: vec!["w_mistakes".into()],
        bootstrap: Some(dir.join("boot")),
    })
    .unwrap();
    assert_eq!(out.fitted.judges.len(), 3);
    let read = |name: &str| std::fs::read_to_string(dir.join("tables").join(name)).unwrap();
    let probs = read("probabilities.csv");
    // 3 judges × 3 groups × 29 properties + 3 × 29 scenario means, + header.
    assert_eq!(probs.lines().count(), 1 + 9 * 29 + 3 * 29);
    assert!(probs.starts_with("judge,group,feature,weight,probability,ci_low,ci_high"));
    for line in probs.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let p: f64 = cells[4].parse().unwrap();
        let (lo, hi): (f64, f64) = (cells[5].parse().unwrap(), cells[6].parse().unwrap());
        assert!((0.0..=100.0).contains(&p) && lo <= hi, "{line}");
    }
    let sims = read("similarity.csv");
    // 3 × 3 pairs for the scenario mean and for w_mistakes.
    assert_eq!(sims.lines().count(), 1 + 2 * 9);
    let pair = sims
        .lines()
        .find(|l| l.starts_with("human,qwen-7b,scenarios,"))
        .unwrap();
    let cells: Vec<&str> = pair.split(',').collect();
    assert!(cells[4].parse::<f64>().is_ok(), "interval missing: {pair}");
    let diag = sims
        .lines()
        .find(|l| l.starts_with("human,human,scenarios,"))
        .unwrap();
    assert!(diag.split(',').nth(3).unwrap().parse::<f64>().unwrap() > 0.999);
    for svg in ["dissection.svg", "similarity.svg"] {
        assert!(read(svg).starts_with("<svg"), "{svg}");
    }
    let top = read("top_bottom.csv");
    // (3 × 3 + 3 scenario means) × 2 directions × k = 2.
    assert_eq!(top.lines().count(), 1 + 12 * 4);
}

#[test]
fn malformed_weight_files_are_named() {
    let dir = common::temp_dir("analyze-bad");
    let path = dir.join("model_Advice_fitted_paras.jsonl");
    let too_many = vec!["1.0"; 65].join(", ");
    std::fs::write(
        &path,
        format!("{{\"model_name\": \"a\", \"parameters\": [{too_many}]}}\n"),
    )
    .unwrap();
    let err = FittedWeights::read(&dir).unwrap_err();
    assert!(matches!(err, Error::Field { line: 1, .. }), "{err}");
    assert!(
        err.to_string().contains("65 values, expected 1 to 64"),
        "{err}"
    );
    // One fit has one property set: every line the same number of values.
    std::fs::write(
        &path,
        "{\"model_name\": \"a\", \"parameters\": [1.0, 2.0, 3.0]}\n\
         {\"model_name\": \"b\", \"parameters\": [1.0, 2.0]}\n",
    )
    .unwrap();
    let err = FittedWeights::read(&dir).unwrap_err();
    assert!(matches!(err, Error::Field { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("2 values, but"), "{err}");
    assert!(err.to_string().contains("line 1 has 3"), "{err}");
    // K values without a summary.json beside them are named p1 … pK.
    std::fs::write(
        &path,
        "{\"model_name\": \"a\", \"parameters\": [1.0, 2.0]}\n",
    )
    .unwrap();
    let fw = FittedWeights::read(&dir).unwrap();
    assert_eq!(fw.properties, ["p1", "p2"]);
    assert_eq!(fw.get("Advice", "a").unwrap(), [1.0, 2.0]);
    std::fs::write(&path, "{\"model_name\": \"a\",\n").unwrap();
    let err = FittedWeights::read(&dir).unwrap_err();
    assert!(matches!(err, Error::Json { line: 1, .. }), "{err}");
    std::fs::write(&path, "\n").unwrap();
    assert!(matches!(
        FittedWeights::read(&dir),
        Err(Error::Field { .. })
    ));
    let empty = common::temp_dir("analyze-empty");
    assert!(matches!(
        FittedWeights::read(&empty),
        Err(Error::MissingFile { .. })
    ));
}
