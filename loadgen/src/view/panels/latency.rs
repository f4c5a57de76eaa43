//! Produce and end-to-end latency percentiles per second: the last second in numbers,
//! the p99 of both over time as a chart.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::{dim, ms};
use crate::engine::snapshot::RunSnapshot;
use crate::measure::IntervalLatency;

fn line(name: &'static str, color: Color, l: Option<IntervalLatency>) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!("{name:<8}"),
        Style::default().fg(color),
    )];
    match l {
        Some(l) => spans.push(Span::raw(format!(
            "p50 {}  p99 {}  p99.9 {}  max {}",
            ms(l.p50_ms),
            ms(l.p99_ms),
            ms(l.p999_ms),
            ms(l.max_ms)
        ))),
        None => spans.push(Span::styled("no samples", dim())),
    }
    Line::from(spans)
}

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot) {
    // The last second with samples, so a quiet second does not blank the numbers.
    let produce = s.seconds.iter().rev().find_map(|p| p.produce);
    let e2e = s.seconds.iter().rev().find_map(|p| p.e2e);
    let [text, chart] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    f.render_widget(
        Paragraph::new(vec![
            line("produce", Color::Cyan, produce),
            line("e2e", Color::Magenta, e2e),
        ]),
        text,
    );
    if chart.height < 3 || s.seconds.is_empty() {
        return;
    }
    let window = chart.width.saturating_sub(8).max(10) as usize;
    let from = s.seconds.len().saturating_sub(window);
    let pts = |pick: fn(&crate::engine::snapshot::SecondPoint) -> Option<IntervalLatency>| -> Vec<(f64, f64)> {
        s.seconds[from..]
            .iter()
            .filter_map(|p| pick(p).map(|l| (p.t as f64, l.p99_ms)))
            .collect()
    };
    let produce_pts = pts(|p| p.produce);
    let e2e_pts = pts(|p| p.e2e);
    let y_max = produce_pts
        .iter()
        .chain(&e2e_pts)
        .map(|p| p.1)
        .fold(1.0f64, f64::max);
    let t0 = s.seconds[from].t as f64;
    let t1 = s
        .seconds
        .last()
        .map_or(t0 + 1.0, |p| p.t as f64)
        .max(t0 + 1.0);
    let datasets = vec![
        Dataset::default()
            .name("produce p99")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(Color::Cyan))
            .data(&produce_pts),
        Dataset::default()
            .name("e2e p99")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(Color::Magenta))
            .data(&e2e_pts),
    ];
    f.render_widget(
        Chart::new(datasets)
            .x_axis(
                Axis::default()
                    .bounds([t0, t1])
                    .labels(vec![format!("{t0:.0}s"), format!("{t1:.0}s")])
                    .style(dim()),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, y_max])
                    .labels(vec!["0".to_string(), ms(y_max)])
                    .style(dim()),
            )
            .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2))),
        chart,
    );
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;

    #[test]
    fn percentiles_and_the_p99_chart() {
        let s = snapshot();
        let out = screen(70, 12, |f| render(f, f.area(), &s));
        assert!(
            out.contains("produce p50 1.20 ms  p99 3.40 ms  p99.9 5.10 ms  max 6.80 ms"),
            "{out}"
        );
        assert!(out.contains("e2e     p50 2.00 ms  p99 9.00 s"), "{out}");
        // The y axis reaches the 9 s end-to-end spike, the x axis ends at the last second.
        assert!(out.contains("9.00 s"), "{out}");
        assert!(out.contains("29s"), "{out}");
        assert!(
            out.chars().any(|c| ('\u{2800}'..='\u{28FF}').contains(&c)),
            "braille plot:\n{out}"
        );
    }

    #[test]
    fn no_samples_yet() {
        let s = RunSnapshot::default();
        let out = screen(60, 8, |f| render(f, f.area(), &s));
        assert!(out.contains("produce no samples"), "{out}");
    }
}
