//! Bad input: every kind gives a clear message naming the file/line/field, exit code 1, no
//! panic, and no output file at all.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::json;

struct Outcome {
    code: Option<i32>,
    stderr: String,
    wrote_anything: bool,
}

/// Writes a small valid data set, lets `mutate` break it, runs `fit` with `extra` flags.
fn run_case(name: &str, mutate: impl FnOnce(&Path), extra: &[&str]) -> Outcome {
    let dir = common::temp_dir(&format!("bad-{name}"));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 120);
    mutate(&data);
    let out = dir.join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prefdissect"));
    cmd.args(["fit", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out);
    cmd.args(extra);
    let result = cmd.output().unwrap();
    let wrote_anything = out.is_dir() && std::fs::read_dir(&out).unwrap().next().is_some();
    let outcome = Outcome {
        code: result.status.code(),
        stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
        wrote_anything,
    };
    std::fs::remove_dir_all(&dir).ok();
    eprintln!("| {name} | `{}` |", outcome.stderr.trim());
    outcome
}

fn assert_rejected(o: &Outcome, needles: &[&str]) {
    assert_eq!(o.code, Some(1), "exit code; stderr: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "panic: {}", o.stderr);
    assert!(!o.wrote_anything, "output written despite the error");
    for n in needles {
        assert!(o.stderr.contains(n), "expected {n:?} in: {}", o.stderr);
    }
}

fn edit_line(data: &Path, line: usize, f: impl FnOnce(&mut serde_json::Value)) {
    let path = data.join("resolved.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut v: serde_json::Value = serde_json::from_str(&lines[line - 1]).unwrap();
    f(&mut v);
    lines[line - 1] = v.to_string();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

fn replace_line(data: &Path, line: usize, with: &str) {
    let path = data.join("resolved.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[line - 1] = with.to_owned();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn valid_data_is_accepted() {
    let o = run_case("valid", |_| {}, &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.wrote_anything);
}

#[test]
fn malformed_json_line() {
    let o = run_case(
        "malformed-json",
        |d| replace_line(d, 7, "{\"comparison\": {"),
        &[],
    );
    assert_rejected(&o, &["resolved.jsonl:7:", "malformed JSON"]);
}

#[test]
fn nan_feature_value() {
    let o = run_case(
        "nan",
        |d| {
            let path = d.join("resolved.jsonl");
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            lines[9] = lines[9].replacen(
                "\"friendly\":{\"comparison\":",
                "\"friendly\":{\"comparison\":NaN,\"x\":",
                1,
            );
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        },
        &[],
    );
    assert_rejected(&o, &["resolved.jsonl:10:", "malformed JSON"]);
}

#[test]
fn missing_resolved_file() {
    let o = run_case(
        "missing-file",
        |d| std::fs::remove_file(d.join("resolved.jsonl")).unwrap(),
        &[],
    );
    assert_rejected(&o, &["resolved.jsonl", "file not found"]);
}

#[test]
fn missing_groups_file() {
    let o = run_case(
        "missing-groups",
        |d| std::fs::remove_file(d.join("query_aware_idxs.json")).unwrap(),
        &[],
    );
    assert_rejected(&o, &["query_aware_idxs.json", "file not found"]);
}

#[test]
fn wrong_number_of_labels() {
    let o = run_case(
        "label-count",
        |d| std::fs::write(d.join("labels/bob.json"), json!(vec!["A"; 119]).to_string()).unwrap(),
        &[],
    );
    assert_rejected(&o, &["bob.json", "119 labels", "120 samples"]);
}

#[test]
fn label_not_a_or_b() {
    let o = run_case(
        "bad-label",
        |d| {
            let mut l = vec!["A"; 120];
            l[5] = "C";
            std::fs::write(d.join("labels/alice.json"), json!(l).to_string()).unwrap()
        },
        &[],
    );
    assert_rejected(&o, &["alice.json", "label #5", "\"C\""]);
}

#[test]
fn labels_not_a_list() {
    let o = run_case(
        "labels-not-list",
        |d| std::fs::write(d.join("labels/alice.json"), "{\"A\": 1}").unwrap(),
        &[],
    );
    assert_rejected(&o, &["alice.json", "expected a list"]);
}

fn write_groups(d: &Path, g1: serde_json::Value) {
    let g2: Vec<usize> = (5..120).collect();
    std::fs::write(
        d.join("query_aware_idxs.json"),
        json!({"all": (0..120).collect::<Vec<_>>(), "g1": g1, "g2": g2}).to_string(),
    )
    .unwrap();
}

#[test]
fn group_index_out_of_range() {
    let o = run_case("index-range", |d| write_groups(d, json!([0, 2, 120])), &[]);
    assert_rejected(
        &o,
        &[
            "query_aware_idxs.json",
            "group `g1`",
            "index 120 out of range 0..120",
        ],
    );
}

#[test]
fn negative_group_index() {
    let o = run_case(
        "index-negative",
        |d| write_groups(d, json!([0, -1, 4])),
        &[],
    );
    assert_rejected(&o, &["group `g1`", "index -1 out of range"]);
}

#[test]
fn duplicate_group_index() {
    let o = run_case("duplicate", |d| write_groups(d, json!([0, 2, 4, 2])), &[]);
    assert_rejected(&o, &["group `g1`", "index 2 listed more than once"]);
}

#[test]
fn empty_group() {
    let o = run_case("empty-group", |d| write_groups(d, json!([])), &[]);
    assert_rejected(&o, &["group `g1`", "0 usable samples"]);
}

#[test]
fn group_too_small_for_the_folds_after_dropping_999_rows() {
    // Sample 3 carries the 999 sentinel: 10 listed, 9 usable, 10 folds needed.
    let o = run_case(
        "small-group",
        |d| write_groups(d, json!([1, 3, 5, 7, 9, 11, 13, 15, 17, 19])),
        &[],
    );
    assert_rejected(&o, &["group `g1` has 9 usable samples", "at least 10"]);
}

#[test]
fn judge_without_a_labels_file() {
    let o = run_case("no-judge-file", |_| {}, &["--judges", "alice,carol"]);
    assert_rejected(&o, &["judge `carol`", "no labels file", "carol.json"]);
}

#[test]
fn no_labels_at_all() {
    let o = run_case(
        "no-labels",
        |d| std::fs::remove_dir_all(d.join("labels")).unwrap(),
        &[],
    );
    assert_rejected(&o, &["labels", "file not found"]);
}

#[test]
fn unknown_group_requested() {
    let o = run_case("unknown-group", |_| {}, &["--groups", "g1,Cooking"]);
    assert_rejected(&o, &["group `Cooking` is not defined", "known: g1, g2"]);
}

#[test]
fn feature_outside_signs() {
    let o = run_case(
        "feature-2",
        |d| {
            edit_line(d, 12, |v| {
                v["comparison"]["polite"]["comparison"] = json!(2)
            })
        },
        &[],
    );
    assert_rejected(
        &o,
        &[
            "resolved.jsonl:12:",
            "comparison.polite.comparison",
            "value 2 is not a sign",
        ],
    );
}

#[test]
fn fractional_feature() {
    let o = run_case(
        "feature-frac",
        |d| {
            edit_line(d, 4, |v| {
                v["comparison"]["length"]["comparison"] = json!(0.5)
            })
        },
        &[],
    );
    assert_rejected(
        &o,
        &["resolved.jsonl:4:", "comparison.length.comparison", "0.5"],
    );
}

#[test]
fn sentinel_in_a_plain_property() {
    let o = run_case(
        "sentinel-friendly",
        |d| {
            edit_line(d, 8, |v| {
                v["comparison"]["friendly"]["comparison"] = json!(999)
            })
        },
        &[],
    );
    assert_rejected(
        &o,
        &[
            "resolved.jsonl:8:",
            "comparison.friendly.comparison",
            "999 sentinel",
        ],
    );
}

#[test]
fn sentinel_inside_the_accuracy_dict() {
    let o = run_case(
        "sentinel-severe",
        |d| {
            edit_line(d, 2, |v| {
                v["comparison"]["accuracy"]["comparison"]["Severe"] = json!(999)
            })
        },
        &[],
    );
    assert_rejected(
        &o,
        &[
            "resolved.jsonl:2:",
            "accuracy.comparison.Severe",
            "999 sentinel",
        ],
    );
}

#[test]
fn accuracy_of_the_wrong_type() {
    let o = run_case(
        "accuracy-type",
        |d| {
            edit_line(d, 6, |v| {
                v["comparison"]["accuracy"]["comparison"] = json!("n/a")
            })
        },
        &[],
    );
    assert_rejected(&o, &["resolved.jsonl:6:", "accuracy.comparison", "\"n/a\""]);
}

#[test]
fn missing_property_key() {
    let o = run_case(
        "missing-key",
        |d| {
            edit_line(d, 15, |v| {
                v["comparison"]
                    .as_object_mut()
                    .unwrap()
                    .remove("well formatted");
            })
        },
        &[],
    );
    assert_rejected(
        &o,
        &["resolved.jsonl:15:", "comparison.well formatted", "missing"],
    );
}

#[test]
fn blank_line_inside_the_file() {
    let o = run_case("blank-line", |d| replace_line(d, 30, "   "), &[]);
    assert_rejected(&o, &["resolved.jsonl:30:", "empty line"]);
}

#[test]
fn config_with_a_misspelt_field() {
    let dir = common::temp_dir("bad-config-file");
    let cfg = dir.join("cfg.json");
    std::fs::write(&cfg, "{\"folds\": 10,\n \"prior_scal\": 0.1}").unwrap();
    let o = run_case("config-typo", |_| {}, &["--config", cfg.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_rejected(&o, &["cfg.json", "unknown field `prior_scal`", "line 2"]);
}

#[test]
fn invalid_setting() {
    let o = run_case("prior-scale", |_| {}, &["--prior-scale=-1"]);
    assert_rejected(&o, &["setting `prior_scale`", "positive"]);
}

#[test]
fn zero_folds() {
    let o = run_case("folds-0", |_| {}, &["--folds", "0"]);
    assert_rejected(&o, &["setting `folds`", "at least 1"]);
}

#[test]
fn judge_listed_twice() {
    let o = run_case("judge-twice", |_| {}, &["--judges", "alice,bob,alice"]);
    assert_rejected(&o, &["setting `judges`", "`alice` is listed twice"]);
}
