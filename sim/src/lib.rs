//! Where a run happens: on the host (TCP sockets, the system clock) or in a simulation
//! (an in-memory network, tokio's paused clock on a current-thread runtime).
//!
//! The choice is ambient, like tokio's clock: a simulated run installs its [`World`] on
//! the thread that drives its current-thread runtime (every task of that runtime runs
//! there), and the code that connects, binds or reads the wall clock asks this crate.
//! Nothing installed means the host. So the broker, the cluster and the client need no
//! parameter threaded through them, and a test on another thread is not affected.

pub mod clock;
pub mod link;
mod mem;
pub mod net;
pub mod random;

use std::cell::RefCell;
use std::rc::Rc;

pub use link::LinkModel;

/// The runtime a simulation runs on: one thread, the clock paused (tokio moves it to
/// the next timer whenever every task waits), and the runtime's own random choices
/// (which ready branch of a `select!` is polled first) drawn from `seed`, so two runs
/// of one seed take the same path.
pub fn runtime(seed: u64) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all().start_paused(true);
    // Without `--cfg tokio_unstable` (.cargo/config.toml) the choices stay random; the
    // determinism test says so.
    #[cfg(tokio_unstable)]
    b.rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()));
    #[cfg(not(tokio_unstable))]
    let _ = seed;
    b.build()
}

/// A simulation: its network and the wall-clock time its virtual clock started at.
#[derive(Clone)]
pub struct World {
    net: Rc<mem::MemNetwork>,
    epoch_ms: i64,
    start: tokio::time::Instant,
    rng: Rc<RefCell<rand::rngs::SmallRng>>,
}

thread_local! {
    static CURRENT: RefCell<Option<World>> = const { RefCell::new(None) };
}

impl World {
    /// A world whose wall clock reads `epoch_ms` (milliseconds since the Unix epoch) at
    /// the virtual instant it is created, and whose links follow `link`. Create it
    /// inside the paused runtime.
    pub fn new(epoch_ms: i64, link: LinkModel) -> World {
        World {
            net: Rc::new(mem::MemNetwork::new(link)),
            epoch_ms,
            start: tokio::time::Instant::now(),
            rng: Rc::new(RefCell::new(rand::SeedableRng::seed_from_u64(0))),
        }
    }

    /// The same world, its own random choices ([`random`]) drawn from `seed`.
    pub fn seeded(self, seed: u64) -> World {
        *self.rng.borrow_mut() = rand::SeedableRng::seed_from_u64(seed);
        self
    }

    /// Makes this world the current thread's until the guard is dropped.
    pub fn install(self) -> Installed {
        let previous = CURRENT.with(|c| c.replace(Some(self)));
        Installed { previous }
    }
}

/// Keeps a [`World`] installed; dropping it restores what was there before.
pub struct Installed {
    previous: Option<World>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| c.replace(previous));
    }
}

/// Whether this thread runs a simulation.
pub fn simulated() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

fn with_world<R>(f: impl FnOnce(&World) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// Runs blocking work (file I/O) off the async workers on the host; inline in a
/// simulation, where the one thread must not run ahead of it and virtual time must not
/// move while it runs.
pub async fn offload<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    if simulated() {
        Some(f())
    } else {
        tokio::task::spawn_blocking(f).await.ok()
    }
}
