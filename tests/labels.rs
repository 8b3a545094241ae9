//! `labels`: the paper's rule for a new judge's labels from log-probabilities in both orders,
//! both input layouts, and bad input.

mod common;

use std::process::Command;

use prefdissect::Error;
use prefdissect::cli::labels::{TokenLogprobs, label, make_labels, read_logprobs};

fn lp(a: f64, b: f64) -> TokenLogprobs {
    TokenLogprobs { a, b }
}

#[test]
fn the_papers_rule() {
    // Prefers response 1 in both orders.
    assert!(label(lp(-0.1, -2.3), lp(-2.0, -0.2)));
    // Prefers response 2 in both orders.
    assert!(!label(lp(-2.3, -0.1), lp(-0.2, -2.0)));
    // Always answers "A" whatever the order: pure position bias, a tie, which gives "B".
    assert!(!label(lp(-0.1, -2.3), lp(-0.1, -2.3)));
    // Confident in one order, unsure in the other: the sums decide.
    assert!(label(lp(-0.01, -4.6), lp(-0.6, -0.8)));
    // A token with probability 0 (null → −∞).
    assert!(label(lp(-0.5, f64::NEG_INFINITY), lp(-1.0, -0.4)));
}

#[test]
fn files_in_either_layout_give_the_labels_a_fit_reads() {
    let dir = common::temp_dir("labels");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 40);
    let mut ab = String::new();
    let mut ba = Vec::new();
    for i in 0..40 {
        let p = if i % 3 == 0 {
            (-0.2, -1.8)
        } else {
            (-1.5, -0.3)
        };
        ab.push_str(&format!("{{\"A\": {}, \"B\": {}}}\n", p.0, p.1));
        ba.push(serde_json::json!({"A": p.1, "B": if i == 6 { serde_json::Value::Null } else { p.0.into() }}));
    }
    std::fs::write(dir.join("ab.jsonl"), ab).unwrap();
    std::fs::write(
        dir.join("ba.json"),
        serde_json::Value::Array(ba).to_string(),
    )
    .unwrap();
    assert_eq!(read_logprobs(&dir.join("ba.json")).unwrap().len(), 40);
    let out = data.join("labels/carol.json");
    let bin = env!("CARGO_BIN_EXE_prefdissect");
    let run = Command::new(bin)
        .args(["labels", "--logprobs"])
        .arg(dir.join("ab.jsonl"))
        .arg("--logprobs-swapped")
        .arg(dir.join("ba.json"))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let labels: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for (i, l) in labels.iter().enumerate() {
        // Sample 6 would be "A", but its swapped log P("B") is null (−∞), which sinks score_A.
        let want = if i % 3 == 0 && i != 6 { "A" } else { "B" };
        assert_eq!(l, want, "sample {i}");
    }
    // The new judge is fitted like any other.
    let loaded = prefdissect::load::Dataset::load(&data, &Default::default()).unwrap();
    assert!(loaded.judges.iter().any(|j| j.name == "carol"));
}

#[test]
fn bad_logprob_files() {
    let dir = common::temp_dir("labels-bad");
    let ab = dir.join("ab.jsonl");
    let ba = dir.join("ba.jsonl");
    std::fs::write(&ab, "{\"A\": -0.1, \"B\": -2.0}\n{\"A\": -0.3}\n").unwrap();
    std::fs::write(
        &ba,
        "{\"A\": -0.1, \"B\": -2.0}\n{\"A\": -0.3, \"B\": -1.0}\n",
    )
    .unwrap();
    let out = dir.join("labels.json");
    let err = make_labels(&ab, &ba, None, &out).unwrap_err();
    assert!(matches!(err, Error::Field { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("[1].B"), "{err}");
    std::fs::write(
        &ab,
        "{\"A\": 0.5, \"B\": -2.0}\n{\"A\": -0.3, \"B\": -1.0}\n",
    )
    .unwrap();
    let err = make_labels(&ab, &ba, None, &out).unwrap_err();
    assert!(err.to_string().contains("not a log-probability"), "{err}");
    std::fs::write(&ab, "{\"A\": -0.5, \"B\": -2.0}\n").unwrap();
    let err = make_labels(&ab, &ba, None, &out).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LabelCount {
                expected: 1,
                got: 2,
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(
        &ab,
        "{\"A\": -0.5, \"B\": -2.0}\n{\"A\": -0.3, \"B\": -1.0}\n",
    )
    .unwrap();
    let err = make_labels(&ab, &ba, Some((5, &dir.join("resolved.jsonl"))), &out).unwrap_err();
    assert!(err.to_string().contains("has 5 samples"), "{err}");
    assert!(!out.exists());
}
