//! `fit --resume`: a posterior fit killed with SIGKILL midway continues from its checkpoint and
//! writes the files of an uninterrupted run; a checkpoint from other settings is refused.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const JUDGES: &str = "human,gpt-4-1106-preview,llama-2-7b,yi-6b,tulu-2-dpo-70b,vicuna-7b-v1.5";

fn fit(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = common::bin();
    c.args(["fit", "--quiet", "--backend", "cpu", "--judges", JUDGES])
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/configs/fast.json"),
        ])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

fn ok(mut c: Command) -> String {
    let o = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_killed_posterior_fit_resumes_to_the_uninterrupted_files() {
    let dir = common::temp_dir("resume");
    let data = dir.join("data");
    let sim = prefdissect::simulate::simulate(3);
    prefdissect::simulate::write_simulated(&sim, &data, 3).unwrap();

    ok(fit(&data, &dir.join("whole"), &[]));

    // Kill a second run with SIGKILL once some blocks are checkpointed.
    let cut = dir.join("cut");
    let mut child = fit(&data, &cut, &[]).stderr(Stdio::null()).spawn().unwrap();
    let blocks = |p: &Path| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    let t = Instant::now();
    while blocks(&cut.join(".fit-checkpoint")) < 6 && t.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let saved = blocks(&cut.join(".fit-checkpoint"));
    assert!(saved >= 6, "the run finished before it could be killed");
    assert!(
        !cut.join("fits.jsonl").exists(),
        "killed before its outputs"
    );

    // Other settings: refused, the checkpoint kept.
    let mut other = fit(&data, &cut, &["--resume", "--seed", "9"]);
    let o = other.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("was made with other data or settings"),
        "{stderr}"
    );
    assert_eq!(blocks(&cut.join(".fit-checkpoint")), saved);

    // A corrupted block file (not one of ours: ours are written whole): an error naming it.
    let bad = cut.join(".fit-checkpoint/block-999999.json");
    std::fs::write(&bad, "{\"backend\": \"cpu\", \"fits\": [1, 2").unwrap();
    let o = fit(&data, &cut, &["--resume"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("block-999999.json"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_file(&bad).unwrap();

    // The same settings: finished, and the files of the uninterrupted run.
    ok(fit(&data, &cut, &["--resume"]));
    assert!(
        !cut.join(".fit-checkpoint").exists(),
        "removed once the outputs are written"
    );
    assert_eq!(common::outputs(&cut), common::outputs(&dir.join("whole")));
}
