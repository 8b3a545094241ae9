//! `prefdissect resolve`: the authors' annotation files to a data directory. Hand-made pairs
//! with their expected comparisons worked out from the authors' rules, the skip of a pair
//! whose annotation is not JSON, clear errors where the authors' script would crash, and (with
//! ../shared) the dev data's 5,240 records rebuilt from their own annotations.

mod common;

use std::path::Path;

use prefdissect::base::features::FEATURE_NAMES;
use prefdissect::load::read_resolved;
use serde_json::{Value, json};

const FILES: [&str; 5] = [
    "query_info.jsonl",
    "query-free-features-by-pair.jsonl",
    "query-aware-once-features-by-pair.jsonl",
    "query-aware-twice-features-by-pair.jsonl",
    "accuracy-features.jsonl",
];

const QUERY_FREE: [&str; 18] = [
    "harmlessness",
    "grammar, spelling, punctuation, and code-switching",
    "friendly",
    "polite",
    "interactive",
    "authoritative tone",
    "funny and humorous",
    "metaphors, personification, similes, hyperboles, irony, parallelism",
    "complex word usage and sentence structure",
    "use of direct and explicit supporting materials",
    "well formatted",
    "admit limitations or mistakes",
    "persuade user",
    "step by step solution",
    "use of informal expressions",
    "repetitive",
    "clear and understandable",
    "information richness without considering inaccuracy",
];

/// One pair's source line and its five annotation lines (`None`: a line without `output`).
struct Pair {
    source: Value,
    outputs: [Option<String>; 5],
}

fn write(dir: &Path, pairs: &[Pair]) {
    let ann = dir.join("annotation_results");
    std::fs::create_dir_all(&ann).unwrap();
    let src: String = pairs.iter().map(|p| p.source.to_string() + "\n").collect();
    std::fs::write(dir.join("source.jsonl"), src).unwrap();
    for (k, f) in FILES.iter().enumerate() {
        let text: String = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let line = match &p.outputs[k] {
                    Some(o) => json!({"output": o, "cost": 0.01, "finish_reason": "stop"}),
                    None => json!({"tag": format!("{i}_query-aware-twice-features-pair")}),
                };
                line.to_string() + "\n"
            })
            .collect();
        std::fs::write(ann.join(f), text).unwrap();
    }
}

fn run(dir: &Path) -> std::process::Output {
    common::bin()
        .args(["resolve", "--source"])
        .arg(dir.join("source.jsonl"))
        .arg("--annotations")
        .arg(dir.join("annotation_results"))
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap()
}

/// Query-free ratings: every key 1 vs 1 but those given.
fn free(over: &[(&str, Value, Value)]) -> String {
    let mut m = serde_json::Map::new();
    for k in QUERY_FREE {
        m.insert(k.into(), json!({"response 1": "1", "response 2": "1"}));
    }
    for (k, a, b) in over {
        m.insert(k.to_string(), json!({"response 1": a, "response 2": b}));
    }
    Value::Object(m).to_string()
}

fn once(relevance: (i64, i64)) -> String {
    json!({
        "innovative and novel": {"response 1": "2", "response 2": "2"},
        "relevance without considering inaccuracy":
            {"response 1": relevance.0.to_string(), "response 2": relevance.1.to_string()},
    })
    .to_string()
}

fn qinfo(intent: &str, constraints: &[&str], stances: &[&str]) -> String {
    json!({"clear intent": intent, "explicitly express feelings": "No",
           "explicit constraints": constraints, "explicit subjective stances": stances,
           "explicit mistakes or biases": []})
    .to_string()
}

fn acc(check1: &str, sev1: &[&str], sev2: &[&str]) -> String {
    let list = |s: &[&str]| -> Vec<Value> {
        s.iter()
            .map(|v| json!({"brief description": "x", "type": "factual", "severity": v}))
            .collect()
    };
    json!({"Response 1": {"accuracy check": check1, "inaccuracies": list(sev1)},
           "Response 2": {"accuracy check": "applicable", "inaccuracies": list(sev2)}})
    .to_string()
}

fn source(w1: i64, w2: i64, group: &str, winner: &str) -> Value {
    json!({"response_a word": w1, "response_b word": w2, "group": group, "winner": winner,
           "prompt": "…", "response_a": "…", "response_b": "…"})
}

