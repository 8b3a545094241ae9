//! The demo's HTML report: self-contained (inline SVG, no script, nothing fetched), and
//! rendered by headless Chromium without console messages (skipped where no Chromium is
//! installed; `.ci/run` installs `chromium-headless-shell`).

mod common;

use std::process::Command;

fn browser() -> Option<&'static str> {
    ["chromium-headless-shell", "chromium", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn demo_report_is_self_contained_and_renders_in_headless_chromium() {
    let dir = common::temp_dir("report-demo");
    prefdissect::cli::demo::demo(&dir, 1, Default::default(), false).unwrap();
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.matches("<svg").count() >= 3,
        "dissection, heatmap, waterfall"
    );
    assert!(!html.contains("<script"));
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(attr),
            "{attr}: the page must not fetch anything"
        );
    }
    assert!(html.contains("Judge similarity") && html.contains("Why one verdict"));
    assert!(html.contains("held-out accuracy"));

    let Some(browser) = browser() else {
        eprintln!("skipped the rendering: no chromium-headless-shell / chromium found");
        return;
    };
    let shot = dir.join("report.png");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,5200",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // A blank page compresses to a few KB; charts and tables do not.
    assert!(png.len() > 200_000, "screenshot only {} bytes", png.len());
    eprintln!(
        "{browser}: screenshot {} ({} bytes)",
        shot.display(),
        png.len()
    );
}

#[test]
fn unknown_judges_and_samples_are_errors() {
    let dir = common::temp_dir("report-bad");
    prefdissect::cli::demo::demo(&dir, 2, Default::default(), false).unwrap();
    let err = prefdissect::report::html::report(&prefdissect::report::html::ReportRequest {
        fit: dir.join("fit"),
        bootstrap: None,
        data: None,
        judges: Some(vec!["nobody".into()]),
        sample: 0,
        out: dir.join("r.html"),
    })
    .unwrap_err();
    assert!(
        matches!(err, prefdissect::Error::Setting { name: "judges", .. }),
        "{err}"
    );
    let err = prefdissect::cli::shap::explain(&prefdissect::cli::shap::ShapRequest {
        data: dir.join("data"),
        fit: dir.join("fit"),
        judges: None,
        sample: Some(99_999),
        group: None,
        out: dir.join("s.csv"),
    })
    .unwrap_err();
    assert!(err.to_string().contains("99999 is out of range"), "{err}");
    assert!(!dir.join("r.html").exists() && !dir.join("s.csv").exists());
}
