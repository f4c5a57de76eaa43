//! One chart as data ([`Chart`]: lines, shaded spans, event markers, bars, labelled
//! points) and its drawing with plotters, as SVG text and as a PNG file. The report's
//! charts are all built as a `Chart` first, so what they show is testable without
//! pixels, and every chart looks alike.

use std::path::Path;

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{self, FAMILY};
use super::label_layout;
use super::ReportError;

/// Chart size in pixels (SVG user units and PNG pixels).
pub const SIZE: (u32, u32) = (960, 480);

/// Tableau-10: distinct, readable on white, and colour-blind friendly enough.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A series colour dark enough for small text on white.
fn darker(c: RGBColor) -> RGBColor {
    let f = |v: u8| (f64::from(v) * 0.7) as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// A line: one legend entry, drawn as one polyline per segment (a gap in the data —
/// a second without samples — splits it rather than drawing a zero).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line {
    pub name: String,
    pub segments: Vec<Vec<(f64, f64)>>,
    /// Drawn thinner and dashed-looking (lighter): the second run of a comparison.
    pub faint: bool,
}

impl Line {
    /// A line from optional y values: `None` breaks it.
    pub fn from_gappy(
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, Option<f64>)>,
    ) -> Self {
        let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current = Vec::new();
        for (x, y) in points {
            match y {
                Some(y) if y.is_finite() => current.push((x, y)),
                _ => {
                    if !current.is_empty() {
                        segments.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            segments.push(current);
        }
        Line {
            name: name.into(),
            segments,
            faint: false,
        }
    }

    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.segments.iter().flatten()
    }
}

/// A shaded stretch of the x axis (a rebalance pause).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

/// A vertical marker with a label (a timeline event).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: f64,
    pub label: String,
}

/// A horizontal bar in row `row`, coloured by `series` (an ownership interval).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub row: usize,
    pub from: f64,
    pub to: f64,
    pub series: usize,
}

/// A labelled point with optional error bars (one sweep setting).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// (low, high) of x across repeats.
    pub x_err: Option<(f64, f64)>,
    /// (low, high) of y across repeats.
    pub y_err: Option<(f64, f64)>,
    pub label: String,
    pub series: usize,
}

/// How the x axis is scaled and labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XAxis {
    #[default]
    Linear,
    /// x holds log10(1/(1-p)) and is labelled as the percentile p (HDR plots).
    PercentileLog,
}

/// Everything one chart shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    /// File stem (`throughput`): `throughput.svg`, `throughput.png`.
    pub id: String,
    pub title: String,
    /// One line saying what to read off the chart, computed from the data.
    pub guide: String,
    pub x_label: String,
    pub y_label: String,
    pub x_axis: XAxis,
    /// Logarithmic y axis (latencies spanning milliseconds to seconds).
    pub y_log: bool,
    /// Logarithmic x axis (throughputs of a fixed rate next to "max"); linear x only.
    pub x_log: bool,
    pub lines: Vec<Line>,
    pub spans: Vec<Span>,
    pub markers: Vec<Marker>,
    /// Row names for bars, top to bottom.
    pub rows: Vec<String>,
    pub bars: Vec<Bar>,
    /// Legend names of the bar / point series.
    pub series_names: Vec<String>,
    pub points: Vec<Point>,
    /// Fixed x range; otherwise from the data.
    pub x_range: Option<(f64, f64)>,
}

impl Chart {
    fn data_ranges(&self) -> ((f64, f64), (f64, f64)) {
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        for l in &self.lines {
            for (x, y) in l.points() {
                xs.push(*x);
                ys.push(*y);
            }
        }
        for b in &self.bars {
            xs.extend([b.from, b.to]);
        }
        for s in &self.spans {
            xs.extend([s.from, s.to]);
        }
        for m in &self.markers {
            xs.push(m.at);
        }
        for p in &self.points {
            xs.push(p.x);
            ys.push(p.y);
            if let Some((lo, hi)) = p.x_err {
                xs.extend([lo, hi]);
            }
            if let Some((lo, hi)) = p.y_err {
                ys.extend([lo, hi]);
            }
        }
        let bounds = |v: &[f64]| {
            let lo = v
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .fold(f64::INFINITY, f64::min);
            let hi = v
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() && hi.is_finite() {
                (lo, hi)
            } else {
                (0.0, 1.0)
            }
        };
        let (x0, x1) = self.x_range.unwrap_or_else(|| bounds(&xs));
        let (x0, x1) = match self.x_axis {
            // Whole decades, so the ticks fall on 90 %, 99 %, 99.9 %, ...
            XAxis::PercentileLog => (0.0, x1.ceil().max(1.0)),
            XAxis::Linear if self.x_log => {
                let positive: Vec<f64> = xs.iter().copied().filter(|v| *v > 0.0).collect();
                let (lo, hi) = bounds(&positive);
                (lo * 0.7, (hi * 1.4).max(lo * 10.0))
            }
            XAxis::Linear if self.points.is_empty() => {
                (x0.min(0.0), if x1 > x0 { x1 } else { x0 + 1.0 })
            }
            XAxis::Linear => {
                let pad = ((x1 - x0) * 0.1).max(x1.abs() * 0.05).max(1e-9);
                ((x0 - pad).max(0.0), x1 + pad)
            }
        };
        let y = if self.y_log {
            let positive: Vec<f64> = ys.iter().copied().filter(|v| *v > 0.0).collect();
            let (lo, hi) = bounds(&positive);
            (lo * 0.8, (hi * 1.5).max(lo * 10.0))
        } else if self.rows.is_empty() {
            let (lo, hi) = bounds(&ys);
            let hi = if hi > 0.0 { hi * 1.12 } else { 1.0 };
            (lo.min(0.0), hi)
        } else {
            (0.0, self.rows.len() as f64)
        };
        ((x0, x1), y)
    }

