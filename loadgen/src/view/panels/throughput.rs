//! Records acknowledged and consumed per second, with sparklines on one scale.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::{count, dim};
use crate::engine::snapshot::RunSnapshot;

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot) {
    let last = s.seconds.last().copied().unwrap_or_default();
    let mut lines = vec![Line::from(vec![
        Span::styled("produced ", Style::default().fg(Color::Cyan)),
        Span::raw(format!("{}/s", count(last.acked))),
        Span::styled("   consumed ", Style::default().fg(Color::Magenta)),
        Span::raw(format!("{}/s", count(last.consumed))),
        if last.failed > 0 {
            Span::styled(
                format!("   failed {}/s", count(last.failed)),
                Style::default().fg(Color::Red),
            )
        } else {
            Span::raw("")
        },
    ])];
    lines.push(Line::styled(
        format!(
            "total: acked {} · consumed {} · failed {}",
            count(s.totals.acked),
            count(s.totals.consumed),
            count(s.totals.failed)
        ),
        dim(),
    ));
    let [text, sparks] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(lines), text);
    if sparks.height == 0 {
        return;
    }
    // The newest seconds that fit, on one scale so the two lines compare.
    let n = sparks.width as usize;
    let from = s.seconds.len().saturating_sub(n);
    let window = &s.seconds[from..];
    let acked: Vec<u64> = window.iter().map(|p| p.acked).collect();
    let consumed: Vec<u64> = window.iter().map(|p| p.consumed).collect();
    let max = acked
        .iter()
        .chain(&consumed)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let rows = if sparks.height >= 2 {
        Layout::vertical([Constraint::Ratio(1, 2); 2]).split(sparks)
    } else {
        Layout::vertical([Constraint::Min(0)]).split(sparks)
    };
    f.render_widget(
        Sparkline::default()
            .data(&acked)
            .max(max)
            .style(Style::default().fg(Color::Cyan)),
        rows[0],
    );
    if let Some(r) = rows.get(1) {
        f.render_widget(
            Sparkline::default()
                .data(&consumed)
                .max(max)
                .style(Style::default().fg(Color::Magenta)),
            *r,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;

    #[test]
    fn rates_totals_and_sparklines() {
        let s = snapshot();
        let out = screen(60, 7, |f| render(f, f.area(), &s));
        assert!(out.contains("produced 1,000/s   consumed 1,000/s"), "{out}");
        assert!(
            out.contains("total: acked 30,000 · consumed 27,336 · failed 0"),
            "{out}"
        );
        let rows: Vec<&str> = out.lines().collect();
        // Acknowledged: a steady 1000/s, full bars over the 30 seconds.
        for r in &rows[2..5] {
            assert_eq!(r.trim_end(), "█".repeat(30), "{out}");
        }
        // Consumed on the same scale: the dip to 667/s in seconds 20-27 is lower.
        let top = format!("{}{}{}", "█".repeat(20), "▂".repeat(8), "██");
        assert_eq!(rows[5].trim_end(), top, "{out}");
        assert_eq!(rows[6].trim_end(), "█".repeat(30), "{out}");
    }

    #[test]
    fn an_empty_run_draws() {
        let s = RunSnapshot::default();
        let out = screen(40, 5, |f| render(f, f.area(), &s));
        assert!(out.contains("produced 0/s"), "{out}");
    }
}
