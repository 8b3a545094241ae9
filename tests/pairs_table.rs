//! The pairs table (`--data FILE.parquet|csv`): a converted directory fits to the directory's
//! files, byte for byte; unlabelled pairs leave only their judge's fits; every way a table can
//! be wrong is an error naming the file, the column and, for a value, the row.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use serde_json::Value;

fn run(args: &[&str], paths: &[(&str, &Path)]) -> std::process::Output {
    let mut c = common::bin();
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    c.output().unwrap()
}

fn ok(args: &[&str], paths: &[(&str, &Path)]) {
    let o = run(args, paths);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_converted_directory_fits_to_the_directorys_files_byte_for_byte() {
    let dir = common::temp_dir("table-convert");
    let data = dir.join("data");
    let sim = prefdissect::simulate::simulate(5);
    prefdissect::simulate::write_simulated(&sim, &data, 5).unwrap();
    let sentinel = sim
        .records
        .iter()
        .filter(|r| r.to_string().contains("999"))
        .count();
    assert!(sentinel > 0);
    converted_fits_match(&dir, &data, sentinel);
}

/// The same on the authors' dev data (skipped without `../shared`): its 157 sentinel rows.
#[test]
fn the_dev_data_as_a_table_fits_to_the_directorys_files_byte_for_byte() {
    let data = Path::new("../shared/data/dev");
    if !data.join("resolved.jsonl").exists() {
        eprintln!("skipped: ../shared/data/dev not present");
        return;
    }
    converted_fits_match(&common::temp_dir("table-convert-dev"), data, 157);
}

/// `data` converted to Parquet and that to CSV: the MAP of every fit and two judges' posterior
/// means are the directory's files byte for byte, and the `sentinel` rows of 999 are nulls in
/// their three accuracy properties.
fn converted_fits_match(dir: &Path, data: &Path, sentinel: usize) {
    let data = data.to_path_buf();
    let parquet = dir.join("pairs.parquet");
    let csv = dir.join("pairs.csv");
    ok(&["convert"], &[("--data", &data), ("--out", &parquet)]);
    ok(&["convert"], &[("--data", &parquet), ("--out", &csv)]);

    // The MAP of every judge × group × fold.
    let map = ["fit", "--quiet", "--backend", "cpu", "--estimator", "map"];
    let fit = |input: &Path, name: &str, args: &[&str]| {
        let out = dir.join(name);
        ok(args, &[("--data", input), ("--out", &out)]);
        common::outputs(&out)
    };
    let want = fit(&data, "map-dir", &map);
    assert!(want.len() > 3);
    assert_eq!(fit(&parquet, "map-parquet", &map), want);
    assert_eq!(fit(&csv, "map-csv", &map), want);

    // The posterior mean (fast settings, two judges: seeds and chains included).
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/fast.json");
    let post = [
        "fit",
        "--quiet",
        "--backend",
        "cpu",
        "--config",
        config,
        "--judges",
        "human,gpt-4-1106-preview",
    ];
    let want = fit(&data, "post-dir", &post);
    assert_eq!(fit(&parquet, "post-parquet", &post), want);
    assert_eq!(fit(&csv, "post-csv", &post), want);

    // The 999 rows are nulls in the table: their three accuracy properties, nothing else.
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let acc: Vec<usize> = ["no minor errors", "no moderate errors", "no severe errors"]
        .iter()
        .map(|p| {
            header
                .iter()
                .position(|h| *h == format!("property:{p}"))
                .unwrap()
        })
        .collect();
    let nulls = text
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            acc.iter().all(|&i| f[i].is_empty())
        })
        .count();
    assert_eq!(nulls, sentinel);
}