fn feature(name: &str) -> usize {
    FEATURE_NAMES.iter().position(|f| *f == name).unwrap()
}

fn hand_made() -> Vec<Pair> {
    vec![
        // Relevance 3 vs 1 is a tie (both relevant); friendly "2" vs 1: +1; repetitive 3 vs 0:
        // response 1 more repetitive, so non-repetitive −1; a severe error in response 1
        // only: no-severe-errors −1 (a "trivial" one is not counted); constraints (3, 1) vs
        // (0, 3): means 2 vs 1.5, +1; 100 vs 50 words: +1.
        Pair {
            source: source(100, 50, "Advice", "model_a"),
            outputs: [
                Some(qinfo("Yes", &["a", "b"], &[])),
                Some(free(&[
                    ("friendly", json!("2"), json!(1)),
                    ("repetitive", json!(3), json!("0")),
                ])),
                Some(once((3, 1))),
                Some(
                    json!({"satisfying explicit constraints": {
                        "under 100 words": {"Response 1": "3", "Response 2": "0"},
                        "in French": {"Response 1": "1", "Response 2": "3"}}})
                    .to_string(),
                ),
                Some(acc("applicable", &["Severe", "trivial"], &[])),
            ],
        },
        // Accuracy not checked: the 999 sentinel; no query-specific question (a line without
        // output); 5 vs 9 words: the table says 5 loses only from 10.
        Pair {
            source: source(5, 9, "Code", "model_b"),
            outputs: [
                Some(qinfo("Yes", &[], &[])),
                Some(free(&[])),
                Some(once((0, 2))),
                None,
                Some(acc("not applicable", &[], &[])),
            ],
        },
        // A failed inference: skipped, as the authors do.
        Pair {
            source: source(10, 10, "Code", "model_a"),
            outputs: [
                Some(qinfo("Yes", &[], &[])),
                Some("Failed!".into()),
                Some(once((1, 1))),
                None,
                Some(acc("applicable", &[], &[])),
            ],
        },
        // Unclear intent, clarified 0 vs 2: −1; a stance strongly opposed vs neutral: −1.
        Pair {
            source: source(40, 41, "Advice", "model_b"),
            outputs: [
                Some(qinfo("No", &[], &["cats are best"])),
                Some(free(&[])),
                Some(once((2, 0))),
                Some(
                    json!({"clarify user intent": {"Response 1": 0, "Response 2": "2"},
                           "supporting explicit subjective stances": {
                               "cats are best": {"Response 1": "Strongly opposed",
                                                 "Response 2": " neutral"}}})
                    .to_string(),
                ),
                Some(acc("applicable", &[], &[" minor "])),
            ],
        },
    ]
}

