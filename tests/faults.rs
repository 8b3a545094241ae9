//! Faults injected into real runs of the binary, the rows of the fault table in
//! `docs/bad-inputs.md`: SIGKILL at 10%, 50% and 90% of a posterior `fit` and of a `bootstrap`
//! (then `--resume` writes the uninterrupted run's bytes), a disk that fills up midway (a small
//! tmpfs; skipped, saying so, where this process may not mount one), and truncated input files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const JUDGES: &str = "human,gpt-4-1106-preview,llama-2-7b,yi-6b,tulu-2-dpo-70b,vicuna-7b-v1.5";
const KILL_AT: [f64; 3] = [0.1, 0.5, 0.9];

fn simulated(name: &str) -> (PathBuf, PathBuf) {
    let dir = common::temp_dir(name);
    let data = dir.join("data");
    let sim = prefdissect::simulate::simulate(3);
    prefdissect::simulate::write_simulated(&sim, &data, 3).unwrap();
    (dir, data)
}

fn posterior_fit(data: &Path, out: &Path) -> Command {
    let mut c = common::bin();
    c.args(["fit", "--quiet", "--backend", "cpu", "--judges", JUDGES])
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/configs/fast.json"),
        ])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    c
}

fn bootstrap(data: &Path, out: &Path) -> Command {
    let mut c = common::bin();
    c.args([
        "bootstrap",
        "--quiet",
        "--backend",
        "cpu",
        "--replicates",
        "2000",
        "--seed",
        "3",
    ])
    .arg("--data")
    .arg(data)
    .arg("--out")
    .arg(out);
    c
}

