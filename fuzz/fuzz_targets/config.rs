//! A `--config` file, then the validated settings every estimator takes from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prefdissect::solve::settings::{Estimator, FitConfig};

fuzz_target!(|data: &[u8]| {
    let path = prefdissect_fuzz::put("config.json", data);
    if let Ok(cfg) = FitConfig::read(&path) {
        for default in [Estimator::PosteriorMean, Estimator::Map] {
            if let Ok(settings) = cfg.estimator_settings(default) {
                let _ = settings.to_json();
            }
        }
    }
});
