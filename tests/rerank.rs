//! Rerankers: the batched forward against a per-model f64 reference, batched training against
//! one-model-at-a-time training, determinism, burn-record round trips, the simulated
//! manipulation experiment, and the CLI (including its errors).

mod common;

use std::process::Command;

use burn::tensor::Device;
use prefdissect::manipulate::candidates::simulate_prompts;
use prefdissect::manipulate::experiment::{
    ExperimentRequest, pair_sets, run_experiment, simulated_judge_models,
};
use prefdissect::rerank::io::TextTable;
use prefdissect::rerank::model::Reranker;
use prefdissect::rerank::params::{RerankParams, ValidRerankParams};
use prefdissect::rerank::select::{Pick, pick};
use prefdissect::rerank::text_features::{Featurizer, N_STATS, TextMatrix};
use prefdissect::rerank::train::{PairSet, train};

const BIN: &str = env!("CARGO_BIN_EXE_prefdissect");

fn params(steps: usize, seed: u64) -> ValidRerankParams {
    RerankParams::new()
        .buckets(256)
        .steps(steps)
        .seed(seed)
        .check()
        .unwrap()
}

/// Pair sets of `judges` simulated judges × both directions over 30 prompts.
fn problem(judges: usize) -> (Featurizer, TextMatrix, Vec<PairSet>) {
    let prompts = simulate_prompts(30, 6, 0.2, 3);
    let models: Vec<_> = simulated_judge_models(3).into_iter().take(judges).collect();
    let mut table = TextTable::default();
    let sets: Vec<PairSet> = pair_sets(&prompts, &models, 0.15, &mut table)
        .into_iter()
        .map(|(set, _)| set)
        .collect();
    let refs = table.as_refs();
    let f = Featurizer::fit(256, &refs);
    let m = f.matrix(&refs);
    (f, m, sets)
}

