//! `cargo bench --bench rerank_batched`: 66 rerankers trained in one batch vs one at a time
//! (same as `prefdissect bench --rerank --runs 3`).

fn main() {
    let (device, backend) =
        prefdissect::base::device::tensor_device(prefdissect::base::device::BackendChoice::Auto);
    let report = prefdissect::manipulate::rerank_benchmark::run(
        &prefdissect::manipulate::rerank_benchmark::RerankBenchRequest {
            runs: 3,
            prompts: 200,
            params: prefdissect::rerank::params::RerankParams::new()
                .steps(100)
                .check()
                .expect("settings"),
            seed: 0,
        },
        &device,
        &backend,
    )
    .expect("benchmark");
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
