//! Scenarios: the model of a scenario file and its loader.

mod load;
pub mod media;
mod model;
pub mod steps;

pub use load::{ScenarioError, load_dir, load_file, parse};
pub use media::{MediaExpectation, MediaKind, TrackDirection};
pub use model::*;
pub use steps::{Actor, Step, StepKind};