/// A small table: `n` pairs, 29 paper properties, two judges, groups `g1` / `g2` overlapping.
fn small_table(n: usize, bob_missing: impl Fn(usize) -> bool) -> String {
    let names = prefdissect::base::features::FEATURE_NAMES;
    let mut s = String::from("id,groups,note");
    for p in names {
        s.push_str(&format!(",property:{p}"));
    }
    s.push_str(",label:alice,label:bob\n");
    let mut rng = common::Lcg(7);
    for i in 0..n {
        let groups = if i % 3 == 0 { "g1;g2" } else { "g2" };
        s.push_str(&format!("pair-{i},{groups},x"));
        let mut z = 0.0;
        for k in 0..names.len() {
            let v = (rng.next() * 3.0).floor() - 1.0;
            z += v * [0.8, -0.5, 0.3][k % 3];
            s.push_str(&format!(",{v}"));
        }
        let a = |salt: f64| {
            if rng_label(i as f64 + salt) < 1.0 / (1.0 + (-z).exp()) {
                "A"
            } else {
                "B"
            }
        };
        let (la, lb) = (a(0.1), a(0.7));
        let lb = if bob_missing(i) { "" } else { lb };
        s.push_str(&format!(",{la},{lb}\n"));
    }
    s
}

fn rng_label(x: f64) -> f64 {
    ((x * 12.9898).sin() * 43758.5453).rem_euclid(1.0)
}

fn weights(out: &Path, group: &str) -> Vec<(String, Vec<f64>)> {
    let path = out.join(format!(
        "fitted_paras_comparison/model_{group}_fitted_paras.jsonl"
    ));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let w = v["parameters"].as_array().unwrap();
            (
                v["model_name"].as_str().unwrap().to_owned(),
                w.iter().map(|x| x.as_f64().unwrap()).collect(),
            )
        })
        .collect()
}

#[test]
fn an_unlabelled_pair_leaves_only_its_judges_fits() {
    let dir = common::temp_dir("table-missing");
    let full = dir.join("full.csv");
    let holes = dir.join("holes.csv");
    let missing = |i: usize| i % 7 == 2 || i % 11 == 5; // ≈ 23% of bob's labels
    std::fs::write(&full, small_table(600, |_| false)).unwrap();
    std::fs::write(&holes, small_table(600, missing)).unwrap();
    // bob's labels without the pairs he did not label, as a table of its own.
    let text = small_table(600, |_| false);
    let mut kept = text.lines().next().unwrap().to_owned() + "\n";
    for (i, line) in text.lines().skip(1).enumerate() {
        if !missing(i) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let dropped = dir.join("dropped.csv");
    std::fs::write(&dropped, kept).unwrap();

    let fit = |input: &Path, name: &str| {
        let out = dir.join(name);
        let args = [
            "fit",
            "--quiet",
            "--backend",
            "cpu",
            "--estimator",
            "map",
            "--folds",
            "1",
        ];
        ok(&args, &[("--data", input), ("--out", &out)]);
        out
    };
    let (full, holes, dropped) = (
        fit(&full, "full"),
        fit(&holes, "holes"),
        fit(&dropped, "dropped"),
    );
    for group in ["g1", "g2"] {
        let (f, h) = (weights(&full, group), weights(&holes, group));
        let d = weights(&dropped, group);
        // alice labelled everything: her fit is the same bytes with bob's holes.
        assert_eq!(h[0], f[0], "{group}: alice changed");
        // bob's fit is the fit without those pairs, to the solver's tolerance.
        let diff = h[1]
            .1
            .iter()
            .zip(&d[1].1)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            diff < 1e-3,
            "{group}: bob differs from the dropped-rows fit by {diff}"
        );
        let moved = h[1]
            .1
            .iter()
            .zip(&f[1].1)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(moved > 1e-3, "{group}: the holes changed nothing ({moved})");
    }
    let fits = std::fs::read_to_string(holes.join("fits.jsonl")).unwrap();
    let n_train = |judge: &str| -> u64 {
        fits.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["judge"] == judge && v["group"] == "g2")
            .map(|v| v["n_train"].as_u64().unwrap())
            .next()
            .unwrap()
    };
    let kept_g2 = (0..600).filter(|&i| !missing(i)).count() as u64;
    assert_eq!(n_train("alice"), 600);
    assert_eq!(n_train("bob"), kept_g2);

    // The table's `id` names the pairs in the outputs that list pairs.
    let table = dir.join("full.csv");
    let shap = dir.join("shap.csv");
    let args = ["shap", "--judge", "alice", "--sample", "3", "--group", "g2"];
    ok(
        &args,
        &[("--data", &table), ("--fit", &full), ("--out", &shap)],
    );
    let text = std::fs::read_to_string(&shap).unwrap();
    assert!(text.starts_with("sample,id,judge,"), "{text}");
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.starts_with("3,pair-3,alice,g2,")),
        "{text}"
    );
    let pairs = dir.join("pairs.jsonl");
    let args = [
        "manipulate",
        "pairs",
        "--judge",
        "alice",
        "--group",
        "g2",
        "--margin",
        "0.1",
    ];
    ok(
        &args,
        &[("--data", &table), ("--fit", &full), ("--out", &pairs)],
    );
    let lines = std::fs::read_to_string(&pairs).unwrap();
    assert!(lines.lines().count() > 10, "{lines}");
    for l in lines.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["id"], format!("pair-{}", v["sample"]), "{l}");
    }
}

