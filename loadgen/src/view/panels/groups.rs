//! Consumer groups: the coordinator's state, generation and assignor; each member with
//! its partitions (and what the timeline did to it); and a timeline bar per group on
//! which every rebalance is a red stretch: the stop-the-world made visible.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{count, dim};
use crate::engine::snapshot::{GroupView, PauseSpan, RunSnapshot};

/// One cell per `duration / width` seconds: `━` consuming, `█` (red) in a rebalance
/// pause, `▲` a crash or freeze, `╎` now; nothing yet past now.
pub fn pause_bar(width: usize, duration_s: f64, now_s: f64, g: &GroupView) -> Line<'static> {
    if width == 0 {
        return Line::default();
    }
    let span_s = duration_s.max(now_s).max(1.0);
    let cell_s = span_s / width as f64;
    let paused = |a: f64, b: f64| {
        g.pauses
            .iter()
            .any(|p: &PauseSpan| p.start_s < b && p.end_s.max(p.start_s + 1e-3) > a)
    };
    let mut spans = Vec::with_capacity(width);
    let now_cell = ((now_s / cell_s) as usize).min(width - 1);
    for i in 0..width {
        let (a, b) = (i as f64 * cell_s, (i + 1) as f64 * cell_s);
        let fault = g.faults.iter().any(|t| *t >= a && *t < b);
        let span = if fault {
            Span::styled("▲", Style::default().fg(Color::Yellow))
        } else if i == now_cell {
            Span::styled("╎", Style::default().fg(Color::White))
        } else if a > now_s {
            Span::styled("·", dim())
        } else if paused(a, b) {
            Span::styled("█", Style::default().fg(Color::Red))
        } else {
            Span::styled("━", Style::default().fg(Color::Green))
        };
        spans.push(span);
    }
    Line::from(spans)
}

fn partitions(m: &[(String, i32)]) -> String {
    if m.is_empty() {
        return "-".into();
    }
    let mut topics: Vec<&str> = m.iter().map(|(t, _)| t.as_str()).collect();
    topics.dedup();
    if topics.len() == 1 {
        let ps: Vec<String> = m.iter().map(|(_, p)| p.to_string()).collect();
        format!("{} [{}]", topics[0], ps.join(","))
    } else {
        m.iter()
            .map(|(t, p)| format!("{t}-{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot, scroll: usize) {
    let mut lines: Vec<Line> = Vec::new();
    if s.groups.is_empty() {
        lines.push(Line::styled("no consumer groups in this scenario", dim()));
    }
    for g in &s.groups {
        let state = g.state.clone().unwrap_or_else(|| "?".into());
        let state_style = match state.as_str() {
            "Stable" => Style::default().fg(Color::Green),
            "PreparingRebalance" | "CompletingRebalance" => Style::default().fg(Color::Yellow),
            "Dead" | "Empty" => Style::default().fg(Color::Red),
            _ => dim(),
        };
        let mut head = vec![
            Span::styled(
                g.name.clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw("  "),
            Span::styled(state, state_style),
            Span::raw(format!(
                "  gen {}  {}  members {}  consumed {}",
                g.generation.map_or("-".into(), |x| x.to_string()),
                g.protocol.clone().unwrap_or_default(),
                g.members.len(),
                count(g.consumed)
            )),
        ];
        if g.rebalancing {
            head.push(Span::styled(
                "  REBALANCING",
                Style::default().fg(Color::Black).bg(Color::Red),
            ));
        }
        lines.push(Line::from(head));
        for m in &g.members {
            let mut row = vec![
                Span::raw(format!("  {:<14} ", m.client_id)),
                Span::raw(partitions(&m.partitions)),
            ];
            if let Some(i) = &m.instance_id {
                row.push(Span::styled(format!("  static {i}"), dim()));
            }
            if let Some(n) = &m.note {
                row.push(Span::styled(
                    format!("  {n}, still in the group"),
                    Style::default().fg(Color::Red),
                ));
            }
            lines.push(Line::from(row));
        }
        let label = "  pauses ";
        let bar_w = (area.width as usize).saturating_sub(label.len());
        let mut bar = pause_bar(bar_w, s.duration_s, s.elapsed_s, g);
        bar.spans.insert(0, Span::styled(label, dim()));
        lines.push(bar);
        let longest = g
            .pauses
            .iter()
            .map(|p| p.group_pause_s)
            .fold(0.0f64, f64::max);
        lines.push(Line::styled(
            format!(
                "  {} rebalance pause{}, longest group pause {:.2} s",
                g.pauses.len(),
                if g.pauses.len() == 1 { "" } else { "s" },
                longest
            ),
            dim(),
        ));
    }
    let skip = scroll.min(lines.len().saturating_sub(1));
    f.render_widget(Paragraph::new(lines.split_off(skip)), area);
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;

    #[test]
    fn members_assignments_state_and_the_pause_bar() {
        let s = snapshot();
        let out = screen(90, 9, |f| render(f, f.area(), &s, 0));
        assert!(out.contains("billing  PreparingRebalance  gen 1  range  members 3  consumed 27,336  REBALANCING"), "{out}");
        assert!(out.contains("billing-0      orders [0,1]"), "{out}");
        assert!(
            out.contains("billing-1      orders [2,3]  crashed at 20.0s, still in the group"),
            "{out}"
        );
        assert!(
            out.contains("1 rebalance pause, longest group pause 2.20 s"),
            "{out}"
        );
        let bar = out
            .lines()
            .find(|l| l.contains("pauses"))
            .expect("bar line");
        assert!(
            bar.contains('▲') && bar.contains('█') && bar.contains('╎'),
            "{bar}"
        );
        // Order on the time axis: consuming, the crash, consuming, the pause, now, future.
        let (crash, pause, now) = (
            bar.find('▲').expect("crash"),
            bar.find('█').expect("pause"),
            bar.find('╎').expect("now"),
        );
        assert!(crash < pause && pause < now, "{bar}");
        assert!(bar[now..].contains('·'), "{bar}");
    }

    #[test]
    fn pause_bar_cells() {
        let mut g = GroupView::default();
        g.pauses.push(PauseSpan {
            start_s: 4.0,
            end_s: 6.0,
            group_pause_s: 2.0,
            completed: true,
        });
        let bar: String = pause_bar(10, 10.0, 8.5, &g)
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert_eq!(bar, "━━━━██━━╎·");
        assert_eq!(pause_bar(0, 10.0, 1.0, &g).spans.len(), 0);
    }

    #[test]
    fn scrolling_skips_lines() {
        let s = snapshot();
        let out = screen(90, 3, |f| render(f, f.area(), &s, 2));
        assert!(out.starts_with("  billing-1"), "{out}");
    }
}
