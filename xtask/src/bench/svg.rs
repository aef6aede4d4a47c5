//! The bench's chart, written as SVG by hand: panels of lines on log-log axes
//! (the figures span two to three orders of magnitude), one colour per tool.

use std::fmt::Write;

/// One line: a tool's figures at each x.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// One chart with its axes.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const PANEL_W: f64 = 460.0;
const PANEL_H: f64 = 340.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 90.0;

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Decades `10^lo ..= 10^hi` that enclose every positive value; `None` without one.
fn decades(values: impl Iterator<Item = f64>) -> Option<(i32, i32)> {
    let positive: Vec<f64> = values.filter(|v| v.is_finite() && *v > 0.0).collect();
    let min = positive.iter().copied().reduce(f64::min)?;
    let max = positive.iter().copied().reduce(f64::max)?;
    let lo = min.log10().floor() as i32;
    let hi = (max.log10().ceil() as i32).max(lo + 1);
    Some((lo, hi))
}

/// A tick label for `10^exp`: `0.01`, `1`, `1000`.
fn decade_label(exp: i32) -> String {
    if exp >= 0 {
        format!("{}", 10u64.saturating_pow(exp.unsigned_abs()))
    } else {
        format!("{:.*}", exp.unsigned_abs() as usize, 10f64.powi(exp))
    }
}

/// Maps `v` on a log axis from `[10^lo, 10^hi]` onto `[from, to]`.
fn log_scale(v: f64, (lo, hi): (i32, i32), from: f64, to: f64) -> f64 {
    let t = (v.log10() - f64::from(lo)) / f64::from(hi - lo);
    from + t * (to - from)
}

fn render_panel(out: &mut String, panel: &Panel, x0: f64) {
    let (plot_l, plot_r) = (x0 + LEFT, x0 + PANEL_W - RIGHT);
    let (plot_t, plot_b) = (TOP, PANEL_H - BOTTOM);
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="22" font-size="14" text-anchor="middle" font-weight="bold">{}</text>"#,
        x0 + PANEL_W / 2.0,
        escape(&panel.title)
    );
    let points = || panel.series.iter().flat_map(|s| s.points.iter().copied());
    let (Some(ys), Some(xs)) = (decades(points().map(|p| p.1)), decades(points().map(|p| p.0))) else {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data</text>"#,
            x0 + PANEL_W / 2.0,
            PANEL_H / 2.0
        );
        return;
    };
    let _ = writeln!(
        out,
        r##"<rect x="{plot_l:.1}" y="{plot_t:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>"##,
        plot_r - plot_l,
        plot_b - plot_t
    );
    for exp in ys.0..=ys.1 {
        let y = log_scale(10f64.powi(exp), ys, plot_b, plot_t);
        let _ = writeln!(
            out,
            r##"<line x1="{plot_l:.1}" y1="{y:.1}" x2="{plot_r:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            plot_l - 6.0,
            y + 4.0,
            decade_label(exp)
        );
    }
    // The x values measured are the ticks: N or K as the bench ran them.
    let mut ticks: Vec<f64> = points().map(|p| p.0).filter(|x| *x > 0.0).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let px = log_scale(x, xs, plot_l, plot_r);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{plot_t:.1}" x2="{px:.1}" y2="{plot_b:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{x}</text>"##,
            plot_b + 16.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
        (plot_l + plot_r) / 2.0,
        plot_b + 34.0,
        escape(&panel.x_label)
    );
    let (label_x, label_y) = (x0 + 16.0, (plot_t + plot_b) / 2.0);
    let _ = writeln!(
        out,
        r#"<text x="{label_x:.1}" y="{label_y:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {label_x:.1} {label_y:.1})">{}</text>"#,
        escape(&panel.y_label)
    );
    for (i, series) in panel.series.iter().enumerate() {
        let coords: Vec<String> = series
            .points
            .iter()
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .map(|&(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    log_scale(x, xs, plot_l, plot_r),
                    log_scale(y, ys, plot_b, plot_t)
                )
            })
            .collect();
        let color = series.color;
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            coords.join(" ")
        );
        for c in &coords {
            let (cx, cy) = c.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(out, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
        }
        let legend_y = plot_b + 52.0 + 14.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{plot_l:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{legend_y:.1}" font-size="11">{}</text>"#,
            legend_y - 4.0,
            plot_l + 20.0,
            legend_y - 4.0,
            plot_l + 26.0,
            escape(&series.name)
        );
    }
}

/// The panels side by side, with a caption line under them.
pub fn render(panels: &[Panel], caption: &str) -> String {
    let width = PANEL_W * panels.len().max(1) as f64;
    let height = PANEL_H + 24.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    for (i, panel) in panels.iter().enumerate() {
        render_panel(&mut out, panel, PANEL_W * i as f64);
    }
    let _ = writeln!(
        out,
        r##"<text x="8" y="{:.1}" font-size="10" fill="#555">{}</text>"##,
        height - 8.0,
        escape(caption)
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(points: Vec<(f64, f64)>) -> Panel {
        Panel {
            title: "plan <time>".into(),
            x_label: "N".into(),
            y_label: "seconds".into(),
            series: vec![Series {
                name: "ours & theirs".into(),
                color: "#1f77b4",
                points,
            }],
        }
    }

    #[test]
    fn decades_enclose_the_values() {
        assert_eq!(decades([0.05, 8.0].into_iter()), Some((-2, 1)));
        assert_eq!(decades([1.0].into_iter()), Some((0, 1)));
        assert_eq!(decades([0.0, -1.0].into_iter()), None);
    }

    #[test]
    fn decade_labels_read_as_numbers() {
        assert_eq!(decade_label(-2), "0.01");
        assert_eq!(decade_label(0), "1");
        assert_eq!(decade_label(3), "1000");
    }

    #[test]
    fn log_scale_maps_decades_evenly() {
        assert_eq!(log_scale(1.0, (0, 2), 0.0, 100.0), 0.0);
        assert!((log_scale(10.0, (0, 2), 0.0, 100.0) - 50.0).abs() < 1e-9);
        assert!((log_scale(100.0, (0, 2), 100.0, 0.0)).abs() < 1e-9);
    }

    #[test]
    fn a_chart_has_a_line_and_a_point_per_value_and_escapes_text() {
        let svg = render(&[panel(vec![(1.0, 0.1), (100.0, 0.3), (500.0, 0.9)])], "run <1>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("plan &lt;time&gt;") && svg.contains("ours &amp; theirs"));
        assert!(svg.contains("run &lt;1&gt;"));
    }

    #[test]
    fn a_panel_without_values_says_so() {
        let svg = render(&[panel(vec![])], "");
        assert!(svg.contains("no data"));
        assert!(!svg.contains("<polyline"));
    }
}
