//! The `?` overlay.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

const KEYS: &[(&str, &str)] = &[
    (
        "q / ctrl-c",
        "stop the run: it drains, the report is still written",
    ),
    ("q again", "leave the view now; the run finishes without it"),
    ("p / space", "pause the view (the run goes on)"),
    ("tab / arrows", "focus the next / previous panel"),
    ("z / enter", "zoom the focused panel"),
    ("j k / pgup pgdn", "scroll the focused panel"),
    ("ctrl-l", "repaint"),
    ("? / esc", "close this help"),
];

pub fn render(f: &mut Frame, area: Rect) {
    let w = area.width.min(72);
    let h = area.height.min(KEYS.len() as u16 + 4);
    let [row] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(row);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!("{k:<16} {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Panels show what the engine and the Kafka protocol report.",
    ));
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Keys ")),
        popup,
    );
}