fn floats(t: &burn::tensor::Tensor<3>) -> Vec<f64> {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

#[test]
fn batched_forward_matches_a_per_model_f64_reference() {
    let (f, m, sets) = problem(3);
    let p = params(20, 1);
    let out = train(&f, &m, &sets, &p, &Device::flex(), "cpu").unwrap();
    let got = out.reranker.score_matrix(&m);
    let w: Vec<Vec<f64>> = out.reranker.weights.iter().map(floats).collect();
    let (v, e, h) = (p.buckets, p.embed, p.hidden);
    let width = e + N_STATS;
    let mut worst = 0f64;
    for (model, row) in got.iter().enumerate() {
        for (t, &got_t) in row.iter().enumerate() {
            let mut input = vec![0f64; width];
            for (j, x) in input.iter_mut().take(e).enumerate() {
                *x = (0..v)
                    .map(|b| m.bag[t * v + b] as f64 * w[0][(model * v + b) * e + j])
                    .sum();
            }
            for k in 0..N_STATS {
                input[e + k] = m.stats[t * N_STATS + k] as f64;
            }
            // f32 round-off scales with the terms summed, not with their (cancelling) total.
            let (mut score, mut scale) = (0f64, 1f64);
            for u in 0..h {
                let z: f64 = w[2][model * h + u]
                    + (0..width)
                        .map(|i| input[i] * w[1][(model * width + i) * h + u])
                        .sum::<f64>();
                let term = z.max(0.0) * w[3][model * h + u];
                score += term;
                scale += term.abs();
            }
            worst = worst.max((got_t as f64 - score).abs() / scale);
        }
    }
    println!("batched forward vs f64 reference: max relative error {worst:.2e}");
    assert!(worst < 1e-5, "max relative error {worst:e}");
}

#[test]
fn batched_training_gives_the_same_scores_as_one_model_at_a_time() {
    let (f, m, sets) = problem(4);
    let p = params(80, 0);
    let device = Device::flex();
    let batched = train(&f, &m, &sets, &p, &device, "cpu").unwrap();
    let all = batched.reranker.score_matrix(&m);
    let mut worst = 0f64;
    for (i, set) in sets.iter().enumerate() {
        let alone = train(&f, &m, std::slice::from_ref(set), &p, &device, "cpu").unwrap();
        let s = &alone.reranker.score_matrix(&m)[0];
        for (a, b) in all[i].iter().zip(s) {
            worst = worst.max(((a - b) as f64).abs() / (1.0 + (*b as f64).abs()));
        }
        // The same picks on every group of 6 candidates.
        for (ca, cb) in all[i].chunks(6).zip(s.chunks(6)) {
            assert_eq!(pick(ca, Pick::Best), pick(cb, Pick::Best), "{}", set.name);
        }
        assert!(
            (batched.loss[i] - alone.loss[0]).abs() < 1e-5,
            "{}: loss {} vs {}",
            set.name,
            batched.loss[i],
            alone.loss[0]
        );
    }
    println!("batched vs one at a time: max relative score difference {worst:.2e}");
    assert!(worst < 1e-5, "max relative difference {worst:e}");
}

#[test]
fn training_learns_and_is_deterministic() {
    let (f, m, sets) = problem(2);
    let device = Device::flex();
    let a = train(&f, &m, &sets, &params(150, 7), &device, "cpu").unwrap();
    let b = train(&f, &m, &sets, &params(150, 7), &device, "cpu").unwrap();
    let c = train(&f, &m, &sets, &params(150, 8), &device, "cpu").unwrap();
    for i in 0..4 {
        assert_eq!(
            floats(&a.reranker.weights[i]),
            floats(&b.reranker.weights[i])
        );
    }
    assert_ne!(
        floats(&a.reranker.weights[0]),
        floats(&c.reranker.weights[0])
    );
    for (s, (loss, acc)) in sets.iter().zip(a.loss.iter().zip(&a.train_accuracy)) {
        println!("{}: loss {loss:.4}, training accuracy {acc:.3}", s.name);
        assert!(*loss < 0.4 && *acc > 0.85, "{}: {loss} {acc}", s.name);
    }
}

#[test]
fn a_saved_reranker_loads_and_scores_identically() {
    let (f, m, sets) = problem(2);
    let out = train(&f, &m, &sets, &params(30, 0), &Device::flex(), "cpu").unwrap();
    let dir = common::temp_dir("rerank-record");
    out.reranker.save(&dir.join("model")).unwrap();
    let back = Reranker::load(&dir.join("model"), &Device::flex()).unwrap();
    assert_eq!(back.manifest.names, out.reranker.manifest.names);
    assert_eq!(back.manifest.featurizer, f);
    assert_eq!(back.score_matrix(&m), out.reranker.score_matrix(&m));
    // The same weights saved again are the same bytes (burn's random parameter ids are not
    // written).
    out.reranker.save(&dir.join("again")).unwrap();
    assert!(
        std::fs::read(dir.join("model/reranker.bpk")).unwrap()
            == std::fs::read(dir.join("again/reranker.bpk")).unwrap()
    );
    // A truncated record is an error naming the file, not a panic.
    let bpk = dir.join("model/reranker.bpk");
    let bytes = std::fs::read(&bpk).unwrap();
    std::fs::write(&bpk, &bytes[..bytes.len() / 2]).unwrap();
    let err = Reranker::load(&dir.join("model"), &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("reranker.bpk"), "{err}");
}

fn experiment(judges: Vec<(String, [f64; 29])>) -> ExperimentRequest {
    ExperimentRequest {
        judges,
        prompts: 120,
        candidates: 6,
        margin: 0.15,
        text_noise: 0.2,
        params: RerankParams::new().buckets(512).check().unwrap(),
        seed: 0,
    }
}

#[test]
fn simulated_experiment_orders_aligned_random_against() {
    let mut judges: Vec<_> = simulated_judge_models(0)
        .into_iter()
        .filter(|(n, _)| {
            ["human", "gpt-4-1106-preview", "llama-2-7b", "yi-6b"].contains(&n.as_str())
        })
        .collect();
    // A flat judge (the MAP zeroed its weights) labels no pair confidently: it is left out
    // with its reason, and the others run.
    judges.insert(1, ("flat".to_string(), [0.0; 29]));
    let out = run_experiment(&experiment(judges), &Device::flex(), "cpu").unwrap();
    assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
    assert!(
        out.skipped[0].contains("`flat`") && out.skipped[0].contains("0.0000"),
        "{}",
        out.skipped[0]
    );
    assert_eq!(out.rows.len(), 4);
    assert!(out.rows.iter().all(|r| r.judge != "flat"));
    print!(
        "{}",
        prefdissect::manipulate::experiment_report::table(&out)
    );
    for r in &out.rows {
        assert!(r.aligned > r.random && r.random > r.against, "{r:?}");
        assert!(r.oracle >= r.aligned, "{r:?}");
        assert!(r.heldout_accuracy_align > 0.75, "{r:?}");
        assert!(r.heldout_accuracy_against > 0.75, "{r:?}");
    }
    // The transfer matrix's diagonal is the aligned win rate.
    for (j, r) in out.rows.iter().enumerate() {
        assert!((out.transfer[j][j] - r.aligned).abs() < 1e-12);
    }
}

#[test]
fn an_experiment_with_only_flat_judges_is_an_error() {
    let judges = vec![("flat".to_string(), [0.0; 29])];
    let err = run_experiment(&experiment(judges), &Device::flex(), "cpu")
        .err()
        .expect("no judge left");
    let msg = err.to_string();
    assert!(
        msg.contains("no judge keeps a pair at margin 0.15") && msg.contains("`flat`"),
        "{msg}"
    );
}

fn run(args: &[&str]) -> (bool, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn cli_simulate_train_select_and_errors() {
    let dir = common::temp_dir("rerank-cli");
    let sim = dir.join("sim");
    let (ok, log) = run(&[
        "manipulate",
        "simulate",
        "--out",
        sim.to_str().unwrap(),
        "--judges",
        "human,qwen-7b",
        "--prompts",
        "60",
        "--steps",
        "60",
        "--buckets",
        "256",
    ]);
    assert!(ok, "{log}");
    for f in [
        "win_rates.csv",
        "transfer.csv",
        "summary.json",
        "test_candidates.jsonl",
    ] {
        assert!(sim.join(f).is_file(), "{f}");
    }
    // DPO pairs from the held-out candidates, as `manipulate pairs --texts` writes them.
    let cands = std::fs::read_to_string(sim.join("test_candidates.jsonl")).unwrap();
    let mut dpo = String::new();
    for line in cands.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let r = v["responses"].as_array().unwrap();
        let rating = |i: usize| -> u64 {
            v["ratings"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .sum()
        };
        let (a, b) = if rating(0) >= rating(1) {
            (0, 1)
        } else {
            (1, 0)
        };
        dpo.push_str(
            &serde_json::json!({"prompt": v["prompt"], "chosen": r[a], "rejected": r[b]})
                .to_string(),
        );
        dpo.push('\n');
    }
    std::fs::write(dir.join("sum.jsonl"), dpo).unwrap();
    let model = dir.join("model");
    let (ok, log) = run(&[
        "rerank",
        "train",
        "--pairs",
        &format!("total={}", dir.join("sum.jsonl").display()),
        "--out",
        model.to_str().unwrap(),
        "--steps",
        "40",
        "--buckets",
        "256",
    ]);
    assert!(ok, "{log}");
    assert!(log.contains("held-out accuracy"), "{log}");
    let picks = dir.join("picks.jsonl");
    let (ok, log) = run(&[
        "rerank",
        "select",
        "--model",
        model.to_str().unwrap(),
        "--candidates",
        sim.join("test_candidates.jsonl").to_str().unwrap(),
        "--out",
        picks.to_str().unwrap(),
    ]);
    assert!(ok, "{log}");
    assert_eq!(std::fs::read_to_string(&picks).unwrap().lines().count(), 30);

    // Errors: a bad pairs line, an unknown reranker.
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"prompt\": \"p\", \"chosen\": \"a\"}\n",
    )
    .unwrap();
    let (ok, log) = run(&[
        "rerank",
        "train",
        "--pairs",
        dir.join("bad.jsonl").to_str().unwrap(),
        "--out",
        dir.join("m2").to_str().unwrap(),
    ]);
    assert!(
        !ok && log.contains("bad.jsonl:1") && log.contains("rejected"),
        "{log}"
    );
    assert!(!dir.join("m2").exists());
    let (ok, log) = run(&[
        "rerank",
        "select",
        "--model",
        model.to_str().unwrap(),
        "--candidates",
        sim.join("test_candidates.jsonl").to_str().unwrap(),
        "--reranker",
        "nobody",
    ]);
    assert!(!ok && log.contains("`nobody`"), "{log}");
    // `--backend wgpu` picks the same (on an adapter, or on the CPU after a warning).
    let picks_wgpu = dir.join("picks-wgpu.jsonl");
    let (ok, log) = run(&[
        "rerank",
        "select",
        "--model",
        model.to_str().unwrap(),
        "--candidates",
        sim.join("test_candidates.jsonl").to_str().unwrap(),
        "--backend",
        "wgpu",
        "--out",
        picks_wgpu.to_str().unwrap(),
    ]);
    assert!(ok && !log.contains("panicked"), "{log}");
    let picked = |p: &std::path::Path| -> Vec<u64> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["pick"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(picked(&picks), picked(&picks_wgpu));
}
