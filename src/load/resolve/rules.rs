//! The authors' rules that turn GPT-4-Turbo's per-response annotations of one pair into the
//! `comparison` entries of a `resolved.jsonl` record (GAIR-NLP/Preference-Dissection,
//! `annotation_codes/resolve_collected_data.py` and `utils.py`; read rule by rule in
//! `docs/notes/resolve-step.md`). Each function is one of theirs, with its quirks kept: the
//! records must fit as the paper's did. +1 always means "response 1 (A) has more of it".

use serde_json::{Map, Value, json};

/// `get_score`: a rating 0–3 given as a number or as the exact string "0"–"3"; anything else
/// (" 2", "2.5", null, a missing value) counts as 0, as in the authors' code.
pub fn score(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| [0.0, 1.0, 2.0, 3.0].contains(x))
            .unwrap_or(0.0),
        Some(Value::String(s)) if matches!(s.as_str(), "0" | "1" | "2" | "3") => {
            s.parse().expect("a digit")
        }
        // Python: `True in [0, 1, 2, 3]` holds (True == 1).
        Some(Value::Bool(true)) => 1.0,
        _ => 0.0,
    }
}

/// `norm_a_diff(diff, thres, "linear")`: diff / thres, clipped to [−1, 1].
pub fn norm_linear(diff: f64, thres: f64) -> f64 {
    (diff / thres).clamp(-1.0, 1.0)
}

/// `norm_a_diff(diff, thres, "log_linear")`: sign · min(log1p|diff| / log1p(thres), 1).
pub fn norm_log_linear(diff: f64, thres: f64) -> f64 {
    if diff == 0.0 {
        return 0.0;
    }
    let sign = if diff >= 0.0 { 1.0 } else { -1.0 };
    sign * (diff.abs().ln_1p() / thres.ln_1p()).clamp(-1.0, 1.0)
}

/// `default_comparison`: the sign of score1 − score2.
pub fn sign(a: f64, b: f64) -> i64 {
    if a == b {
        0
    } else if a > b {
        1
    } else {
        -1
    }
}

/// `comparison(score1, score2, name)`: the sign, except for relevance, where +1 (−1) needs
/// response 1 (2) relevant at all and the other not (3 vs 1 is a tie).
pub fn compare(a: f64, b: f64, name: &str) -> i64 {
    if name == "relevance without considering inaccuracy" {
        match (a > 0.0, b > 0.0) {
            (true, false) => 1,
            (false, true) => -1,
            _ => 0,
        }
    } else {
        sign(a, b)
    }
}

/// A number as the authors' record holds it: an integer where Python had an int.
pub fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// The entry of a rated property (query-free, query-aware-once, intent, empathy).
pub fn rated(name: &str, r1: f64, r2: f64) -> Value {
    let diff = r1 - r2;
    json!({
        "comparison": compare(r1, r2, name),
        "diff": num(diff),
        "norm_diff": norm_linear(diff, 3.0),
        "meta": {"Response 1": num(r1), "Response 2": num(r2)},
    })
}

/// The entry of a query-specific property the query did not trigger.
pub fn untriggered() -> Value {
    json!({"comparison": 0, "diff": 0, "norm_diff": 0, "meta": null})
}

/// The entry of a list-valued query-specific property (constraints, stances, mistakes): the
/// mean of each response's item scores over GPT's items, compared by sign; `meta` keeps GPT's
/// per-item dict as it was. `scores` are the (response 1, response 2) score of each item.
pub fn averaged(scores: &[(f64, f64)], meta: &Value) -> Value {
    let n = scores.len() as f64;
    let (s1, s2) = scores
        .iter()
        .fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
    let (m1, m2) = (s1 / n, s2 / n);
    let diff = m1 - m2;
    json!({
        "comparison": sign(m1, m2),
        "diff": diff,
        "norm_diff": norm_linear(diff, 3.0),
        "meta": meta,
    })
}

/// The stance mapping of "supporting explicit subjective stances" (unknown labels: 0).
pub fn stance(label: &str) -> f64 {
    match label.trim().to_lowercase().as_str() {
        "strongly supported" => 2.0,
        "weakly supported" => 1.0,
        "weakly opposed" => -1.0,
        "strongly opposed" => -2.0,
        _ => 0.0,
    }
}

/// The mapping of "correcting explicit mistakes or biases" (unknown labels: 0).
pub fn correction(label: &str) -> f64 {
    match label.trim().to_lowercase().as_str() {
        "pointed out and corrected" => 3.0,
        "corrected without being pointed out" => 2.0,
        "pointed out but not corrected" => 1.0,
        _ => 0.0,
    }
}

/// Errors of each severity in one response's accuracy annotation (severity matched after
/// lower-casing and trimming; other severities are not counted).
pub fn error_counts(inaccuracies: &[&str]) -> [i64; 3] {
    let mut c = [0i64; 3]; // Severe, Moderate, Minor
    for s in inaccuracies {
        match s.trim().to_lowercase().as_str() {
            "severe" => c[0] += 1,
            "moderate" => c[1] += 1,
            "minor" => c[2] += 1,
            _ => {}
        }
    }
    c
}

