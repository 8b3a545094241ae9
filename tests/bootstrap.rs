#![allow(clippy::needless_range_loop)]
//! The bootstrap: unit counts reproduce the plain fit exactly, an interrupted run resumed gives
//! the same bytes as an uninterrupted one (library stop and a real kill of the binary), runs
//! repeat exactly, the intervals' arithmetic, the resampling streams, calibration on simulated
//! data at small scale, and bad settings.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use prefdissect::Error;
use prefdissect::base::features::{MAX_K, PAPER_K};
use prefdissect::bootstrap::calibrate::{CalibrationParams, calibrate};
use prefdissect::bootstrap::intervals::{acceleration, normal_cdf, quantile, summarise};
use prefdissect::bootstrap::resample::counts;
use prefdissect::bootstrap::{
    BootstrapOutcome, BootstrapParams, BootstrapRequest, Resampling, bootstrap, parse_size,
};
use prefdissect::cli::fit::{FitRequest, Solution, fit};
use prefdissect::load::Selection;
use prefdissect::simulate::{simulate, write_simulated};
use prefdissect::solve::settings::{Estimator, FitConfig};

const JUDGES: [&str; 3] = ["human", "gpt-4-1106-preview", "llama-2-7b"];
const GROUPS: [&str; 3] = ["Advice", "Code", "w_stances"];

fn simulated(name: &str) -> (PathBuf, PathBuf) {
    let dir = common::temp_dir(name);
    let data = dir.join("data");
    write_simulated(&simulate(3), &data, 3).unwrap();
    (dir, data)
}

fn selection() -> Selection {
    Selection {
        judges: Some(JUDGES.iter().map(|s| s.to_string()).collect()),
        groups: Some(GROUPS.iter().map(|s| s.to_string()).collect()),
    }
}

fn request(
    data: &Path,
    out: PathBuf,
    config: FitConfig,
    params: BootstrapParams,
) -> BootstrapRequest {
    BootstrapRequest {
        data: data.to_owned(),
        out,
        selection: selection(),
        config,
        params: params.check().unwrap(),
        resume: false,
        progress: false,
        stop_after_chunks: None,
        shard: None,
        merging: false,
        backend: Default::default(),
    }
}

fn map_config() -> FitConfig {
    FitConfig {
        estimator: Some(Estimator::Map),
        ..FitConfig::default()
    }
}

fn small_posterior_config() -> FitConfig {
    FitConfig {
        estimator: Some(Estimator::PosteriorMean),
        chains: Some(2),
        warmup: Some(150),
        draws: Some(150),
        ..FitConfig::default()
    }
}

/// The plain whole-group fit, weights in model order (group-major, then judge).
fn plain_fit(data: &Path, out: PathBuf, config: &FitConfig) -> Vec<[f64; MAX_K]> {
    let outcome = fit(&FitRequest {
        data: data.to_owned(),
        out,
        selection: selection(),
        config: FitConfig {
            folds: Some(1),
            ..config.clone()
        },
        progress: false,
        backend: Default::default(),
    })
    .unwrap();
    match outcome.solution {
        Solution::Map(s) => s.fits.iter().map(|f| f.weights).collect(),
        Solution::Posterior(s) => s.fits.iter().map(|f| f.mean).collect(),
    }
}

fn assert_replicates_are(outcome: &BootstrapOutcome, plain: &[[f64; MAX_K]]) {
    assert_eq!(outcome.point.len(), plain.len());
    for (m, (p, q)) in outcome.point.iter().zip(plain).enumerate() {
        assert_eq!(
            p, q,
            "point estimate of model {m} differs from the plain fit"
        );
    }
    // The paper's data: each model's replicates are stored in its 29 slots.
    let stride = plain.len() * PAPER_K;
    assert_eq!(outcome.replicates.len() % stride, 0);
    for (r, rep) in outcome.replicates.chunks(stride).enumerate() {
        for m in 0..plain.len() {
            for k in 0..PAPER_K {
                // Replicates are kept as f32.
                assert_eq!(
                    rep[m * PAPER_K + k],
                    plain[m][k] as f32,
                    "replicate {r}, model {m}, feature {k}"
                );
            }
        }
    }
    for row in &outcome.rows {
        if row.quantity == "weight" {
            assert_eq!(row.interval.boot_sd, 0.0);
        }
    }
}