/// A Parquet file of `columns`, zstd-compressed as polars writes them (uncompressed without
/// the `zstd` feature).
fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let mut buf = Vec::new();
    #[cfg(feature = "zstd")]
    let compression = parquet::basic::Compression::ZSTD(Default::default());
    #[cfg(not(feature = "zstd"))]
    let compression = parquet::basic::Compression::UNCOMPRESSED;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    std::fs::write(path, buf).unwrap();
}

#[test]
fn parquet_types_as_writers_make_them_are_read() {
    let dir = common::temp_dir("table-parquet-types");
    let n = 40;
    let mut groups = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        groups.values().append_value("g");
        if i % 2 == 0 {
            groups.values().append_value("h");
        }
        groups.append(true);
    }
    let names = prefdissect::base::features::FEATURE_NAMES;
    let mut cols: Vec<(String, ArrayRef)> = vec![("groups".into(), Arc::new(groups.finish()))];
    for (k, p) in names.iter().enumerate() {
        let v: Vec<f64> = (0..n).map(|i| ((i * 7 + k * 3) % 3) as f64 - 1.0).collect();
        cols.push((format!("property:{p}"), Arc::new(Float64Array::from(v))));
    }
    let labels: Vec<Option<i64>> = (0..n).map(|i| (i != 5).then_some((i % 2) as i64)).collect();
    cols.push(("label:judge".into(), Arc::new(Int64Array::from(labels))));
    let hf: Vec<&str> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                "response_1"
            } else {
                "response_2"
            }
        })
        .collect();
    cols.push(("label:hf".into(), Arc::new(StringArray::from(hf))));
    let path = dir.join("t.parquet");
    write_parquet(
        &path,
        cols.iter().map(|(n, a)| (n.as_str(), a.clone())).collect(),
    );
    let data = prefdissect::load::Dataset::load(&path, &Default::default()).unwrap();
    assert_eq!(
        data.groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>(),
        ["g", "h"]
    );
    assert_eq!(data.groups[1].samples.len(), n / 2);
    assert_eq!(data.judges[0].name, "judge");
    assert!(!data.judges[0].has_label(5));
    assert!(data.judges[0].prefers_a[1] && !data.judges[0].prefers_a[2]);
    assert!(data.judges[1].prefers_a[3] && !data.judges[1].prefers_a[4]);
    assert_eq!(
        data.annotations.values[[4, 2]],
        ((4 * 7 + 2 * 3) % 3) as f32 - 1.0
    );
}

