//! The records the update service keeps: apps, tokens, builds, channels,
//! events. Plain data with serde, no I/O and no storage types; one file a
//! record, and this module re-exports them all.

mod app;
mod build;
mod channel;
mod event;
mod native;
mod plan;
mod token;

pub use crate::time::{now, use_clock_file, utc, utc_parts, Timestamp};
pub use app::*;
pub use build::*;
pub use channel::*;
pub use event::*;
pub use native::*;
pub use plan::*;
pub use token::*;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