    /// The chart as an SVG document (text stays text, in the `sans-serif` family).
    pub fn to_svg(&self) -> Result<String, ReportError> {
        font::register();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
            draw(&root, self).map_err(|e| self.err(e))?;
            root.present().map_err(|e| self.err(e.to_string()))?;
        }
        Ok(out)
    }

    /// Draws the chart into a PNG file (text rendered with the bundled font).
    pub fn write_png(&self, path: &Path) -> Result<(), ReportError> {
        font::register();
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        draw(&root, self).map_err(|e| self.err(e))?;
        root.present().map_err(|e| self.err(e.to_string()))?;
        Ok(())
    }

    fn err(&self, message: String) -> ReportError {
        ReportError::Chart {
            chart: self.id.clone(),
            message,
        }
    }
}

/// A log y axis when the positive values span more than 50× (a stall in seconds next
/// to a steady state in milliseconds), so both stay readable.
pub fn wide(lines: &[Line]) -> bool {
    let ys = lines
        .iter()
        .flat_map(|l| l.segments.iter().flatten())
        .map(|p| p.1);
    let (lo, hi) = ys
        .filter(|y| *y > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
    hi / lo > 50.0
}

/// Characters of a guide line that fit the chart's width at 14 px.
const GUIDE_CHARS: usize = 125;

/// Splits a long guide at "; " (else at a space) into lines of at most `width`
/// characters where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > width {
        let cut = rest
            .char_indices()
            .take_while(|(i, _)| *i <= width)
            .map(|(i, _)| i)
            .last()
            .unwrap_or(rest.len());
        let head = &rest[..cut];
        let at = head.rfind("; ").map(|i| i + 1).or_else(|| head.rfind(' '));
        match at {
            Some(i) if i > 0 => {
                lines.push(rest[..i].trim().to_string());
                rest = rest[i..].trim_start();
            }
            _ => break,
        }
    }
    lines.push(rest.to_string());
    lines
}