#[test]
fn hand_made_pairs_resolve_by_the_authors_rules() {
    let dir = common::temp_dir("resolve-hand");
    write(&dir, &hand_made());
    let o = run(&dir);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("1 pairs skipped"), "{stderr}");
    let out = dir.join("out");
    let a = read_resolved(&out.join("resolved.jsonl")).unwrap();
    assert_eq!(a.n_samples(), 3);
    let v = |row: usize, name: &str| a.values[[row, feature(name)]];
    // Pair 0.
    assert_eq!(v(0, "relevant"), 0.0);
    assert_eq!(v(0, "friendly"), 1.0);
    assert_eq!(v(0, "non-repetitive"), -1.0);
    assert_eq!(v(0, "no severe errors"), -1.0);
    assert_eq!(v(0, "no minor errors"), 0.0);
    assert_eq!(v(0, "satisfy constraints"), 1.0);
    assert_eq!(v(0, "lengthy"), 1.0);
    assert_eq!(v(0, "polite"), 0.0);
    assert!(!a.unchecked[0]);
    // Pair 1: the sentinel, relevance 0 vs 2, lengths 5 vs 9.
    assert!(a.unchecked[1]);
    assert_eq!(v(1, "relevant"), -1.0);
    assert_eq!(v(1, "lengthy"), 0.0);
    assert_eq!(v(1, "satisfy constraints"), 0.0);
    // Pair 3 (row 2 after the skip).
    assert_eq!(v(2, "clarify intent"), -1.0);
    assert_eq!(v(2, "support stances"), -1.0);
    assert_eq!(v(2, "relevant"), 1.0);
    assert_eq!(v(2, "no minor errors"), 1.0);
    assert_eq!(v(2, "lengthy"), 0.0);
    // The record keeps the authors' figures beside the sign.
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(out.join("resolved.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let c = &first["comparison"]["satisfying explicit constraints"];
    assert_eq!(c["diff"], json!(0.5));
    assert_eq!(c["meta"]["in French"]["Response 2"], json!("3"));
    assert_eq!(first["comparison"]["accuracy"]["diff"]["Severe"], json!(-1));
    // Groups by output position; labels from `winner`.
    let groups: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("query_aware_idxs.json")).unwrap())
            .unwrap();
    assert_eq!(groups["all"], json!([0, 1, 2]));
    assert_eq!(groups["Advice"], json!([0, 2]));
    assert_eq!(groups["Code"], json!([1]));
    assert_eq!(groups["intent_unclear"], json!([2]));
    assert_eq!(groups["w_constraints"], json!([0]));
    assert_eq!(groups["w_stances"], json!([2]));
    assert!(
        groups.get("w_mistakes").is_none(),
        "an empty group is left out"
    );
    let human = std::fs::read_to_string(out.join("labels/human.json")).unwrap();
    assert_eq!(human.trim(), r#"["A","B","B"]"#);
}

#[test]
fn where_the_authors_script_would_crash_an_error_names_the_place() {
    type Edit = Box<dyn Fn(&mut Vec<Pair>)>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "a rating without its second response",
            Box::new(|p| {
                p[0].outputs[1] = Some(json!({"friendly": {"response 1": 2}}).to_string());
            }),
            vec![
                "query-free-features-by-pair.jsonl:1",
                "output.friendly.response 2",
                "missing",
            ],
        ),
        (
            "an empty constraints dict (a division by zero there)",
            Box::new(|p| {
                p[0].outputs[3] = Some(json!({"satisfying explicit constraints": {}}).to_string());
            }),
            vec![
                "query-aware-twice-features-by-pair.jsonl:1",
                "not a non-empty object",
            ],
        ),
        (
            "a stance that is not a string (`.lower()` there)",
            Box::new(|p| {
                p[3].outputs[3] = Some(
                    json!({"supporting explicit subjective stances":
                           {"s": {"Response 1": 2, "Response 2": "neutral"}}})
                    .to_string(),
                );
            }),
            vec![
                "query-aware-twice-features-by-pair.jsonl:4",
                "s.Response 1",
                "not a string",
            ],
        ),
        (
            "a missing word count",
            Box::new(|p| {
                p[1].source
                    .as_object_mut()
                    .unwrap()
                    .remove("response_b word");
            }),
            vec!["source.jsonl:2", "response_b word"],
        ),
        (
            "an annotation file one line short",
            Box::new(|_| {}),
            vec![
                "accuracy-features.jsonl",
                "holds 3 annotation lines, the source 4 pairs",
            ],
        ),
    ];
    for (what, edit, expect) in cases {
        let dir = common::temp_dir("resolve-bad");
        let mut pairs = hand_made();
        edit(&mut pairs);
        write(&dir, &pairs);
        if what.contains("one line short") {
            let f = dir.join("annotation_results").join(FILES[4]);
            let text = std::fs::read_to_string(&f).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            std::fs::write(&f, lines[..3].join("\n")).unwrap();
        }
        let o = run(&dir);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        for e in expect {
            assert!(stderr.contains(e), "{what}: `{e}` not in {stderr}");
        }
        assert!(!dir.join("out").exists(), "{what}: nothing written");
    }
}