/// The `accuracy` entry: 999 (the sentinel every fit leaves out) unless both responses'
/// "accuracy check" is exactly "applicable"; else per severity, count(2) − count(1) and its
/// sign (+1: response 1 has fewer), the three compared independently. `meta`: both raw
/// annotations.
pub fn accuracy(applicable: bool, r1: [i64; 3], r2: [i64; 3], meta: Value) -> Value {
    if !applicable {
        return json!({"comparison": 999, "diff": {}, "norm_diff": {}, "meta": meta});
    }
    let names = ["Severe", "Moderate", "Minor"];
    let (mut comparison, mut diff, mut norm) = (Map::new(), Map::new(), Map::new());
    for (k, name) in names.iter().enumerate() {
        let d = r2[k] - r1[k];
        comparison.insert(name.to_string(), json!(d.signum()));
        diff.insert(name.to_string(), json!(d));
        norm.insert(name.to_string(), json!(norm_linear(d as f64, 5.0)));
    }
    json!({"comparison": comparison, "diff": diff, "norm_diff": norm, "meta": meta})
}

/// The length label: +1 when response 1 is meaningfully longer, −1 when response 2 is. For a
/// shorter response of at most 11 words a table decides; above, the shorter loses when it is at
/// most 70% of the longer and 10+ words shorter, 80% and 20+, or 90% and 40+.
pub fn length_label(w1: i64, w2: i64) -> i64 {
    let (short, long, flipped) = if w1 > w2 {
        (w2, w1, true)
    } else {
        (w1, w2, false)
    };
    // For a shorter response of 0…11 words: the longer length from which it loses.
    const LOSES_FROM: [i64; 12] = [1, 3, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19];
    let (s, l) = (short as f64, long as f64);
    let loses = if short <= 11 {
        short >= 0 && long >= LOSES_FROM[short as usize]
    } else {
        (s <= 0.7 * l && long - short >= 10)
            || (s <= 0.8 * l && long - short >= 20)
            || (s <= 0.9 * l && long - short >= 40)
    };
    let label = if loses { -1 } else { 0 };
    if flipped { -label } else { label }
}

/// The `length` entry from the two responses' word counts.
pub fn length(w1: i64, w2: i64) -> Value {
    let diff = w1 - w2;
    json!({
        "comparison": length_label(w1, w2),
        "diff": diff,
        "norm_diff": norm_log_linear(diff as f64, 500.0),
        "meta": {"Response 1": w1, "Response 2": w2},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_keep_the_authors_quirks() {
        assert_eq!(score(Some(&json!(2))), 2.0);
        assert_eq!(score(Some(&json!("3"))), 3.0);
        assert_eq!(score(Some(&json!(2.0))), 2.0);
        assert_eq!(score(Some(&json!(" 2"))), 0.0);
        assert_eq!(score(Some(&json!("2.5"))), 0.0);
        assert_eq!(score(Some(&json!(4))), 0.0);
        assert_eq!(score(Some(&Value::Null)), 0.0);
        assert_eq!(score(None), 0.0);
        assert_eq!(score(Some(&json!(true))), 1.0);
    }

    #[test]
    fn relevance_needs_one_side_irrelevant() {
        let name = "relevance without considering inaccuracy";
        assert_eq!(compare(3.0, 1.0, name), 0);
        assert_eq!(compare(3.0, 0.0, name), 1);
        assert_eq!(compare(0.0, 2.0, name), -1);
        assert_eq!(compare(3.0, 1.0, "friendly"), 1);
        assert_eq!(rated(name, 3.0, 1.0)["norm_diff"], json!(2.0 / 3.0));
    }

    #[test]
    fn the_length_table_and_ratios() {
        // The table: 0 vs anything longer loses; 4 words lose from 8.
        assert_eq!(length_label(0, 1), -1);
        assert_eq!(length_label(4, 7), 0);
        assert_eq!(length_label(4, 8), -1);
        assert_eq!(length_label(8, 4), 1);
        assert_eq!(length_label(11, 18), 0);
        assert_eq!(length_label(11, 19), -1);
        // Ratios above 11 words: 70% and 10 words, 80% and 20, 90% and 40.
        assert_eq!(length_label(14, 20), 0); // 70% but only 6 words shorter
        assert_eq!(length_label(21, 30), 0); // 0.70 · 30 = 21, 9 shorter
        assert_eq!(length_label(21, 31), -1);
        assert_eq!(length_label(80, 100), -1); // 80%, 20 shorter
        assert_eq!(length_label(360, 400), -1); // 90%, 40 shorter
        assert_eq!(length_label(361, 400), 0);
        assert_eq!(length_label(500, 500), 0);
        // The dev record: 739 vs 392 words.
        let l = length(739, 392);
        assert_eq!(l["comparison"], json!(1));
        assert_eq!(l["norm_diff"], json!(0.9413822244187552));
    }

    #[test]
    fn accuracy_counts_severities_independently_or_is_999() {
        let r1 = error_counts(&["severe", " Minor ", "trivial"]);
        let r2 = error_counts(&["moderate"]);
        assert_eq!(r1, [1, 0, 1]);
        let a = accuracy(true, r1, r2, Value::Null);
        assert_eq!(
            a["comparison"],
            json!({"Severe": -1, "Moderate": 1, "Minor": -1})
        );
        assert_eq!(a["norm_diff"]["Severe"], json!(-0.2));
        let s = accuracy(false, r1, r2, Value::Null);
        assert_eq!(s["comparison"], json!(999));
        assert_eq!(s["diff"], json!({}));
    }

    #[test]
    fn stances_and_corrections_map_their_labels() {
        assert_eq!(stance(" Strongly Supported"), 2.0);
        assert_eq!(stance("weakly opposed"), -1.0);
        assert_eq!(stance("sort of"), 0.0);
        assert_eq!(correction("Pointed out but not corrected"), 1.0);
        let item = json!({});
        let e = averaged(&[(2.0, 0.0), (1.0, 0.0)], &item);
        assert_eq!(e["comparison"], json!(1));
        assert_eq!(e["diff"], json!(1.5));
        assert_eq!(e["norm_diff"], json!(0.5));
    }
}