/// The upper corner with less data under it, for the legend.
fn legend_corner(c: &Chart, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> SeriesLabelPosition {
    let scale = |v: f64, lo: f64, hi: f64, log: bool| {
        if log && v > 0.0 && lo > 0.0 {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let x_log = c.x_log && c.x_axis == XAxis::Linear;
    let (mut left, mut right) = (0, 0);
    let pts = c
        .lines
        .iter()
        .flat_map(|l| l.segments.iter().flatten().copied())
        .chain(c.points.iter().map(|p| (p.x, p.y)));
    for (x, y) in pts {
        if scale(y, y0, y1, c.y_log) < 0.7 {
            continue;
        }
        match scale(x, x0, x1, x_log) {
            fx if fx < 0.4 => left += 1,
            fx if fx > 0.6 => right += 1,
            _ => {}
        }
    }
    if right > left {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// Formats an axis value compactly: 1.5k, 20M, 0.25.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The percentile at x = log10(1/(1-p)).
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let s = format!("{p:.4}");
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Chart) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let guide = wrap(&c.guide, GUIDE_CHARS);
    let (head, body) = root.split_vertically(40 + 18 * guide.len() as u32);
    head.draw_text(&c.title, &(FAMILY, 20).into_font().color(&BLACK), (12, 8))
        .map_err(e)?;
    for (i, line) in guide.iter().enumerate() {
        head.draw_text(
            line,
            &(FAMILY, 14).into_font().color(&RGBColor(70, 70, 70)),
            (12, 34 + 18 * i as i32),
        )
        .map_err(e)?;
    }

    let (x, y) = c.data_ranges();
    let row_label_width = if c.rows.is_empty() { 0 } else { 110 };
    let mut builder = ChartBuilder::on(&body);
    builder
        .margin(10)
        .margin_left(10 + row_label_width)
        .x_label_area_size(42)
        .y_label_area_size(if c.rows.is_empty() { 64 } else { 0 });
    let (xr, yr) = (x.0..x.1, y.0..y.1);
    match (c.x_log && c.x_axis == XAxis::Linear, c.y_log) {
        (false, false) => {
            let chart = builder.build_cartesian_2d(xr, yr).map_err(e)?;
            plot(root, chart, c, x, y)
        }
        (false, true) => {
            let chart = builder.build_cartesian_2d(xr, yr.log_scale()).map_err(e)?;
            plot(root, chart, c, x, y)
        }
        (true, false) => {
            let chart = builder.build_cartesian_2d(xr.log_scale(), yr).map_err(e)?;
            plot(root, chart, c, x, y)
        }
        (true, true) => {
            let chart = builder
                .build_cartesian_2d(xr.log_scale(), yr.log_scale())
                .map_err(e)?;
            plot(root, chart, c, x, y)
        }
    }
}

/// Everything inside the axes; `X` and `Y` are linear or logarithmic f64 axes.
fn plot<'a, DB, X, Y>(
    root: &DrawingArea<DB, Shift>,
    mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
    c: &Chart,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let x_fmt = |v: &f64| match c.x_axis {
        XAxis::Linear => compact(*v),
        XAxis::PercentileLog => percentile_label(*v),
    };
    let y_fmt = |v: &f64| compact(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(c.x_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .light_line_style(RGBColor(240, 240, 240));
    if c.x_axis == XAxis::PercentileLog {
        mesh.x_labels(x1 as usize + 1);
    }
    if c.rows.is_empty() {
        mesh.y_desc(c.y_label.as_str());
    } else {
        mesh.disable_y_mesh().y_labels(0);
    }
    mesh.draw().map_err(e)?;

    // Shaded spans under everything.
    for s in &c.spans {
        let shade = RGBColor(214, 39, 40).mix(0.13);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(s.from, y0), (s.to, y1)],
                shade.filled(),
            )))
            .map_err(e)?;
        let pos = chart.backend_coord(&(s.from, y1));
        root.draw_text(
            &s.label,
            &(FAMILY, 11).into_font().color(&RGBColor(160, 30, 30)),
            (pos.0 + 3, pos.1 + 3),
        )
        .map_err(e)?;
    }
    // Event markers: a grey line and the label, staggered so neighbours stay legible.
    for (i, m) in c.markers.iter().enumerate() {
        let grey = RGBColor(110, 110, 110);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(m.at, y0), (m.at, y1)],
                grey.stroke_width(1),
            )))
            .map_err(e)?;
        let pos = chart.backend_coord(&(m.at, y1));
        root.draw_text(
            &m.label,
            &(FAMILY, 11).into_font().color(&grey),
            (pos.0 + 3, pos.1 + 16 + 13 * (i as i32 % 3)),
        )
        .map_err(e)?;
    }
    // Bars, one legend entry per series.
    for (si, name) in c.series_names.iter().enumerate() {
        let col = color(si);
        let bars: Vec<_> = c.bars.iter().filter(|b| b.series == si).collect();
        if bars.is_empty() {
            continue;
        }
        chart
            .draw_series(bars.iter().map(|b| {
                let top = y1 - b.row as f64;
                Rectangle::new([(b.from, top - 0.15), (b.to, top - 0.85)], col.filled())
            }))
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], col.filled()));
    }
    for (i, row) in c.rows.iter().enumerate() {
        let pos = chart.backend_coord(&(x0, y1 - i as f64 - 0.5));
        let style = (FAMILY, 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        root.draw_text(row, &style, (pos.0 - 6, pos.1)).map_err(e)?;
    }
    // Lines.
    for (i, l) in c.lines.iter().enumerate() {
        let col = color(i);
        let style = if l.faint {
            col.mix(0.55).stroke_width(1)
        } else {
            col.stroke_width(2)
        };
        for (k, seg) in l.segments.iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(seg.iter().copied(), style))
                .map_err(e)?;
            if k == 0 {
                series
                    .label(l.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
        }
    }
    // Labelled points with error bars.
    for p in &c.points {
        let col = color(p.series);
        if let Some((lo, hi)) = p.x_err {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(lo, p.y), (hi, p.y)],
                    col.stroke_width(1),
                )))
                .map_err(e)?;
        }
        if let Some((lo, hi)) = p.y_err {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(p.x, lo), (p.x, hi)],
                    col.stroke_width(1),
                )))
                .map_err(e)?;
        }
        chart
            .draw_series(std::iter::once(Circle::new((p.x, p.y), 4, col.filled())))
            .map_err(e)?;
    }
    // Point labels after every point, each where it covers no other label; in its
    // series' colour, so equal texts (linger.ms=5 of two batch sizes) stay apart.
    let font: TextStyle = (FAMILY, 11).into_font().into();
    let anchors: Vec<(i32, i32)> = c
        .points
        .iter()
        .map(|p| chart.backend_coord(&(p.x, p.y)))
        .collect();
    let sizes: Vec<(i32, i32)> = c
        .points
        .iter()
        .map(|p| {
            root.estimate_text_size(&p.label, &font)
                .map(|(w, h)| (w as i32, h as i32))
                .map_err(e)
        })
        .collect::<Result<_, _>>()?;
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let area = label_layout::Rect {
        x: xs.start,
        y: ys.start,
        w: xs.end - xs.start,
        h: ys.end - ys.start,
    };
    for (p, at) in c
        .points
        .iter()
        .zip(label_layout::place(&anchors, &sizes, area))
    {
        let ink = darker(color(p.series));
        let text = font.color(&ink);
        root.draw_text(&p.label, &text, at).map_err(e)?;
    }
    for (si, name) in c.series_names.iter().enumerate() {
        if c.points.iter().any(|p| p.series == si) {
            let col = color(si);
            // An empty series only for the legend entry.
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, col.filled()));
        }
    }
    let has_legend = !c.lines.is_empty() || !c.series_names.is_empty();
    if has_legend {
        chart
            .configure_series_labels()
            .position(legend_corner(c, (x0, x1), (y0, y1)))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FAMILY, 12))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// The texts of an SVG's `<text>` elements, trimmed (for tests).
