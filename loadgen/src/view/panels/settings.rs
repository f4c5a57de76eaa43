//! The client settings behind what the other panels show: each producer entry's and
//! consumer group's key settings; those the scenario set are highlighted.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::dim;
use crate::engine::snapshot::RunSnapshot;

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot, scroll: usize) {
    let mut lines = Vec::new();
    for c in s.settings.iter() {
        lines.push(Line::from(vec![Span::styled(
            format!("{} {} ×{}", c.kind, c.name, c.count),
            Style::default().add_modifier(Modifier::BOLD),
        )]));
        let mut spans = vec![Span::raw(" ")];
        for (k, v, set) in &c.entries {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(
                format!("{k}={v}"),
                if *set {
                    Style::default().fg(Color::Yellow)
                } else {
                    dim()
                },
            ));
        }
        lines.push(Line::from(spans));
    }
    if lines.is_empty() {
        lines.push(Line::styled("no clients", dim()));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll.min(u16::MAX as usize) as u16, 0)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;

    #[test]
    fn settings_per_client() {
        let s = snapshot();
        let out = screen(60, 6, |f| render(f, f.area(), &s, 0));
        assert!(out.contains("producer p0 ×1"), "{out}");
        assert!(out.contains("acks=all linger.ms=5"), "{out}");
        assert!(out.contains("group billing ×3"), "{out}");
        assert!(
            out.contains("session.timeout.ms=10000 heartbeat.interval.ms=3000"),
            "{out}"
        );
    }
}
