//! Drawing: the screen layout and one module per panel. Everything here is a pure
//! function of the [`App`] (view state plus the latest snapshot) and the frame size,
//! so each panel is tested against ratatui's `TestBackend`.

mod brokers;
mod groups;
mod header;
mod help;
mod lag;
mod latency;
mod settings;
mod throughput;
mod timeline;

#[cfg(test)]
pub(crate) mod fixture;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::state::{App, Panel};

/// Below this the screen shows the focused panel alone.
pub const FULL_WIDTH: u16 = 100;
pub const FULL_HEIGHT: u16 = 30;
/// Below this nothing but a note fits.
const MIN_WIDTH: u16 = 24;
const MIN_HEIGHT: u16 = 6;

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        f.render_widget(
            Paragraph::new(format!(
                "kafkalab: terminal too small ({}x{}); q quits",
                area.width, area.height
            ))
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let single = app.zoom || area.width < FULL_WIDTH || area.height < FULL_HEIGHT;
    header::render(f, head, app, single);
    if single {
        render_panel(f, body, app, app.focus);
    } else {
        let bottom = (body.height * 35 / 100).max(10);
        let [top, middle, lower] = Layout::vertical([
            Constraint::Length(9),
            Constraint::Min(8),
            Constraint::Length(bottom),
        ])
        .areas(body);
        let [a, b] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(top);
        render_panel(f, a, app, Panel::Throughput);
        render_panel(f, b, app, Panel::Latency);
        let [a, b] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(middle);
        render_panel(f, a, app, Panel::Groups);
        render_panel(f, b, app, Panel::Lag);
        let [a, b, c] = Layout::horizontal([
            Constraint::Percentage(40),
            Constraint::Percentage(25),
            Constraint::Percentage(35),
        ])
        .areas(lower);
        render_panel(f, a, app, Panel::Timeline);
        render_panel(f, b, app, Panel::Brokers);
        render_panel(f, c, app, Panel::Settings);
    }
    if app.help {
        help::render(f, area);
    }
}

fn render_panel(f: &mut Frame, area: Rect, app: &App, panel: Panel) {
    let focused = app.focus == panel;
    let scroll = if focused { app.scroll } else { 0 };
    let block = block(panel, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let s = &app.snapshot;
    match panel {
        Panel::Throughput => throughput::render(f, inner, s),
        Panel::Latency => latency::render(f, inner, s),
        Panel::Groups => groups::render(f, inner, s, scroll),
        Panel::Lag => lag::render(f, inner, s, scroll),
        Panel::Timeline => timeline::render(f, inner, s, scroll),
        Panel::Brokers => brokers::render(f, inner, s, scroll),
        Panel::Settings => settings::render(f, inner, s, scroll),
    }
}

fn block(panel: Panel, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::bordered()
        .title(format!(" {} ", panel.title()))
        .border_style(style)
}

/// 1234 → "1,234".
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds, with the precision that matters at that size.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

pub(crate) fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

#[cfg(test)]
mod tests {
    use super::fixture::{render, snapshot};
    use super::*;
    use std::sync::Arc;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(ms(0.4321), "0.43 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(9876.0), "9.88 s");
    }

    #[test]
    fn the_full_screen_has_every_panel() {
        let app = App::new(Arc::new(snapshot()));
        let screen = render(140, 44, |f| draw(f, &app));
        for p in Panel::ALL {
            assert!(
                screen.contains(p.title()),
                "{} missing:\n{screen}",
                p.title()
            );
        }
        assert!(screen.contains("session-timeout"), "{screen}");
    }

    #[test]
    fn a_small_terminal_shows_the_focused_panel_alone() {
        let mut app = App::new(Arc::new(snapshot()));
        app.focus = Panel::Lag;
        let screen = render(60, 16, |f| draw(f, &app));
        assert!(screen.contains("Lag per partition"), "{screen}");
        assert!(!screen.contains("Throughput"), "{screen}");
        assert!(screen.contains("tab: next panel"), "{screen}");
        let tiny = render(20, 4, |f| draw(f, &app));
        assert!(tiny.contains("too small"), "{tiny}");
        // Every size in between draws without panicking.
        for (w, h) in [
            (1, 1),
            (24, 6),
            (30, 8),
            (80, 24),
            (99, 29),
            (100, 30),
            (300, 90),
        ] {
            render(w, h, |f| draw(f, &app));
        }
    }

    #[test]
    fn help_lists_the_keys() {
        let mut app = App::new(Arc::new(snapshot()));
        app.help = true;
        let screen = render(120, 40, |f| draw(f, &app));
        for k in ["q ", "p ", "tab", "?"] {
            assert!(screen.contains(k), "{k} missing:\n{screen}");
        }
        assert!(screen.contains("report is still written"), "{screen}");
    }
}
