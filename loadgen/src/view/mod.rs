//! The terminal live view of `kafkalab run` (ratatui). State apart from view, as in
//! tokio-console: the engine publishes [`RunSnapshot`]s on a watch channel
//! ([`crate::engine::snapshot`]); this side only reads the latest one and draws it on
//! its own OS thread, so drawing never runs on, or waits for, the runtime that measures.
//!
//! * [`state`]: focus, pause, help, zoom; what each key does.
//! * `panels`: layout and one module per panel, pure functions of the state.
//! * [`terminal`]: raw mode and the alternate screen, restored on exit, error and panic.

mod panels;
pub mod state;
pub mod terminal;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::engine::snapshot::{RunSnapshot, ViewEnd};
pub use state::{Action, App, Panel};
use terminal::TerminalGuard;

/// How often the view looks for keys and new snapshots. Snapshots come once a second;
/// this only bounds how late a key press is answered.
const POLL: Duration = Duration::from_millis(100);

/// The running view.
pub struct ViewHandle {
    done: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<()>>,
}

impl ViewHandle {
    /// Closes the view (the run is over) and gives the terminal back.
    pub fn finish(self) -> io::Result<()> {
        self.done.store(true, Ordering::SeqCst);
        let r = match self.thread.join() {
            Ok(r) => r,
            Err(_) => Err(io::Error::other("the live view panicked")),
        };
        // The thread restores on its way out; this covers a panic in it.
        terminal::restore();
        r
    }
}

/// Takes over the terminal and starts drawing. Fails (terminal untouched) when stdout
/// or stdin is not a usable terminal.
pub fn spawn(end: ViewEnd) -> io::Result<ViewHandle> {
    let guard = TerminalGuard::enter()?;
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::Builder::new()
        .name("kafkalab-view".into())
        .spawn(move || run(guard, end, &flag))?;
    Ok(ViewHandle { done, thread })
}

fn run(mut guard: TerminalGuard, mut end: ViewEnd, done: &AtomicBool) -> io::Result<()> {
    let first: Arc<RunSnapshot> = end.snapshots.borrow_and_update().clone();
    let mut app = App::new(first);
    let mut dirty = true;
    while !done.load(Ordering::SeqCst) {
        if dirty {
            guard.terminal.draw(|f| panels::draw(f, &app))?;
            dirty = false;
        }
        if event::poll(POLL)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => match app.on_key(k) {
                    Action::None => {}
                    Action::Redraw => dirty = true,
                    Action::Repaint => {
                        guard.terminal.clear()?;
                        dirty = true;
                    }
                    Action::StopRun => {
                        // The engine drains and writes the report; the view stays up.
                        let _ = end.stop.send(true);
                        dirty = true;
                    }
                    Action::Leave => return Ok(()),
                },
                Event::Resize(..) => {
                    guard.terminal.autoresize()?;
                    dirty = true;
                }
                _ => {}
            }
        }
        if end.snapshots.has_changed().unwrap_or(false) {
            let snap = end.snapshots.borrow_and_update().clone();
            dirty |= app.update(snap);
        }
    }
    Ok(())
}
