//! Brokers, leaders and ISR exactly as Metadata reports them (also against a real
//! cluster): nothing here is inferred. Partitions whose ISR is short of their replicas,
//! or that have no leader, are listed in red.

use std::collections::BTreeMap;

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::dim;
use crate::engine::snapshot::RunSnapshot;

fn ids(v: &[i32]) -> String {
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn render(f: &mut Frame, area: Rect, s: &RunSnapshot, scroll: usize) {
    let c = &s.cluster;
    let mut lines = Vec::new();
    if let Some(e) = &c.error {
        lines.push(Line::styled(
            format!("metadata: {e}"),
            Style::default().fg(Color::Red),
        ));
    }
    if c.brokers.is_empty() {
        lines.push(Line::styled("no metadata yet", dim()));
    }
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for p in &c.partitions {
        *leaders.entry(p.leader).or_default() += 1;
    }
    for b in &c.brokers {
        let controller = c.controller == Some(b.id);
        lines.push(Line::from(vec![
            Span::styled(
                format!("node {}", b.id),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " {}  leads {}",
                b.addr,
                leaders.get(&b.id).copied().unwrap_or(0)
            )),
            Span::styled(if controller { "  controller" } else { "" }, dim()),
        ]));
    }
    let unhealthy: Vec<_> = c
        .partitions
        .iter()
        .filter(|p| p.leader < 0 || p.isr.len() < p.replicas.len() || p.error_code != 0)
        .collect();
    if !c.partitions.is_empty() {
        lines.push(Line::styled(
            format!(
                "{} partitions, {} under-replicated or leaderless",
                c.partitions.len(),
                unhealthy.len()
            ),
            if unhealthy.is_empty() {
                Style::default().fg(Color::Green)
            } else {
                Style::default().fg(Color::Red)
            },
        ));
    }
    lines.push(Line::styled("PARTITION   LEADER REPLICAS ISR", dim()));
    for p in &c.partitions {
        let bad = p.leader < 0 || p.isr.len() < p.replicas.len() || p.error_code != 0;
        lines.push(Line::styled(
            format!(
                "{:<11} {:<6} {:<8} {}",
                format!("{}-{}", p.topic, p.partition),
                if p.leader < 0 {
                    "none".to_string()
                } else {
                    p.leader.to_string()
                },
                ids(&p.replicas),
                ids(&p.isr)
            ),
            if bad {
                Style::default().fg(Color::Red)
            } else {
                Style::default()
            },
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
    fn brokers_leaders_and_isr_from_metadata() {
        let s = snapshot();
        let out = screen(50, 7, |f| render(f, f.area(), &s, 0));
        assert!(
            out.contains("node 0 127.0.0.1:40001  leads 6  controller"),
            "{out}"
        );
        assert!(
            out.contains("6 partitions, 0 under-replicated or leaderless"),
            "{out}"
        );
        assert!(out.contains("orders-0    0      0        0"), "{out}");
    }

    #[test]
    fn a_short_isr_and_a_lost_leader_are_called_out() {
        let mut s = snapshot();
        s.cluster.brokers.push(crate::engine::snapshot::BrokerView {
            id: 1,
            addr: "b1:9092".into(),
        });
        s.cluster.partitions[0].replicas = vec![0, 1];
        s.cluster.partitions[1].leader = -1;
        let out = screen(50, 12, |f| render(f, f.area(), &s, 0));
        assert!(out.contains("node 1 b1:9092  leads 0"), "{out}");
        assert!(
            out.contains("6 partitions, 2 under-replicated or leaderless"),
            "{out}"
        );
        assert!(out.contains("orders-0    0      0,1      0"), "{out}");
        assert!(out.contains("orders-1    none"), "{out}");
    }
}
