//! The authors' own runs on the dev data (numpyro summaries in ../shared/data/dev/numpyro) agree
//! with our design on which rows each fit trains on: same n_train for every fold and group.

use std::path::Path;

use prefdissect::design::BatchDesign;
use prefdissect::load::{Dataset, Selection};
use serde_json::Value;

fn check(file: &str, folds: usize) {
    let dev = Path::new("../shared/data/dev");
    let path = dev.join("numpyro").join(file);
    if !path.exists() {
        eprintln!("skipped: {} not present", path.display());
        return;
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let data = Dataset::load(dev, &Selection::default()).unwrap();
    let design = BatchDesign::build(&data, folds, 0).unwrap();
    let mut checked = 0;
    for f in doc["fits"].as_array().unwrap() {
        let judge = data
            .judges
            .iter()
            .position(|j| j.name == f["judge"].as_str().unwrap())
            .unwrap();
        let group = design
            .groups
            .iter()
            .position(|g| g.name == f["group"].as_str().unwrap())
            .unwrap();
        let fold = f["fold"].as_u64().unwrap() as u16;
        let ours = design
            .fits
            .iter()
            .find(|x| x.judge == judge && x.group == group && x.fold.unwrap_or(0) == fold)
            .unwrap();
        assert_eq!(
            ours.n_train as u64,
            f["n_train"].as_u64().unwrap(),
            "{} {} fold {fold}",
            f["judge"],
            f["group"]
        );
        checked += 1;
    }
    eprintln!("{file}: n_train agrees on {checked} fits");
    assert!(checked > 0);
}

#[test]
fn ten_fold_training_sizes_match_numpyro() {
    check("human_2_groups_10_folds.json", 10);
}

#[test]
fn whole_group_training_sizes_match_numpyro() {
    check("three_judges_16_groups_one_fold.json", 1);
}
