//! `bench --floor`: a posterior job next to its kernel-only time.

mod common;

/// On a small data set with a short sampler: the job's kernel work is counted by kind of call,
/// each kind has a measured rate, and the floor is their quotient; a MAP config is refused
/// with a message naming the file.
#[test]
fn the_floor_of_a_small_posterior_job() {
    let dir = common::temp_dir("bench-floor");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 120);
    let config = dir.join("short.json");
    std::fs::write(
        &config,
        r#"{"estimator": "posterior-mean", "folds": 2, "chains": 4, "warmup": 60, "draws": 60}"#,
    )
    .unwrap();
    let run = common::bin()
        .args(["bench", "--runs", "1", "--floor"])
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let gflop = &report["kernel_gflop"];
    // Surrogate trajectories without control variates: gradients in warm-up, a forward pass
    // per kept draw, curvatures at the model's refits.
    for kind in ["gradients", "losses", "curvatures"] {
        let g = gflop[kind].as_f64().unwrap();
        let rate = report["kernel_gflops_by_call"][kind].as_f64().unwrap();
        assert!(
            g > 0.0 && rate > 0.0 && rate.is_finite(),
            "{kind}: {report}"
        );
    }
    let (floor, job) = (
        report["floor_s"].as_f64().unwrap(),
        report["job_s"].as_f64().unwrap(),
    );
    assert!(floor > 0.0 && floor.is_finite() && job > 0.0, "{report}");
    let expected: f64 = ["gradients", "losses", "curvatures"]
        .iter()
        .map(|k| gflop[k].as_f64().unwrap() / report["kernel_gflops_by_call"][k].as_f64().unwrap())
        .sum();
    assert!((floor - expected).abs() <= 1e-9 * expected, "{report}");
    assert!((report["job_over_floor"].as_f64().unwrap() - job / floor).abs() < 1e-9 * job / floor);

    let map = dir.join("map.json");
    std::fs::write(&map, r#"{"estimator": "map"}"#).unwrap();
    let run = common::bin()
        .args(["bench", "--floor"])
        .arg(&map)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("map.json") && stderr.contains("posterior"),
        "{stderr}"
    );
}
