//! Manipulation data: prompts from a judge's most / least preferred properties, and pairs
//! labelled by its model, filtered by confidence, inverted for "against", with texts for DPO.

mod common;

use prefdissect::Error;
use prefdissect::analyse::fitted::FittedWeights;
use prefdissect::analyse::tables::{SCENARIO_MEAN, probabilities};
use prefdissect::base::features::FEATURE_NAMES;
use prefdissect::cli::fit::{FitRequest, fit};
use prefdissect::load::{Dataset, Selection};
use prefdissect::manipulate::pairs::{Direction, label_pairs, render};
use prefdissect::manipulate::prompts::{PROPERTY_REQUESTS, prompts};
use prefdissect::simulate::{simulate, write_simulated};
use prefdissect::solve::settings::{Estimator, FitConfig};

fn fitted(name: &str) -> (std::path::PathBuf, FittedWeights, Dataset) {
    let dir = common::temp_dir(name);
    let data = dir.join("data");
    write_simulated(&simulate(6), &data, 6).unwrap();
    fit(&FitRequest {
        data: data.clone(),
        out: dir.join("fit"),
        selection: Selection {
            judges: Some(vec!["human".into(), "qwen-72b-chat".into()]),
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
    let fw = FittedWeights::read(&dir.join("fit")).unwrap();
    let ds = Dataset::load(
        &data,
        &Selection {
            judges: Some(Vec::new()),
            groups: None,
        },
    )
    .unwrap();
    (dir, fw, ds)
}

#[test]
fn prompts_ask_for_the_top_and_bottom_properties() {
    let (_, fw, _) = fitted("manip-prompts");
    let p = prompts(&fw, "human", None, 3).unwrap();
    let probs: Vec<f64> = {
        let all = probabilities(&fw);
        let mut v = vec![0.0; 29];
        for q in all
            .iter()
            .filter(|q| q.judge == "human" && q.group == SCENARIO_MEAN)
        {
            v[q.feature] = q.probability;
        }
        v
    };
    let mut order: Vec<usize> = (0..29).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    for (i, prop) in p.align.properties.iter().enumerate() {
        assert_eq!(prop.property, FEATURE_NAMES[order[i]]);
        let k = FEATURE_NAMES
            .iter()
            .position(|&f| f == prop.property)
            .unwrap();
        assert!(p.align.system_message.contains(PROPERTY_REQUESTS[k]));
    }
    for (i, prop) in p.against.properties.iter().enumerate() {
        assert_eq!(prop.property, FEATURE_NAMES[order[28 - i]]);
    }
    assert!(p.align.properties[2].probability > p.against.properties[2].probability);
    assert!(matches!(
        prompts(&fw, "human", None, 0),
        Err(Error::Setting { name: "k", .. })
    ));
    assert!(matches!(
        prompts(&fw, "carol", None, 3),
        Err(Error::Setting { name: "judge", .. })
    ));
    let g = prompts(&fw, "human", Some("Code"), 2).unwrap();
    assert_eq!(g.group, "Code");
}

#[test]
fn pairs_are_confident_labels_inverted_for_against() {
    let (dir, fw, data) = fitted("manip-pairs");
    let (align, labelled) = label_pairs(&data, &fw, "human", None, 0.15, Direction::Align).unwrap();
    let (against, _) = label_pairs(&data, &fw, "human", None, 0.15, Direction::Against).unwrap();
    assert_eq!(labelled, 5240, "every sample has a scenario group");
    assert_eq!(align.len(), against.len());
    assert!(!align.is_empty() && align.len() < labelled);
    for (a, b) in align.iter().zip(&against) {
        assert_eq!(a.sample, b.sample);
        assert!((a.p_a - 0.5).abs() > 0.15);
        assert_eq!(a.chosen, if a.p_a > 0.5 { "A" } else { "B" });
        assert_ne!(a.chosen, b.chosen);
    }
    let (none, _) = label_pairs(&data, &fw, "human", None, 0.0, Direction::Align).unwrap();
    assert!(none.len() >= align.len());

    // DPO lines from the source texts.
    let texts = dir.join("texts.jsonl");
    let lines: String = (0..5240)
        .map(|i| {
            serde_json::json!({"prompt": format!("q{i}"), "response_a": format!("a{i}"),
                               "response_b": format!("b{i}")})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&texts, lines).unwrap();
    let out = render(&align, Some(&texts)).unwrap();
    for (line, pair) in out.lines().zip(&align) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (win, lose) = if pair.chosen == "A" {
            ("a", "b")
        } else {
            ("b", "a")
        };
        assert_eq!(v["prompt"], format!("q{}", pair.sample));
        assert_eq!(v["chosen"], format!("{win}{}", pair.sample));
        assert_eq!(v["rejected"], format!("{lose}{}", pair.sample));
    }
    std::fs::write(
        &texts,
        "{\"prompt\": \"q\", \"response_a\": \"a\", \"response_b\": \"b\"}\n",
    )
    .unwrap();
    assert!(render(&align, Some(&texts)).is_err());
    assert!(matches!(
        label_pairs(&data, &fw, "human", None, 0.6, Direction::Align),
        Err(Error::Setting { name: "margin", .. })
    ));
    // A flat model keeps no pair: an error naming the judge and the margin that would keep
    // some, not an empty training file.
    let mut flat = fw.clone();
    for w in flat.weights.values_mut() {
        *w = [0.0; prefdissect::base::features::MAX_K];
    }
    let err = label_pairs(&data, &flat, "human", None, 0.15, Direction::Align).unwrap_err();
    assert!(
        err.to_string()
            .contains("`human` keeps no pair at margin 0.15")
            && err.to_string().contains("= 0.0000"),
        "{err}"
    );
}