#[test]
fn unit_counts_reproduce_the_plain_fit_exactly_map() {
    let (dir, data) = simulated("boot-ones-map");
    let plain = plain_fit(&data, dir.join("plain"), &map_config());
    let params = BootstrapParams::new()
        .replicates(3)
        .resampling(Resampling::Ones);
    let outcome = bootstrap(&request(&data, dir.join("boot"), map_config(), params)).unwrap();
    assert_replicates_are(&outcome, &plain);
}

#[test]
fn unit_counts_reproduce_the_plain_fit_exactly_posterior_mean() {
    let (dir, data) = simulated("boot-ones-post");
    let config = small_posterior_config();
    let plain = plain_fit(&data, dir.join("plain"), &config);
    let params = BootstrapParams::new()
        .replicates(2)
        .resampling(Resampling::Ones);
    let outcome = bootstrap(&request(&data, dir.join("boot"), config, params)).unwrap();
    assert_replicates_are(&outcome, &plain);
}

#[test]
fn resumed_run_equals_uninterrupted_run_and_runs_repeat() {
    let (dir, data) = simulated("boot-resume");
    let params = || BootstrapParams::new().replicates(60).bca(true).seed(7);
    let full = bootstrap(&request(&data, dir.join("full"), map_config(), params())).unwrap();
    assert!(full.finished);
    let again = bootstrap(&request(&data, dir.join("again"), map_config(), params())).unwrap();
    assert_eq!(full.replicates, again.replicates, "same seed, same numbers");

    let mut req = request(&data, dir.join("cut"), map_config(), params());
    req.stop_after_chunks = Some(4);
    let cut = bootstrap(&req).unwrap();
    assert!(!cut.finished);
    assert!(!dir.join("cut/bootstrap_ci.csv").exists());
    assert!(dir.join("cut/.bootstrap-checkpoint/manifest.json").exists());
    req.stop_after_chunks = None;
    req.resume = true;
    let resumed = bootstrap(&req).unwrap();
    assert!(resumed.finished);
    assert_eq!(resumed.summary["counts"]["chunks_resumed"], 4);
    for file in ["bootstrap_ci.csv", "bootstrap_ci.json"] {
        let a = std::fs::read(dir.join("full").join(file)).unwrap();
        let b = std::fs::read(dir.join("cut").join(file)).unwrap();
        assert!(a == b, "{file} differs after resume");
    }
    assert!(!dir.join("cut/.bootstrap-checkpoint").exists());

    // Another seed gives other replicates.
    let other = bootstrap(&request(
        &data,
        dir.join("other"),
        map_config(),
        params().seed(8),
    ))
    .unwrap();
    assert_ne!(full.replicates, other.replicates);

    // A checkpoint from other settings is refused, not mixed in.
    req.stop_after_chunks = Some(2);
    req.resume = false;
    bootstrap(&req).unwrap();
    let mut wrong = request(&data, dir.join("cut"), map_config(), params().seed(9));
    wrong.resume = true;
    assert!(matches!(bootstrap(&wrong), Err(Error::Checkpoint { .. })));
}

