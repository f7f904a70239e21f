//! Scenarios: the model of a scenario file and its loader.

mod load;
pub mod media;
mod model;
pub mod steps;

pub use load::{
    MAX_SCENARIO_FILE_BYTES, MAX_SCENARIO_NAME_CHARS, ScenarioError, load_dir, load_file, parse,
};
pub use media::{MediaExpectation, MediaKind, TrackDirection};
pub use model::*;
pub use steps::{Actor, Step, StepKind};
