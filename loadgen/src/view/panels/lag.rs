//! Lag per group and partition: log end offset minus committed offset, as the cluster
//! reports them (ListOffsets, OffsetFetch), with a bar scaled to the largest.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{count, dim};
use crate::engine::snapshot::RunSnapshot;

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot, scroll: usize) {
    if s.lag.is_empty() {
        let text = match &s.cluster.error {
            Some(e) => format!("no offsets yet: {e}"),
            None => "no offsets yet (polled once a second)".into(),
        };
        f.render_widget(Paragraph::new(Line::styled(text, dim())), area);
        return;
    }
    let max = s
        .lag
        .iter()
        .filter_map(|r| r.lag())
        .max()
        .unwrap_or(0)
        .max(1);
    let bar_w = area.width.saturating_sub(52).max(4) as usize;
    let skip = scroll.min(s.lag.len().saturating_sub(1));
    let rows = s.lag.iter().skip(skip).map(|r| {
        let (lag, bar) = match r.lag() {
            Some(l) => {
                let cells = ((l as f64 / max as f64) * bar_w as f64).ceil() as usize;
                (count(l as u64), "■".repeat(cells.min(bar_w)))
            }
            None => ("-".to_string(), String::new()),
        };
        let hot = r.lag().is_some_and(|l| l * 2 > max && l > 100);
        let style = if hot {
            Style::default().fg(Color::Red)
        } else {
            Style::default()
        };
        Row::new(vec![
            Cell::from(r.group.clone()),
            Cell::from(format!("{}-{}", r.topic, r.partition)),
            Cell::from(count(r.log_end.max(0) as u64)),
            Cell::from(r.committed.map_or("-".into(), |c| count(c.max(0) as u64))),
            Cell::from(lag),
            Cell::from(bar),
        ])
        .style(style)
    });
    let header = Row::new(vec![
        "GROUP",
        "PARTITION",
        "LOG-END",
        "COMMITTED",
        "LAG",
        "",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(7),
                Constraint::Min(4),
            ],
        )
        .header(header),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;

    #[test]
    fn lag_rows_with_bars() {
        let s = snapshot();
        let out = screen(80, 8, |f| render(f, f.area(), &s, 0));
        assert!(
            out.contains("GROUP      PARTITION    LOG-END   COMMITTED LAG"),
            "{out}"
        );
        let row = |p: &str| {
            out.lines()
                .find(|l| l.contains(p))
                .expect("row")
                .to_string()
        };
        assert!(
            row("orders-2").contains("5,000     2,000     3,000   ■■■■"),
            "{out}"
        );
        assert!(
            row("orders-0").contains("5,000     4,990     10      ■"),
            "{out}"
        );
        assert!(row("orders-0").matches('■').count() < row("orders-2").matches('■').count());
    }

    #[test]
    fn before_the_first_poll() {
        let mut s = snapshot();
        s.lag.clear();
        s.cluster.error = Some("connection refused".into());
        let out = screen(60, 3, |f| render(f, f.area(), &s, 0));
        assert!(out.contains("no offsets yet: connection refused"), "{out}");
    }
}
