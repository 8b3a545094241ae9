//! A run that succeeds says nothing that reads like a failure: no line starting with `error:`,
//! and `warning:` only for something the user should act on.

mod common;

use std::process::Command;

/// The lines of `stderr` that start like a failure or a warning.
fn alarming(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("warning:"))
        .collect()
}

/// Without a display server (no `XDG_RUNTIME_DIR`, as in CI, over ssh, in a container), the
/// wgpu probe used to make libwayland print `error: XDG_RUNTIME_DIR is invalid or not set in
/// the environment.` once per Vulkan driver, on runs that succeed.
#[test]
fn the_wgpu_probe_is_silent_without_a_display_server() {
    let dir = common::temp_dir("quiet-probe");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_small_dataset(&data, 60);
    let run = Command::new(env!("CARGO_BIN_EXE_prefdissect"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .args([
            "fit",
            "--quiet",
            "--estimator",
            "map",
            "--backend",
            "wgpu",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.join("fit"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let lines = alarming(&stderr);
    // Without any adapter the CPU fallback is a warning the user should hear; nothing else.
    let fallback = lines.len() == 1 && lines[0].starts_with("warning: no wgpu adapter");
    assert!(lines.is_empty() || fallback, "{stderr}");
}

/// The demo (fast settings, so the sampler's mixing diagnostics are expected: notes, not
/// warnings) says nothing alarming on a run that succeeds, without a display server either.
#[test]
fn the_demo_prints_no_error_or_warning() {
    let dir = common::temp_dir("quiet-demo");
    let run = Command::new(env!("CARGO_BIN_EXE_prefdissect"))
        .env_remove("XDG_RUNTIME_DIR")
        .args(["demo", "--backend", "cpu", "--dir"])
        .arg(dir.join("demo"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(alarming(&stderr).is_empty(), "{stderr}");
    assert!(dir.join("demo/report.html").exists());
}
