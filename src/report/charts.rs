//! The report's pictures as SVG strings (plotters' SVG backend; the browser renders the text):
//! the dissection chart, the similarity heatmap and a SHAP waterfall.

use plotters::prelude::*;

use crate::analyse::explain::Explanation;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Row label of a tick at an integer position of a categorical axis drawn on f64.
fn label_at(v: f64, labels: &[String]) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 || i as usize >= labels.len() {
        return String::new();
    }
    labels[i as usize].clone()
}

/// Probability of preferred per property for a few judges (grouped horizontal bars from the 50%
/// line): `series` is (judge, K probabilities), `names` the K property names.
pub fn dissection_chart(series: &[(String, Vec<f64>)], names: &[String]) -> String {
    let k_used = names.len();
    let mut svg = String::new();
    let per_row = 6 * series.len().max(1) as u32 + 8;
    let height = 130 + k_used as u32 * per_row;
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let all = series.iter().flat_map(|(_, p)| p.iter().copied());
        let lo = all.clone().fold(50f64, f64::min).floor() - 2.0;
        let hi = all.fold(50f64, f64::max).ceil() + 2.0;
        // Row r (top to bottom: feature 0 first) sits at y = 28 − r.
        let labels: Vec<String> = (0..k_used).map(|y| names[k_used - 1 - y].clone()).collect();
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(
                "Probability of preferred, mean over the scenario groups",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(180)
            .build_cartesian_2d(lo..hi, -0.5f64..(k_used as f64 - 0.5))
        else {
            return failed("dissection chart");
        };
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(k_used)
            .y_label_formatter(&|v| label_at(*v, &labels))
            .x_desc("chance that a response better only in this property wins (%)")
            .draw();
        let n = series.len().max(1) as f64;
        for (s, (judge, probs)) in series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            let bars = (0..k_used).map(move |k| {
                let y = (k_used - 1 - k) as f64;
                let top = y + 0.4 - 0.8 * s as f64 / n;
                let bottom = y + 0.4 - 0.8 * (s + 1) as f64 / n;
                Rectangle::new([(50.0, top), (probs[k], bottom)], color.filled())
            });
            if let Ok(drawn) = chart.draw_series(bars) {
                drawn.label(judge.clone()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            }
        }
        let _ = chart.draw_series(LineSeries::new(
            [(50.0, -0.5), (50.0, k_used as f64 - 0.5)],
            BLACK.stroke_width(1),
        ));
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw();
        let _ = root.present();
    }
    svg
}

/// Judge × judge similarity with the values written in the cells (blue high, white 0, red
/// negative).
pub fn similarity_heatmap(judges: &[String], sim: &[Vec<f64>]) -> String {
    let n = judges.len();
    let cell = if n > 20 { 26 } else { 44 };
    let size = 100 + cell * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size + 40, size)).into_drawing_area();
        let _ = root.fill(&WHITE);
        // Columns carry the judges' numbers, rows their numbered names: 33 names would not fit
        // under the columns.
        let labels: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        let rev: Vec<String> = judges
            .iter()
            .enumerate()
            .rev()
            .map(|(i, j)| format!("{j} {}", i + 1))
            .collect();
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(
                "Judge similarity (Pearson of the weights, mean over scenarios)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(170)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), -0.5f64..(n as f64 - 0.5))
        else {
            return failed("similarity heatmap");
        };
        let _ = chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|v| label_at(*v, &labels))
            .y_label_formatter(&|v| label_at(*v, &rev))
            .x_label_style(("sans-serif", 11))
            .y_label_style(("sans-serif", 11))
            .draw();
        let font = if n > 20 { 8 } else { 11 };
        for a in 0..n {
            for b in 0..n {
                let v = sim[a][b];
                let y = (n - 1 - a) as f64;
                let x = b as f64;
                let color = if v.is_nan() {
                    RGBColor(220, 220, 220)
                } else if v >= 0.0 {
                    let t = v.min(1.0);
                    RGBColor((255.0 * (1.0 - t)) as u8, (255.0 - 135.0 * t) as u8, 255)
                } else {
                    let t = (-v).min(1.0);
                    RGBColor(255, (255.0 * (1.0 - t)) as u8, (255.0 * (1.0 - t)) as u8)
                };
                let _ = chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                    color.filled(),
                )));
                let text = if v.is_nan() {
                    "–".to_string()
                } else {
                    format!("{v:.2}")
                };
                let ink = if v > 0.6 { WHITE } else { BLACK };
                let _ = chart.draw_series(std::iter::once(Text::new(
                    text,
                    (x - 0.3, y + 0.15),
                    ("sans-serif", font).into_font().color(&ink),
                )));
            }
        }
        let _ = root.present();
    }
    svg
}