#[test]
fn killed_binary_resumes_to_the_same_bytes() {
    let (dir, data) = simulated("boot-kill");
    let bin = env!("CARGO_BIN_EXE_prefdissect");
    let args = |out: &Path| {
        vec![
            "bootstrap".to_string(),
            "--data".into(),
            data.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--replicates".into(),
            "400".into(),
            "--groups".into(),
            "Advice,Code,Communication,w_constraints".into(),
            "--quiet".into(),
        ]
    };
    let full = dir.join("full");
    assert!(
        Command::new(bin)
            .args(args(&full))
            .status()
            .unwrap()
            .success()
    );

    let cut = dir.join("cut");
    let mut child = Command::new(bin).args(args(&cut)).spawn().unwrap();
    let manifest = cut.join(".bootstrap-checkpoint/manifest.json");
    let start = std::time::Instant::now();
    loop {
        if manifest.exists() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before a checkpoint was seen"
        );
        assert!(start.elapsed().as_secs() < 120, "no checkpoint written");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !cut.join("bootstrap_ci.csv").exists(),
        "the run finished before it could be killed"
    );
    let mut resume = args(&cut);
    resume.push("--resume".into());
    let out = Command::new(bin).args(&resume).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = std::fs::read(full.join("bootstrap_ci.csv")).unwrap();
    let b = std::fs::read(cut.join("bootstrap_ci.csv")).unwrap();
    assert!(a == b, "bootstrap_ci.csv differs after kill + resume");
}