fn run_ok(mut c: Command) {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs `c` and kills it with SIGKILL once `progress(out)` reaches `at` of the job (polled
/// every millisecond). Fails if the run ends first.
fn kill_at(mut c: Command, at: f64, progress: impl Fn() -> Option<f64>) -> f64 {
    let mut child: Child = c.stderr(Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    let reached = loop {
        if let Some(p) = progress().filter(|&p| p >= at) {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {at} of it was done"
        );
        assert!(t.elapsed() < Duration::from_secs(300), "no progress seen");
        std::thread::sleep(Duration::from_millis(1));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reached
}

/// The share of `total` checkpoint files named `prefix…` in `dir` (None before it exists).
fn saved_files(dir: &Path, prefix: &str, total: usize) -> Option<f64> {
    let n = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .count();
    Some(n as f64 / total as f64)
}

/// The `blocks` count a finished posterior run records in its `summary.json`.
fn blocks_of(summary: &Path) -> usize {
    fn find(v: &Value) -> Option<u64> {
        match v {
            Value::Object(o) => o
                .get("blocks")
                .and_then(Value::as_u64)
                .or_else(|| o.values().find_map(find)),
            _ => None,
        }
    }
    let v: Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    find(&v).expect("summary.json records the blocks") as usize
}

#[test]
fn a_posterior_fit_killed_at_10_50_90_percent_resumes_to_the_same_bytes() {
    let (dir, data) = simulated("fault-fit");
    let whole = dir.join("whole");
    run_ok(posterior_fit(&data, &whole));
    let total = blocks_of(&whole.join("summary.json"));
    let expected = common::outputs(&whole);
    for at in KILL_AT {
        let cut = dir.join(format!("cut-{at}"));
        let ckpt = cut.join(".fit-checkpoint");
        let saved = || saved_files(&ckpt, "block-", total);
        let reached = kill_at(posterior_fit(&data, &cut), at, saved);
        assert!(
            !cut.join("fits.jsonl").exists(),
            "killed before its outputs"
        );
        eprintln!(
            "fit killed with {:.0}% of {total} blocks saved",
            reached * 100.0
        );
        let mut resume = posterior_fit(&data, &cut);
        resume.arg("--resume");
        run_ok(resume);
        assert!(
            !ckpt.exists(),
            "the checkpoint goes once the outputs are written"
        );
        assert_eq!(
            common::outputs(&cut),
            expected,
            "killed at {at}: other bytes"
        );
    }
}

#[test]
fn a_bootstrap_killed_at_10_50_90_percent_resumes_to_the_same_bytes() {
    let (dir, data) = simulated("fault-boot");
    let whole = dir.join("whole");
    run_ok(bootstrap(&data, &whole));
    let expected = common::outputs(&whole);
    for at in KILL_AT {
        let cut = dir.join(format!("cut-{at}"));
        let manifest = cut.join(".bootstrap-checkpoint/manifest.json");
        let saved = || {
            let m: Value = serde_json::from_slice(&std::fs::read(&manifest).ok()?).ok()?;
            let size = m["chunk_replicates"].as_u64()?;
            let n_chunks = 2000u64.div_ceil(size);
            Some(m["chunks"].as_array()?.len() as f64 / n_chunks as f64)
        };
        let reached = kill_at(bootstrap(&data, &cut), at, saved);
        assert!(
            !cut.join("bootstrap_ci.csv").exists(),
            "killed before its outputs"
        );
        eprintln!(
            "bootstrap killed with {:.0}% of its chunks saved",
            reached * 100.0
        );
        if at == 0.5 {
            // A damaged chunk (a disk fault; ours are written whole): an error naming it.
            let chunk = cut.join(".bootstrap-checkpoint/chunk-000000.f32");
            let keep = std::fs::read(&chunk).unwrap();
            std::fs::write(&chunk, &keep[..keep.len() / 2]).unwrap();
            let mut resume = bootstrap(&data, &cut);
            let o = resume.arg("--resume").output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("chunk-000000.f32"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            std::fs::write(&chunk, keep).unwrap();
        }
        let mut resume = bootstrap(&data, &cut);
        resume.arg("--resume");
        run_ok(resume);
        assert_eq!(
            common::outputs(&cut),
            expected,
            "killed at {at}: other bytes"
        );
    }
}

#[test]
fn a_map_fit_killed_midway_resumes_to_the_same_bytes() {
    let (dir, data) = simulated("fault-map");
    // All 33 judges on one thread, every finished block saved at once (no batching): the
    // batched phase then lasts long enough to be cut.
    let map = |out: &Path| {
        let mut c = common::bin();
        c.args(["fit", "--quiet", "--backend", "cpu", "--estimator", "map"])
            .env("RAYON_NUM_THREADS", "1")
            .env("PREFDISSECT_MAP_CHECKPOINT_MS", "0")
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(out);
        c
    };
    let whole = dir.join("whole");
    run_ok(map(&whole));
    let expected = common::outputs(&whole);
    // Blocks hold one group's fits: 33 judges × (10 folds + all rows) per group.
    let total = 16 * (33 * 11usize).div_ceil(prefdissect::design::LANES);
    let cut = dir.join("cut");
    let ckpt = cut.join(".fit-checkpoint");
    let saved = || saved_files(&ckpt, "map-", total);
    let reached = kill_at(map(&cut), 0.5, saved);
    eprintln!(
        "MAP fit killed with {:.0}% of its blocks saved",
        reached * 100.0
    );
    assert!(
        !cut.join("fits.jsonl").exists(),
        "killed before its outputs"
    );
    let mut resume = map(&cut);
    resume.arg("--resume");
    run_ok(resume);
    assert!(
        !ckpt.exists(),
        "the checkpoint goes once the outputs are written"
    );
    assert_eq!(
        common::outputs(&cut),
        expected,
        "other bytes after the resume"
    );
}

/// A tmpfs of `kib` KiB mounted at `at`, unmounted on drop; `None` where mounting is not
/// allowed (not root, no CAP_SYS_ADMIN).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, kib: usize) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_naming_the_file_and_leaves_no_partial_file() {
    let (dir, data) = simulated("fault-disk");
    let map = |out: &Path| {
        let mut c = common::bin();
        c.args([
            "fit",
            "--quiet",
            "--backend",
            "cpu",
            "--estimator",
            "map",
            "--judges",
            JUDGES,
        ])
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(out);
        c
    };
    let whole = dir.join("whole");
    run_ok(map(&whole));
    let expected = common::outputs(&whole);
    let size: usize = expected.iter().map(|(_, b)| b.len()).sum();

    let disk = dir.join("disk");
    let Some(_mounted) = SmallDisk::mount(&disk, 1024) else {
        eprintln!("skipped: this process may not mount a tmpfs (needs root / CAP_SYS_ADMIN)");
        return;
    };
    // Leave room for about half of the outputs.
    let filler = disk.join("filler");
    let free = 1024 * 1024 - size / 2;
    std::fs::write(&filler, vec![0u8; free]).unwrap();
    let out = disk.join("out");
    let o = map(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains(&out.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Whatever was written is whole: every output file left is byte-identical to the full
    // run's (the checkpoint, kept for `--resume`, aside).
    let left: Vec<_> = common::outputs(&out)
        .into_iter()
        .filter(|(name, _)| !name.starts_with(".fit-checkpoint"))
        .collect();
    assert!(left.len() < expected.len(), "the disk did not fill");
    for (name, bytes) in &left {
        let want = expected.iter().find(|(n, _)| n == name);
        assert!(
            want.is_some_and(|(_, w)| w == bytes),
            "{name}: a partial or foreign file"
        );
    }
    // A posterior fit on the full disk: its first block cannot be saved, and it stops there
    // (at the next block) instead of sampling on.
    let post = disk.join("post");
    let o = posterior_fit(&data, &post).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains(".fit-checkpoint"),
        "names the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!post.join("fits.jsonl").exists());
    std::fs::remove_dir_all(&post).unwrap();

    // Room again: the same command, resumed, writes everything.
    std::fs::remove_file(&filler).unwrap();
    let mut again = map(&out);
    again.arg("--resume");
    run_ok(again);
    assert_eq!(common::outputs(&out), expected);
}

#[test]
fn truncated_input_files_are_errors_naming_the_file() {
    let (dir, data) = simulated("fault-truncated");
    for table in ["pairs.parquet", "pairs.csv"] {
        let mut c = common::bin();
        c.args(["convert", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(dir.join(table));
        run_ok(c);
    }
    let inputs: Vec<PathBuf> = vec![
        data.join("resolved.jsonl"),
        data.join("query_aware_idxs.json"),
        data.join("labels/human.json"),
        dir.join("pairs.parquet"),
        dir.join("pairs.csv"),
    ];
    for input in inputs {
        let bytes = std::fs::read(&input).unwrap();
        let keep = std::fs::read(&input).unwrap();
        // Cut inside a record (not at a line end, which would be a shorter but whole file).
        let mut cut = bytes.len() / 2;
        while matches!(bytes[cut - 1], b'\n' | b'\r') {
            cut -= 1;
        }
        std::fs::write(&input, &bytes[..cut]).unwrap();
        let from = if input.starts_with(&data) {
            data.clone()
        } else {
            input.clone()
        };
        let out = dir.join("out");
        let o = common::bin()
            .args(["fit", "--quiet", "--estimator", "map", "--judges", "human"])
            .arg("--data")
            .arg(&from)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        std::fs::write(&input, keep).unwrap();
        assert_eq!(o.status.code(), Some(1), "{}: {stderr}", input.display());
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        assert!(stderr.contains(&name), "names {name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.join("fits.jsonl").exists(), "nothing written");
    }
}
