//! The bundled font. Charts name the family `sans-serif`: SVG viewers use their own
//! sans-serif, and PNG text is drawn by plotters (ab_glyph) from DejaVu Sans, bundled
//! here so that no system font package is needed (licence: `font/LICENSE`).

use std::sync::Once;

use plotters::style::FontStyle;

/// The font family every chart uses.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("font/DejaVuSans.ttf");

/// Registers the bundled font with plotters (once per process).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file checked in with the source; a failure
        // here would only lose PNG text, so it is logged, not fatal.
        if plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_err() {
            tracing::warn!("the bundled chart font could not be loaded; PNG charts have no text");
        }
    });
}
