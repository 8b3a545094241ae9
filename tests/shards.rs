//! `fit --shard K/N`, `bootstrap --shard K/N` and `merge`: for N = 1, 2, 3 and 7 the merged
//! files are the unsharded run's, byte for byte (summary.json apart from its timings); a
//! missing, duplicated, unfinished or foreign shard is an error naming it, and nothing is
//! written then.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

const JUDGES: &str = "human,gpt-4-1106-preview,llama-2-7b";

fn run(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = common::bin();
    c.args(args).arg("--quiet");
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

fn ok(args: &[&str], paths: &[&Path]) {
    let o = run(args, paths);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn simulated(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let sim = prefdissect::simulate::simulate(11);
    prefdissect::simulate::write_simulated(&sim, &data, 11).unwrap();
    data
}

/// Runs `job` whole and in N shards for each N, merges, and compares.
fn sharded_equals_whole(dir: &Path, job: &[&str]) {
    let data = simulated(dir);
    let data_flag: Vec<&str> = job.to_vec();
    let with = |extra: &[&str]| -> Vec<String> {
        data_flag
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let whole = dir.join("whole");
    let args = with(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(
        &args,
        &[Path::new("--data"), &data, Path::new("--out"), &whole],
    );
    let want = common::outputs(&whole);
    assert!(want.len() >= 3, "{want:?}");
    for n in [1usize, 2, 3, 7] {
        let mut shard_dirs = Vec::new();
        for k in (0..n).rev() {
            let spec = format!("{k}/{n}");
            let args = with(&["--shard", &spec]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = dir.join(format!("n{n}-k{k}"));
            ok(
                &args,
                &[Path::new("--data"), &data, Path::new("--out"), &out],
            );
            shard_dirs.push(out);
        }
        let merged = dir.join(format!("merged-{n}"));
        let mut paths: Vec<&Path> = vec![Path::new("--out"), &merged];
        paths.extend(shard_dirs.iter().map(PathBuf::as_path));
        ok(&["merge"], &paths);
        assert_eq!(common::outputs(&merged), want, "N = {n}");
        assert!(
            std::fs::read_dir(&merged).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')),
            "N = {n}: a checkpoint or lock left behind"
        );
    }
}

#[test]
fn a_sharded_posterior_fit_merges_to_the_whole_runs_files() {
    let dir = common::temp_dir("shards-fit");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/fast.json");
    let job = [
        "fit",
        "--backend",
        "cpu",
        "--config",
        config,
        "--judges",
        JUDGES,
    ];
    sharded_equals_whole(&dir, &job);
}

#[test]
fn a_sharded_bootstrap_merges_to_the_whole_runs_files() {
    let dir = common::temp_dir("shards-boot");
    let job = [
        "bootstrap",
        "--backend",
        "cpu",
        "--replicates",
        "1000",
        "--judges",
        JUDGES,
    ];
    sharded_equals_whole(&dir, &job);
}

#[test]
fn a_missing_duplicated_unfinished_or_foreign_shard_is_named_and_nothing_is_written() {
    let dir = common::temp_dir("shards-bad");
    let data = simulated(&dir);
    let shard = |k: usize, n: usize, seed: &str| {
        let out = dir.join(format!("s{k}-{n}-{seed}"));
        let spec = format!("{k}/{n}");
        ok(
            &[
                "bootstrap",
                "--backend",
                "cpu",
                "--replicates",
                "40",
                "--judges",
                JUDGES,
                "--seed",
                seed,
                "--shard",
                &spec,
            ],
            &[Path::new("--data"), &data, Path::new("--out"), &out],
        );
        out
    };
    let (a, b, c) = (shard(0, 3, "0"), shard(1, 3, "0"), shard(2, 3, "0"));
    let foreign = shard(2, 3, "5");
    let unfinished = dir.join("unfinished");
    std::fs::create_dir_all(&unfinished).unwrap();
    let cases: Vec<(&str, Vec<&Path>, String)> = vec![
        ("missing", vec![&a, &b], "shard 2/3 is missing".into()),
        (
            "duplicated",
            vec![&a, &b, &c, &c],
            format!("{}: shard 2/3 is given twice", c.display()),
        ),
        (
            "foreign",
            vec![&a, &b, &foreign],
            format!("{}: a shard of another job", foreign.display()),
        ),
        (
            "unfinished",
            vec![&a, &b, &unfinished],
            format!(
                "{}: no shard.json: not a finished shard",
                unfinished.display()
            ),
        ),
    ];
    for (what, shards, want) in cases {
        let out = dir.join(format!("out-{what}"));
        let mut paths: Vec<&Path> = vec![Path::new("--out"), &out];
        paths.extend(shards);
        let o = run(&["merge"], &paths);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{what}: merged");
        assert!(stderr.contains(&want), "{what}: no {want:?} in {stderr}");
        assert!(!out.exists(), "{what}: wrote {}", out.display());
    }
    // The MAP fit is not sharded: it takes a second whole.
    let o = run(
        &["fit", "--estimator", "map", "--shard", "0/2"],
        &[
            Path::new("--data"),
            &data,
            Path::new("--out"),
            &dir.join("map"),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("setting `shard`"),
        "{stderr}"
    );
    let o = run(
        &["fit", "--shard", "3/3"],
        &[
            Path::new("--data"),
            &data,
            Path::new("--out"),
            &dir.join("x"),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_slurm_scripts_commands_run_the_shards_and_the_merge() {
    // No Slurm here: the job array's task script runs once per task id, as sbatch would run
    // it, then the merge task; the result is the unsharded run's.
    let dir = common::temp_dir("shards-slurm");
    let data = simulated(&dir);
    let job = [
        "bootstrap",
        "--replicates",
        "60",
        "--judges",
        JUDGES,
        "--backend",
        "cpu",
    ];
    let whole = dir.join("whole");
    ok(
        &job,
        &[Path::new("--data"), &data, Path::new("--out"), &whole],
    );
    let out = dir.join("slurm");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/slurm_shards.sh");
    let o = std::process::Command::new("bash")
        .arg(script)
        .args(["3"])
        .arg(&data)
        .arg(&out)
        .arg("--")
        .args(job)
        .env("DRY_RUN", "1")
        .env("PREFDISSECT_BIN", env!("CARGO_BIN_EXE_prefdissect"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(printed.contains("--array=0-2") && printed.contains("--dependency=afterok:"));
    for task in 0..3 {
        let o = std::process::Command::new("bash")
            .arg(out.join("shard_task.sh"))
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = std::process::Command::new("bash")
        .arg(out.join("merge_task.sh"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        common::outputs(&out.join("result")),
        common::outputs(&whole)
    );
}