#[cfg(test)]
pub(crate) fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_lines_and_labels_are_compact() {
        let l = Line::from_gappy(
            "p99",
            [
                (0.0, Some(1.0)),
                (1.0, None),
                (2.0, Some(3.0)),
                (3.0, Some(4.0)),
            ],
        );
        assert_eq!(
            l.segments,
            vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]
        );
        assert_eq!(compact(15_000.0), "15k");
        assert_eq!(compact(2_500_000.0), "2.5M");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(wrap("short", 10), ["short"]);
        assert_eq!(wrap("aaa bbb; ccc ddd", 10), ["aaa bbb;", "ccc ddd"]);
        assert_eq!(wrap("aaaa bbbb cccc", 10), ["aaaa bbbb", "cccc"]);
    }

    #[test]
    fn svg_keeps_text_and_draws_one_polyline_per_segment() {
        let c = Chart {
            id: "t".into(),
            title: "Throughput".into(),
            guide: "the shaded gap is the pause: 4.1 s".into(),
            x_label: "s".into(),
            y_label: "records/s".into(),
            lines: vec![
                Line::from_gappy("produced", (0..10).map(|i| (i as f64, Some(100.0)))),
                Line::from_gappy(
                    "consumed",
                    (0..10).map(|i| (i as f64, (i != 5).then_some(90.0))),
                ),
            ],
            spans: vec![Span {
                from: 3.0,
                to: 7.1,
                label: "pause 4.1 s".into(),
            }],
            markers: vec![Marker {
                at: 3.0,
                label: "crash-consumer g/1".into(),
            }],
            ..Chart::default()
        };
        let svg = c.to_svg().expect("svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        let texts = svg_texts(&svg);
        for text in [
            "Throughput",
            "the shaded gap is the pause: 4.1 s",
            "produced",
            "consumed",
            "crash-consumer g/1",
            "pause 4.1 s",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "{text} missing from {texts:?}"
            );
        }
        // Data lines are the 2-px polylines: 1 + 2 segments and one legend line each.
        let data: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .collect();
        assert_eq!(data.len(), 3 + 2, "{svg}");
        let orange = data
            .iter()
            .filter(|l| l.contains("stroke=\"#FF7F0E\""))
            .count();
        assert_eq!(orange, 2 + 1);
        // The marker: one grey 1-px line.
        assert_eq!(svg.matches("stroke=\"#6E6E6E\"").count(), 1);
    }

    #[test]
    fn png_is_a_png_of_the_chart_size() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("c.png");
        let c = Chart {
            id: "c".into(),
            title: "HDR".into(),
            x_axis: XAxis::PercentileLog,
            lines: vec![Line::from_gappy(
                "e2e",
                [(0.0, Some(1.0)), (3.0, Some(9.0))],
            )],
            ..Chart::default()
        };
        c.write_png(&path).expect("png");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let w = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        let h = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
        assert_eq!((w, h), SIZE);
    }
}
