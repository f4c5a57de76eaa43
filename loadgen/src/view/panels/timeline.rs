//! The scenario timeline: progress through warm-up and the measured part, past and
//! upcoming events, and the `[expect]` checks as they turn green or red.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};
use ratatui::Frame;

use super::dim;
use crate::engine::snapshot::{ExpectStatus, RunSnapshot};

fn value(v: Option<f64>) -> String {
    match v {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "-".into(),
    }
}

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot, scroll: usize) {
    let [gauge, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let ratio = if s.duration_s > 0.0 {
        (s.elapsed_s / s.duration_s).clamp(0.0, 1.0)
    } else {
        0.0
    };
    f.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(format!(
                "{} {:.0}/{:.0} s (warm-up {:.0} s)",
                s.phase.as_str(),
                s.elapsed_s.min(s.duration_s.max(s.elapsed_s)),
                s.duration_s,
                s.warmup_s
            ))
            .gauge_style(Style::default().fg(Color::Blue).bg(Color::Black)),
        gauge,
    );
    let mut lines = Vec::new();
    if s.events.is_empty() {
        lines.push(Line::styled("no timeline events", dim()));
    }
    for e in &s.events {
        let (mark, style, when) = if e.done {
            ("✓", dim(), String::new())
        } else if s.phase == crate::engine::snapshot::Phase::Done || s.stopped_early {
            ("-", dim(), "  (not reached)".into())
        } else {
            (
                "›",
                Style::default().fg(Color::White),
                format!("  in {:.0} s", (e.at_s - s.elapsed_s).max(0.0)),
            )
        };
        let mut spans = vec![
            Span::styled(format!("{mark} {:>5.1}s {}", e.at_s, e.label), style),
            Span::styled(when, Style::default().fg(Color::Yellow)),
        ];
        if let Some(n) = &e.note {
            spans.push(Span::styled(format!("  ({n})"), dim()));
        }
        lines.push(Line::from(spans));
    }
    if !s.expectations.is_empty() {
        lines.push(Line::styled(
            "expect",
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    for x in &s.expectations {
        let (mark, style, note) = match x.status {
            ExpectStatus::Holds => ("✓", Style::default().fg(Color::Green), "".to_string()),
            ExpectStatus::NotMet => ("✗", Style::default().fg(Color::Red), "".to_string()),
            ExpectStatus::Passed => (
                "PASS",
                Style::default()
                    .fg(Color::Green)
                    .add_modifier(Modifier::BOLD),
                "".to_string(),
            ),
            ExpectStatus::Failed => (
                "FAIL",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                "".to_string(),
            ),
            ExpectStatus::AtEnd => ("…", dim(), "  checked after the drain".to_string()),
            ExpectStatus::NoData => ("…", dim(), "  not measured yet".to_string()),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} {} {}", x.metric, x.check), style),
            Span::raw(if x.value.is_some() {
                format!("  now {}", value(x.value))
            } else {
                String::new()
            }),
            Span::styled(note, dim()),
        ]));
    }
    let skip = scroll.min(lines.len().saturating_sub(1));
    f.render_widget(Paragraph::new(lines.split_off(skip)), rest);
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;
    use crate::engine::snapshot::Phase;

    #[test]
    fn events_and_live_expectations() {
        let s = snapshot();
        let out = screen(70, 9, |f| render(f, f.area(), &s, 0));
        assert!(out.contains("measuring 30/45 s (warm-up 5 s)"), "{out}");
        assert!(out.contains("✓  20.0s crash-consumer billing/1"), "{out}");
        assert!(
            out.contains("›  40.0s add-consumer billing  in 10 s"),
            "{out}"
        );
        assert!(out.contains("✗ rebalances >= 1  now 0"), "{out}");
        assert!(out.contains("✓ detection_s 7..13  now 8.100"), "{out}");
        assert!(out.contains("… lost = 0  checked after the drain"), "{out}");
    }

    #[test]
    fn final_verdicts_and_skipped_events() {
        let mut s = snapshot();
        s.phase = Phase::Done;
        s.stopped_early = true;
        s.expectations[0].status = ExpectStatus::Passed;
        s.expectations[0].value = Some(1.0);
        s.expectations[2].status = ExpectStatus::Failed;
        s.expectations[2].value = Some(3.0);
        let out = screen(70, 9, |f| render(f, f.area(), &s, 0));
        assert!(
            out.contains("-  40.0s add-consumer billing  (not reached)"),
            "{out}"
        );
        assert!(out.contains("PASS rebalances >= 1  now 1"), "{out}");
        assert!(out.contains("FAIL lost = 0  now 3"), "{out}");
    }
}