/// A SHAP waterfall for one prediction: from f(0) = 0.5, each non-zero feature's Shapley value
/// (largest |φ| first) to f(x).
pub fn shap_waterfall(title: &str, names: &[String], phi: &[f64], f_x: f64) -> String {
    let n = phi.len();
    let mut svg = String::new();
    {
        let height = 140 + 26 * (n as u32 + 2);
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let mut level = 0.5;
        let mut spans = Vec::new();
        for &p in phi {
            spans.push((level, level + p));
            level += p;
        }
        let (lo, hi) = spans
            .iter()
            .fold((0.5f64.min(f_x), 0.5f64.max(f_x)), |(a, b), &(s, e)| {
                (a.min(s).min(e), b.max(s).max(e))
            });
        let pad = (hi - lo).max(0.02) * 0.15;
        // Rows top to bottom: f(0), features, f(x).
        let mut labels: Vec<String> = vec!["f(x) = P(A)".into()];
        labels.extend(names.iter().rev().cloned());
        labels.push("f(0) = 0.5".into());
        let rows = labels.len();
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(180)
            .build_cartesian_2d((lo - pad)..(hi + pad), -0.5f64..(rows as f64 - 0.5))
        else {
            return failed("SHAP waterfall");
        };
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows)
            .y_label_formatter(&|v| label_at(*v, &labels))
            .x_desc("model's P(response 1 preferred)")
            .draw();
        let top = (rows - 1) as f64;
        let _ = chart.draw_series(std::iter::once(Rectangle::new(
            [(0.5, top - 0.35), (0.5 + 1e-9, top + 0.35)],
            BLACK.stroke_width(2),
        )));
        for (i, &(s, e)) in spans.iter().enumerate() {
            let y = top - 1.0 - i as f64;
            let color = if e >= s {
                RGBColor(214, 39, 40)
            } else {
                RGBColor(31, 119, 180)
            };
            let _ = chart.draw_series(std::iter::once(Rectangle::new(
                [(s, y - 0.35), (e, y + 0.35)],
                color.filled(),
            )));
            let _ = chart.draw_series(std::iter::once(Text::new(
                format!("{:+.3}", e - s),
                (s.max(e) + pad * 0.05, y + 0.15),
                ("sans-serif", 11),
            )));
        }
        let _ = chart.draw_series(std::iter::once(Rectangle::new(
            [(0.5, -0.35), (f_x, 0.35)],
            RGBColor(90, 90, 90).filled(),
        )));
        let _ = chart.draw_series(std::iter::once(Text::new(
            format!("{f_x:.3}"),
            (f_x.max(0.5) + pad * 0.05, 0.15),
            ("sans-serif", 11),
        )));
        let _ = root.present();
    }
    svg
}

fn failed(what: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"40\"><text x=\"10\" \
         y=\"25\">{what}: could not be drawn</text></svg>"
    )
}

/// An explanation's waterfall chart (SVG).
pub fn explanation_waterfall(e: &Explanation) -> String {
    let order = e.ranked();
    let names: Vec<String> = order
        .iter()
        .map(|&k| format!("{} ({:+})", e.properties[k], e.x[k]))
        .collect();
    let phi: Vec<f64> = order.iter().map(|&k| e.shap[k]).collect();
    let title = format!(
        "Sample {} explained for {} ({} model)",
        e.sample, e.judge, e.group
    );
    shap_waterfall(&title, &names, &phi, e.f_x)
}
