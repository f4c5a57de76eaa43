//! The two header lines: run, phase and progress; then the keys.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::dim;
use crate::engine::snapshot::Phase;
use crate::view::state::{App, Panel};

pub fn render(f: &mut Frame, area: Rect, app: &App, single: bool) {
    let s = &app.snapshot;
    let phase_style = match s.phase {
        Phase::WarmUp | Phase::Starting => Style::default().fg(Color::Yellow),
        Phase::Measuring => Style::default().fg(Color::Green),
        Phase::Draining | Phase::Done => Style::default().fg(Color::Cyan),
    };
    let mut first = vec![
        Span::styled(
            format!("kafkalab run {}", s.scenario),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("  seed {}  ", s.seed)),
        Span::styled(s.phase.as_str(), phase_style.add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "  {:.0} s / {:.0} s",
            s.elapsed_s.min(s.duration_s.max(s.elapsed_s)),
            s.duration_s
        )),
    ];
    if app.paused {
        first.push(Span::styled(
            "  PAUSED (the run goes on)",
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if app.stopping || s.stopped_early {
        first.push(Span::styled(
            "  stopping: draining and writing the report…",
            Style::default().fg(Color::Yellow),
        ));
    }
    if let Some(dir) = &s.report_dir {
        first.push(Span::raw(format!("  report: {dir}")));
    }
    // On a small screen, one panel at a time: say first how to get to the others.
    let keys = if single {
        let i = Panel::ALL.iter().position(|p| *p == app.focus).unwrap_or(0);
        format!(
            "tab: next panel ({}/{}) · q quit · p pause · z zoom · ? help",
            i + 1,
            Panel::ALL.len()
        )
    } else {
        String::from("q quit · p pause · tab/arrows focus · z zoom · ? help")
    };
    let second = Line::from(vec![
        Span::styled(keys, dim()),
        Span::styled(format!("  ·  {}", s.bootstrap), dim()),
    ]);
    f.render_widget(Paragraph::new(vec![Line::from(first), second]), area);
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{render as screen, snapshot};
    use super::*;
    use std::sync::Arc;

    #[test]
    fn header_shows_run_phase_and_state() {
        let mut app = App::new(Arc::new(snapshot()));
        let out = screen(120, 2, |f| render(f, f.area(), &app, false));
        assert!(
            out.contains("kafkalab run session-timeout  seed 7  measuring  30 s / 45 s"),
            "{out}"
        );
        assert!(!out.contains("PAUSED"));
        app.paused = true;
        app.stopping = true;
        let out = screen(160, 2, |f| render(f, f.area(), &app, false));
        assert!(out.contains("PAUSED"), "{out}");
        assert!(out.contains("stopping: draining"), "{out}");
    }
}
