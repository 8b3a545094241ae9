//! One writer per output directory: a run into an OUT that another live process is writing
//! stops at once, naming it; a lock left by a killed run is taken over with a warning.

mod common;

fn fit(data: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    common::bin()
        .args([
            "fit",
            "--quiet",
            "--backend",
            "cpu",
            "--estimator",
            "map",
            "--data",
        ])
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_second_writer_stops_and_a_stale_lock_is_taken_over() {
    let dir = common::temp_dir("one-writer");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 60);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let lock = out.join(prefdissect::base::lock::LOCK_FILE);

    // A live holder: this test's own process.
    std::fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let run = fit(&data, &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains(&format!("being written by process {}", std::process::id())),
        "{stderr}"
    );
    assert!(!out.join("summary.json").exists(), "nothing written");
    assert!(lock.exists(), "the holder's lock is left alone");

    // A holder that is gone (a pid above Linux's pid_max).
    std::fs::write(&lock, "4294967\n").unwrap();
    let run = fit(&data, &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: took over") && stderr.contains("4294967"),
        "{stderr}"
    );
    assert!(out.join("summary.json").exists());
    assert!(!lock.exists(), "released at the end");
}