#[test]
fn outputs_hold_every_statistic() {
    let (dir, data) = simulated("boot-rows");
    let params = BootstrapParams::new().replicates(30).bca(true);
    let out = bootstrap(&request(&data, dir.join("b"), map_config(), params)).unwrap();
    let csv = std::fs::read_to_string(dir.join("b/bootstrap_ci.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let models = JUDGES.len() * GROUPS.len();
    // weights + probabilities per model and feature; the scenario means per judge and feature
    // (2 scenario groups selected); one similarity per judge pair.
    let expected = 2 * models * PAPER_K + JUDGES.len() * PAPER_K + 3;
    assert_eq!(lines.len(), 1 + expected);
    assert_eq!(out.rows.len(), expected);
    assert!(lines[0].starts_with("quantity,judge,judge_b,group,feature,point"));
    for row in &out.rows {
        let i = &row.interval;
        assert!(
            i.ci_low <= i.ci_high && i.basic_low <= i.basic_high,
            "{row:?}"
        );
        assert!(i.bca_low.is_some() && i.bca_high.is_some());
        if row.quantity == "probability" {
            assert!(i.ci_low >= 0.0 && i.ci_high <= 100.0);
        }
        if row.quantity == "similarity_scenario_mean" {
            assert!((-1.0..=1.0).contains(&i.point));
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("b/bootstrap_ci.json")).unwrap())
            .unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), expected);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("b/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["counts"]["replicate_fits"], 30 * models);
}

#[test]
fn interval_arithmetic() {
    // numpy.quantile([1, 2, 3, 4], 0.25) = 1.75; 0.9 → 3.7
    assert!((quantile(&[1.0, 2.0, 3.0, 4.0], 0.25) - 1.75).abs() < 1e-12);
    assert!((quantile(&[1.0, 2.0, 3.0, 4.0], 0.9) - 3.7).abs() < 1e-12);
    for (x, phi) in [
        (0.0, 0.5),
        (1.959963984540054, 0.975),
        (-1.0, 0.15865525393145707),
    ] {
        assert!((normal_cdf(x) - phi).abs() < 2e-7, "Φ({x})");
    }
    // Acceleration from its definition on a skewed jackknife.
    let jack = [0.0, 0.1, 0.1, 0.2, 1.0];
    let mean = jack.iter().sum::<f64>() / 5.0;
    let d: Vec<f64> = jack.iter().map(|t| mean - t).collect();
    let want = d.iter().map(|v| v * v * v).sum::<f64>()
        / (6.0 * d.iter().map(|v| v * v).sum::<f64>().powf(1.5));
    assert!((acceleration(&jack) - want).abs() < 1e-15);
    // With no bias (point = median) and a symmetric jackknife, BCa is the percentile interval.
    let values: Vec<f64> = (0..1001).map(|i| i as f64 / 1000.0).collect();
    let s = summarise(0.5, &values, 0.9, Some(&[-1.0, 1.0, -2.0, 2.0]));
    assert!((s.bca_low.unwrap() - s.ci_low).abs() < 1e-6);
    assert!((s.bca_high.unwrap() - s.ci_high).abs() < 1e-6);
    assert!((s.ci_low - 0.05).abs() < 1e-12 && (s.ci_high - 0.95).abs() < 1e-12);
    // Basic interval: the percentile interval reflected about the point.
    let s = summarise(0.7, &values, 0.9, None);
    assert!((s.basic_low - 0.45).abs() < 1e-12 && (s.basic_high - 1.35).abs() < 1e-12);
    // A point estimate above most replicates shifts the BCa interval up.
    let s = summarise(0.6, &values, 0.9, Some(&[-1.0, 1.0]));
    assert!(s.bca_low.unwrap() > s.ci_low && s.bca_high.unwrap() > s.ci_high);
}

#[test]
fn resampling_streams() {
    let n = 1000;
    let a = counts(Resampling::Multinomial, 1, "Advice", 5, n);
    assert_eq!(a.iter().sum::<u32>() as usize, n);
    assert_eq!(a, counts(Resampling::Multinomial, 1, "Advice", 5, n));
    assert_ne!(a, counts(Resampling::Multinomial, 1, "Advice", 6, n));
    assert_ne!(a, counts(Resampling::Multinomial, 1, "Code", 5, n));
    // ~e⁻¹ of the rows are not drawn.
    let zeros = a.iter().filter(|&&c| c == 0).count() as f64 / n as f64;
    assert!((zeros - (-1.0f64).exp()).abs() < 0.05, "{zeros}");
    let total: u32 = (0..200)
        .map(|r| {
            counts(Resampling::Poisson, 1, "Code", r, n)
                .iter()
                .sum::<u32>()
        })
        .sum();
    let mean = total as f64 / (200 * n) as f64;
    assert!((mean - 1.0).abs() < 0.01, "Poisson(1) mean {mean}");
    assert!(
        counts(Resampling::Ones, 1, "x", 0, 7)
            .iter()
            .all(|&c| c == 1)
    );
}

#[test]
fn calibration_on_simulated_data() {
    // Small version of the `calibrate` study (the 200-refit table is in the README). With 60
    // refits the true-sd estimate of one weight has ~9% noise of its own, so this checks the
    // median ratio and the mean coverage, not the per-weight band.
    let r = calibrate(&CalibrationParams {
        refits: 60,
        replicates: 100,
        judges: 3,
        group_sizes: vec![400, 820],
        level: 0.95,
        seed: 11,
        backend: prefdissect::base::device::BackendChoice::Cpu,
    })
    .unwrap();
    assert!(r.eligible >= 40, "{} eligible weights", r.eligible);
    assert!(
        (0.9..=1.1).contains(&r.median_ratio),
        "median bootstrap sd / true sd {}",
        r.median_ratio
    );
    assert!(
        (0.92..=0.98).contains(&r.coverage_of_mean),
        "coverage {}",
        r.coverage_of_mean
    );
}

#[test]
fn bad_settings_are_errors() {
    assert!(matches!(
        BootstrapParams::new().replicates(1).check(),
        Err(Error::Setting {
            name: "replicates",
            ..
        })
    ));
    assert!(matches!(
        BootstrapParams::new().level(1.0).check(),
        Err(Error::Setting { name: "level", .. })
    ));
    assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
    assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
    assert_eq!(parse_size("1000").unwrap(), 1000);
    assert!(parse_size("12 parsecs").is_err());
    assert!(parse_size("0").is_err());

    let (dir, data) = simulated("boot-bad");
    let params = BootstrapParams::new().replicates(100).memory_budget(10_000);
    let err = bootstrap(&request(&data, dir.join("o"), map_config(), params)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Setting {
                name: "memory_budget",
                ..
            }
        ),
        "{err}"
    );
    assert!(!dir.join("o/bootstrap_ci.csv").exists());

    let bin = env!("CARGO_BIN_EXE_prefdissect");
    let out = Command::new(bin)
        .args(["bootstrap", "--data"])
        .arg(&data)
        .args(["--out"])
        .arg(dir.join("o2"))
        .args(["--replicates", "5", "--memory-budget", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("memory-budget"));
    let out = Command::new(bin)
        .args(["bootstrap", "--data"])
        .arg(dir.join("missing"))
        .args(["--out"])
        .arg(dir.join("o3"))
        .args(["--replicates", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}