/// The dev data's records rebuilt from their own annotations (`meta`): resolving them must
/// give every record's 29 comparisons, its sentinel, the groups and the human labels back.
#[test]
fn dev_records_come_back_from_their_annotations() {
    let dev = Path::new("../shared/data/dev");
    if !dev.join("resolved.jsonl").exists() {
        eprintln!("skipped: ../shared/data/dev not present");
        return;
    }
    let groups: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dev.join("query_aware_idxs.json")).unwrap())
            .unwrap();
    let facts = [
        "all",
        "intent_unclear",
        "express_feeling",
        "w_constraints",
        "w_stances",
        "w_mistakes",
    ];
    let mut scenario = std::collections::HashMap::new();
    for (g, idx) in &groups {
        if !facts.contains(&g.as_str()) {
            for i in idx.as_array().unwrap() {
                scenario.insert(i.as_u64().unwrap() as usize, g.clone());
            }
        }
    }
    let human: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dev.join("labels/human.json")).unwrap())
            .unwrap();
    let text = std::fs::read_to_string(dev.join("resolved.jsonl")).unwrap();
    // The dev records keep a 0–3 score per side for every triggered property (not the
    // authors' raw item dict): stances are mapped onto labels in the same order.
    let stance = |x: i64| {
        [
            "Strongly opposed",
            "Weakly opposed",
            "Neutral",
            "Weakly supported",
            "Strongly supported",
        ][x as usize]
    };
    let correction = |x: i64| {
        [
            "Neither pointed out nor corrected",
            "Pointed out but not corrected",
            "Corrected without being pointed out",
            "Pointed out and corrected",
        ][x as usize]
    };
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let r: Value = serde_json::from_str(line).unwrap();
        let c = &r["comparison"];
        let m = |k: &str, s: &str| c[k]["meta"][s].clone();
        let rated = |keys: &[&str]| -> String {
            let mut o = serde_json::Map::new();
            for k in keys {
                o.insert(
                    k.to_string(),
                    json!({"response 1": m(k, "Response 1"), "response 2": m(k, "Response 2")}),
                );
            }
            Value::Object(o).to_string()
        };
        let mut twice = serde_json::Map::new();
        for k in ["clarify user intent", "showing empathetic"] {
            if !c[k]["meta"].is_null() {
                twice.insert(
                    k.into(),
                    json!({"Response 1": m(k, "Response 1"), "Response 2": m(k, "Response 2")}),
                );
            }
        }
        let listed: [(&str, &dyn Fn(i64) -> Value); 3] = [
            ("satisfying explicit constraints", &|x| json!(x.to_string())),
            ("supporting explicit subjective stances", &|x| {
                json!(stance(x))
            }),
            ("correcting explicit mistakes or biases", &|x| {
                json!(correction(x))
            }),
        ];
        for (k, label) in listed {
            if !c[k]["meta"].is_null() {
                let side = |s: &str| label(c[k]["meta"][s].as_i64().unwrap());
                twice.insert(
                    k.into(),
                    json!({"item": {"Response 1": side("Response 1"), "Response 2": side("Response 2")}}),
                );
            }
        }
        let once = [
            "innovative and novel",
            "relevance without considering inaccuracy",
        ];
        pairs.push(Pair {
            source: source(
                m("length", "Response 1").as_i64().unwrap(),
                m("length", "Response 2").as_i64().unwrap(),
                &scenario[&i],
                if human[i] == "A" {
                    "model_a"
                } else {
                    "model_b"
                },
            ),
            outputs: [
                Some(r["query_info"].to_string()),
                Some(rated(&QUERY_FREE)),
                Some(rated(&once)),
                (!twice.is_empty()).then(|| Value::Object(twice).to_string()),
                Some(c["accuracy"]["meta"].to_string()),
            ],
        });
    }
    let dir = common::temp_dir("resolve-dev");
    write(&dir, &pairs);
    let o = run(&dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("out");
    let ours = read_resolved(&out.join("resolved.jsonl")).unwrap();
    let theirs = read_resolved(&dev.join("resolved.jsonl")).unwrap();
    assert_eq!(ours.values, theirs.values, "the 29 comparisons");
    assert_eq!(ours.unchecked, theirs.unchecked, "the 999 sentinel");
    assert_eq!(ours.unchecked.iter().filter(|u| **u).count(), 157);
    let ours_groups: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("query_aware_idxs.json")).unwrap())
            .unwrap();
    assert_eq!(ours_groups, groups, "the groups");
    let ours_human: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(out.join("labels/human.json")).unwrap())
            .unwrap();
    assert_eq!(ours_human, human);
}