/// (what is wrong, the CSV text, what the message must say).
fn bad_tables() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let names = prefdissect::base::features::FEATURE_NAMES;
    let props: String = names.iter().map(|p| format!(",property:{p}")).collect();
    let row = |groups: &str, v: &str, label: &str| {
        format!("{groups}{},{v},{label}\n", ",1".repeat(names.len() - 1))
    };
    let head = format!("groups{props},label:human\n");
    let good = |n: usize| {
        (0..n)
            .map(|i| row("g", "0", if i % 2 == 0 { "A" } else { "B" }))
            .collect::<String>()
    };
    let many: String = (0..65).map(|k| format!(",property:p{k}")).collect();
    vec![
        (
            "missing groups",
            format!("{}\n", &head[7..]).replace('\n', "") + "\n",
            vec!["`groups`", "missing"],
        ),
        (
            "no property",
            "groups,label:human\ng,A\n".into(),
            vec!["no property column"],
        ),
        (
            "a property twice",
            format!("groups{props},property:harmless,label:human\n"),
            vec!["`property:harmless`", "named twice"],
        ),
        (
            "a bad label",
            head.clone() + &good(3) + &row("g", "0", "C"),
            vec!["row 4", "`label:human`", "\"C\" is not a label"],
        ),
        (
            "a string property",
            head.clone() + &good(2) + &row("g", "abc", "A"),
            vec!["row 3", "`property:lengthy`", "\"abc\" is not a number"],
        ),
        (
            "NaN",
            head.clone() + &row("g", "NaN", "A"),
            vec!["row 1", "`property:lengthy`", "NaN is not a finite number"],
        ),
        (
            "inf",
            head.clone() + &row("g", "inf", "A"),
            vec!["row 1", "inf is not a finite number"],
        ),
        (
            "a number past single precision",
            head.clone() + &good(1) + &row("g", "1e39", "A"),
            vec![
                "row 2",
                "1000000000000000000000000000000000000000 is not a finite number (in single precision)",
            ],
        ),
        (
            "an empty group name",
            head.clone() + &row("g;;h", "1", "A"),
            vec!["row 1", "`groups`", "an empty group name"],
        ),
        (
            "a judge with no label",
            format!("groups{props},label:human,label:nobody\n") + &good(3).replace('\n', ",\n"),
            vec!["`label:nobody`", "labelled no pair"],
        ),
        (
            "65 properties",
            format!("groups{many},label:human\n"),
            vec!["`property:p64`", "at most 64"],
        ),
        (
            "a short record",
            head.clone() + "g,1,1\n",
            vec!["row 1", "fields, but the header has"],
        ),
        (
            "an empty group",
            head.clone() + &good(1),
            vec!["group `g` has 1 usable samples"],
        ),
    ]
}

#[test]
fn every_way_a_table_can_be_wrong_is_an_error_naming_it() {
    let dir = common::temp_dir("table-bad");
    for (what, text, wants) in bad_tables() {
        let path = dir.join(format!("{}.csv", what.replace(' ', "-")));
        std::fs::write(&path, &text).unwrap();
        let out = dir.join(format!("out-{}", what.replace(' ', "-")));
        let o = run(
            &["fit", "--quiet", "--backend", "cpu", "--estimator", "map"],
            &[("--data", &path), ("--out", &out)],
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{what}: accepted");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{what}: {stderr}"
        );
        for want in wants {
            assert!(stderr.contains(want), "{what}: no {want:?} in {stderr}");
        }
        assert!(!out.join("fits.jsonl").exists(), "{what}: wrote outputs");
    }
    // A Parquet column of the wrong type, and a file that is not Parquet.
    let path = dir.join("typed.parquet");
    let flags: Vec<bool> = vec![true; 4];
    write_parquet(
        &path,
        vec![
            (
                "groups",
                Arc::new(StringArray::from(vec!["g"; 4])) as ArrayRef,
            ),
            (
                "property:harmless",
                Arc::new(arrow_array::BooleanArray::from(flags)),
            ),
            ("label:human", Arc::new(StringArray::from(vec!["A"; 4]))),
        ],
    );
    let o = run(
        &["fit", "--estimator", "map"],
        &[("--data", &path), ("--out", &dir.join("o1"))],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("`property:harmless`: holds Boolean"),
        "{stderr}"
    );
    let junk = dir.join("junk.parquet");
    std::fs::write(&junk, "groups,label:a\n").unwrap();
    let o = run(
        &["fit", "--estimator", "map"],
        &[("--data", &junk), ("--out", &dir.join("o2"))],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("not a readable Parquet file"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
