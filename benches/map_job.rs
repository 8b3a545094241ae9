//! `cargo bench`: the full MAP job benchmark (same as `prefdissect bench`).

fn main() {
    let report = prefdissect::cli::bench::run(&prefdissect::cli::bench::BenchRequest {
        runs: 5,
        seed: 0,
        folds: 10,
        reference: true,
    })
    .expect("benchmark");
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
