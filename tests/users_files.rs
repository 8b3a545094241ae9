//! Users' files as they come: the authors' judge-inference files, files saved with a UTF-8
//! byte-order mark or CRLF line ends, judges named in any script, and the graphics APIs the
//! adapter probe tries.

mod common;

use std::path::Path;

use prefdissect::base::device::graphics_apis;
use prefdissect::load::{Dataset, Selection};
use serde_json::Value;

/// Runs `prefdissect fit` on `data` into `out` with `flags`; panics with its stderr on failure.
fn fit_ok(data: &Path, out: &Path, flags: &[&str]) {
    let run = common::bin()
        .args(["fit", "--quiet", "--backend", "cpu", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(flags)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The authors' rule (GAIR-NLP/Preference-Dissection, `add_new_model_p2_collection.py`),
/// written here from its description, independently of the crate: "A" when
/// AB.response_a + BA.response_b > AB.response_b + BA.response_a, else "B".
fn authors_label(ab: (f64, f64), ba: (f64, f64)) -> &'static str {
    if ab.0 + ba.1 > ab.1 + ba.0 { "A" } else { "B" }
}

#[test]
fn the_authors_inference_files_are_read_as_they_are() {
    let dir = common::temp_dir("authors-inference");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let n = 40;
    common::write_small_dataset(&data, n);
    let inference = dir.join("inference");
    std::fs::create_dir_all(&inference).unwrap();
    let (mut ab, mut ba) = (Vec::new(), Vec::new());
    let (mut ab_text, mut ba_text) = (String::new(), String::new());
    for i in 0..n {
        let x = (i as f64 * 0.37).sin();
        let mut p_ab = (-0.2 - x.max(0.0) * 2.0, -0.3 - (-x).max(0.0) * 2.0);
        let mut p_ba = (-0.4 - (i % 3) as f64 * 0.5, -0.25 - (i % 5) as f64 * 0.3);
        // The authors' failure records: 0.0 and 0.0 where their inference failed.
        if i % 9 == 4 {
            p_ab = (0.0, 0.0);
        }
        if i % 13 == 7 {
            p_ba = (0.0, 0.0);
        }
        // An exact tie, which their rule sends to "B".
        if i == 10 {
            p_ab = (-1.0, -2.0);
            p_ba = (-1.0, -2.0);
        }
        ab.push(p_ab);
        ba.push(p_ba);
        ab_text.push_str(&format!(
            "{{\"response_a\": {:?}, \"response_b\": {:?}}}\n",
            p_ab.0, p_ab.1
        ));
        ba_text.push_str(&format!(
            "{{\"response_a\": {:?}, \"response_b\": {:?}}}\n",
            p_ba.0, p_ba.1
        ));
    }
    std::fs::write(inference.join("direct_ask_preferences_AB.jsonl"), ab_text).unwrap();
    std::fs::write(inference.join("direct_ask_preferences_BA.jsonl"), ba_text).unwrap();
    let out = data.join("labels/newjudge.json");
    let run = common::bin()
        .args(["labels", "--from-dir"])
        .arg(&inference)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let got: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let want: Vec<&str> = (0..n).map(|i| authors_label(ab[i], ba[i])).collect();
    assert_eq!(got, want);
    assert_eq!(got[10], "B", "a tie goes to B");
    // The failure records are counted and named per file.
    let fails_ab = (0..n).filter(|i| i % 9 == 4).count();
    let fails_ba = (0..n).filter(|i| i % 13 == 7).count();
    assert!(
        stderr.contains(&format!("{fails_ab} records of"))
            && stderr.contains("direct_ask_preferences_AB.jsonl"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{fails_ba} records of")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("error:") && !stderr.contains("warning:"),
        "{stderr}"
    );
    // A fit reads them.
    Dataset::load(&data, &Selection::default()).unwrap();
    // Neither key style: the error names the file, the line and our key.
    std::fs::write(
        inference.join("direct_ask_preferences_BA.jsonl"),
        "{\"a\": -1.0}\n",
    )
    .unwrap();
    let run = common::bin()
        .args(["labels", "--from-dir"])
        .arg(&inference)
        .arg("--out")
        .arg(dir.join("x.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("direct_ask_preferences_BA.jsonl") && stderr.contains("[0].A"),
        "{stderr}"
    );
    assert!(!dir.join("x.json").exists());
}

/// Rewrites every JSON file of a data set with a byte-order mark and CRLF line ends.
fn as_windows_editor_saves(dir: &Path) {
    for rel in [
        "resolved.jsonl",
        "query_aware_idxs.json",
        "labels/alice.json",
        "labels/bob.json",
    ] {
        let p = dir.join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    }
}

#[test]
fn files_with_a_byte_order_mark_and_crlf_read_like_any_other() {
    let dir = common::temp_dir("bom");
    let (plain, windows) = (dir.join("plain"), dir.join("windows"));
    for d in [&plain, &windows] {
        std::fs::create_dir_all(d).unwrap();
        common::write_small_dataset(d, 60);
    }
    as_windows_editor_saves(&windows);
    assert!(
        std::fs::read(windows.join("labels/alice.json"))
            .unwrap()
            .starts_with(b"\xef\xbb\xbf")
    );
    let a = Dataset::load(&plain, &Selection::default()).unwrap();
    let b = Dataset::load(&windows, &Selection::default()).unwrap();
    assert_eq!(a.annotations.values, b.annotations.values);
    assert_eq!(a.judges.len(), b.judges.len());
    for (x, y) in a.judges.iter().zip(&b.judges) {
        assert_eq!(x.prefers_a, y.prefers_a);
    }
    assert_eq!(
        a.groups.iter().map(|g| &g.samples).collect::<Vec<_>>(),
        b.groups.iter().map(|g| &g.samples).collect::<Vec<_>>()
    );
    // And a config file saved the same way.
    let cfg = dir.join("map.json");
    std::fs::write(&cfg, "\u{feff}{\r\n  \"estimator\": \"map\"\r\n}\r\n").unwrap();
    fit_ok(
        &windows,
        &dir.join("fit"),
        &["--config", cfg.to_str().unwrap()],
    );
}

#[test]
fn judges_named_in_any_script_are_written_as_pythons_json_dumps_writes_them() {
    let dir = common::temp_dir("unicode-judges");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 60);
    // Accents, CJK and an emoji (a surrogate pair in JSON's \u escapes).
    let names = ["Zoë-7b", "通义千问", "🤖 judge"];
    // What Python's json.dumps (ensure_ascii, its default) writes for each, checked there.
    let escaped = [
        "\"Zo\\u00eb-7b\"",
        "\"\\u901a\\u4e49\\u5343\\u95ee\"",
        "\"\\ud83e\\udd16 judge\"",
    ];
    let alice = std::fs::read(data.join("labels/alice.json")).unwrap();
    for name in names {
        std::fs::write(data.join(format!("labels/{name}.json")), &alice).unwrap();
    }
    let out = dir.join("fit");
    fit_ok(&data, &out, &["--estimator", "map"]);
    let file = out.join("fitted_paras_comparison/model_g1_fitted_paras.jsonl");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.is_ascii(), "the authors' files are ASCII");
    let text = String::from_utf8(bytes).unwrap();
    for (name, esc) in names.iter().zip(escaped) {
        assert!(
            text.contains(&format!("{{\"model_name\": {esc}, ")),
            "{name}: {esc} not in\n{text}"
        );
        // A JSON reader gets the name back.
        assert!(text.lines().any(|l| {
            serde_json::from_str::<Value>(l).unwrap()["model_name"].as_str() == Some(name)
        }));
    }
    // The analyses read their own output back under the same names.
    let fw = prefdissect::analyse::fitted::FittedWeights::read(&out).unwrap();
    for name in names {
        assert!(
            fw.judges.iter().any(|j| j == name),
            "{name} not in {:?}",
            fw.judges
        );
    }
}

#[test]
fn the_adapter_probe_tries_vulkan_first_and_never_opengl() {
    let apis = graphics_apis();
    assert_eq!(apis[0].1, "Vulkan");
    assert!(apis.iter().all(|(_, name)| !name.contains("GL")));
    if cfg!(target_os = "linux") {
        assert_eq!(apis.len(), 1);
    }
    if cfg!(target_os = "macos") {
        assert_eq!(apis[1].1, "Metal");
    }
    if cfg!(target_os = "windows") {
        assert_eq!(apis[1].1, "DirectX 12");
    }
}
