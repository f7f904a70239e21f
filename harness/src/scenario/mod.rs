//! Scenarios: the model of a scenario file and its loader.

mod load;
mod model;

pub use load::{ScenarioError, load_dir, load_file, parse};
pub use model::*;
