//! The view's own state (focus, pause, help, zoom, scroll) and what each key does.
//! Pure: no terminal, so the key handling is tested directly.

use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::engine::snapshot::RunSnapshot;

/// The panels, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Throughput,
    Latency,
    Groups,
    Lag,
    Timeline,
    Brokers,
    Settings,
}

impl Panel {
    pub const ALL: [Panel; 7] = [
        Panel::Throughput,
        Panel::Latency,
        Panel::Groups,
        Panel::Lag,
        Panel::Timeline,
        Panel::Brokers,
        Panel::Settings,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Throughput => "Throughput",
            Panel::Latency => "Latency",
            Panel::Groups => "Consumer groups",
            Panel::Lag => "Lag per partition",
            Panel::Timeline => "Timeline",
            Panel::Brokers => "Brokers",
            Panel::Settings => "Client settings",
        }
    }

    fn index(self) -> usize {
        Panel::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn step(self, by: isize) -> Panel {
        let n = Panel::ALL.len() as isize;
        Panel::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}

/// What a key asks of the surrounding loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// Redraw (state changed).
    Redraw,
    /// Stop the run (first `q`): it drains and writes its report; the view stays up.
    StopRun,
    /// Leave the view now (second `q`): the run goes on finishing without it.
    Leave,
    /// Clear the screen and draw everything again.
    Repaint,
}

#[derive(Debug, Clone)]
pub struct App {
    pub focus: Panel,
    /// The view is frozen on `snapshot`; the run goes on.
    pub paused: bool,
    pub help: bool,
    /// Only the focused panel, on the whole screen.
    pub zoom: bool,
    /// First row shown in the focused panel's list.
    pub scroll: usize,
    /// `q` was pressed: the run is stopping.
    pub stopping: bool,
    pub snapshot: Arc<RunSnapshot>,
}

impl App {
    pub fn new(snapshot: Arc<RunSnapshot>) -> App {
        App {
            focus: Panel::Throughput,
            paused: false,
            help: false,
            zoom: false,
            scroll: 0,
            stopping: false,
            snapshot,
        }
    }

    /// Takes a new snapshot unless paused; true when it was taken.
    pub fn update(&mut self, snapshot: Arc<RunSnapshot>) -> bool {
        if self.paused {
            return false;
        }
        self.snapshot = snapshot;
        true
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit(),
            KeyCode::Char('l') if ctrl => Action::Repaint,
            KeyCode::Char('q') | KeyCode::Char('Q') => self.quit(),
            KeyCode::Esc if self.help => {
                self.help = false;
                Action::Redraw
            }
            KeyCode::Esc if self.zoom => {
                self.zoom = false;
                Action::Redraw
            }
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => {
                self.help = !self.help;
                Action::Redraw
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.paused = !self.paused;
                Action::Redraw
            }
            KeyCode::Char('z') | KeyCode::Enter => {
                self.zoom = !self.zoom;
                Action::Redraw
            }
            KeyCode::Tab | KeyCode::Right | KeyCode::Down => self.focus_step(1),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Up => self.focus_step(-1),
            KeyCode::PageDown | KeyCode::Char('j') => {
                self.scroll = self.scroll.saturating_add(1);
                Action::Redraw
            }
            KeyCode::PageUp | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1);
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn focus_step(&mut self, by: isize) -> Action {
        self.focus = self.focus.step(by);
        self.scroll = 0;
        Action::Redraw
    }

    fn quit(&mut self) -> Action {
        if self.stopping {
            Action::Leave
        } else {
            self.stopping = true;
            self.paused = false;
            Action::StopRun
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn keys_move_focus_pause_and_quit() {
        let mut app = App::new(Arc::default());
        assert_eq!(app.on_key(key(KeyCode::Tab)), Action::Redraw);
        assert_eq!(app.focus, Panel::Latency);
        app.on_key(key(KeyCode::Left));
        app.on_key(key(KeyCode::Left));
        assert_eq!(app.focus, Panel::Settings, "focus wraps around");
        app.on_key(key(KeyCode::Char('p')));
        assert!(app.paused);
        let later = RunSnapshot {
            elapsed_s: 9.0,
            ..RunSnapshot::default()
        };
        assert!(!app.update(Arc::new(later.clone())), "paused: frozen");
        assert_eq!(app.snapshot.elapsed_s, 0.0);
        app.on_key(key(KeyCode::Char('p')));
        assert!(app.update(Arc::new(later)));
        assert_eq!(app.snapshot.elapsed_s, 9.0);
        app.on_key(key(KeyCode::Char('?')));
        assert!(app.help);
        app.on_key(key(KeyCode::Esc));
        assert!(!app.help);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::StopRun);
        assert!(app.stopping);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::Leave);
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL)),
            Action::Repaint
        );
        assert_eq!(app.on_key(key(KeyCode::Char('x'))), Action::None);
    }

    #[test]
    fn quitting_unpauses_so_the_drain_is_visible() {
        let mut app = App::new(Arc::default());
        app.on_key(key(KeyCode::Char('p')));
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::StopRun
        );
        assert!(!app.paused);
    }
}
