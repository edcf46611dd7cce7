//! `fer live --window`: the annotated frames in an OpenCV window (`highgui`),
//! built with the cargo feature `window`. Without it, the same API answers with
//! a clear "not built with" error.

use crate::error::{FerError, Result};
use opencv::core::Mat;

/// Title of the window.
pub const WINDOW_TITLE: &str = "fer live";

/// An open window.
pub struct Window {
    _private: (),
}

#[cfg(feature = "window")]
impl Window {
    /// Open the window (fails without a display).
    pub fn open() -> Result<Window> {
        // Without a display OpenCV's Qt backend aborts the process; refuse first.
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return Err(FerError::param(
                "window",
                "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset)",
            ));
        }
        opencv::highgui::named_window(WINDOW_TITLE, opencv::highgui::WINDOW_AUTOSIZE).map_err(
            |e| FerError::param("window", format!("cannot open a window (no display?): {e}")),
        )?;
        Ok(Window { _private: () })
    }

    /// Show a frame; returns whether the user asked to stop (q or Esc).
    pub fn show(&mut self, frame: &Mat) -> Result<bool> {
        const ESC: i32 = 27;
        opencv::highgui::imshow(WINDOW_TITLE, frame)?;
        let key = opencv::highgui::wait_key(1)?;
        Ok(key == ESC || key == 'q' as i32)
    }
}

#[cfg(feature = "window")]
impl Drop for Window {
    fn drop(&mut self) {
        let _ = opencv::highgui::destroy_window(WINDOW_TITLE);
    }
}

#[cfg(not(feature = "window"))]
impl Window {
    /// This build has no window support.
    pub fn open() -> Result<Window> {
        Err(FerError::param("window", "this fer was not built with the `window` feature: cargo build --release --features window"))
    }

    /// Never reached: [`Window::open`] fails in this build.
    pub fn show(&mut self, _frame: &Mat) -> Result<bool> {
        Ok(true)
    }
}
