//! The fixed-grid replay that the SDE adjoints (in `sciml-sensitivity`) are built on: the set-up
//! of a fixed-step solve ([`fixed_setup`]: its Brownian tree, [`Grid`] and save indices), `W` at
//! the grid's nodes ([`grid_brownian`] for a whole table, [`GridPath`] a block at a time,
//! [`increments`] between two nodes), the forward steps on the shared loop ([`GridReplay`],
//! bitwise the states of [`crate::solve`] on the same path), and the Stratonovich form of an Itô
//! system ([`StratonovichForm`]) that the continuous adjoints step backward.
//!
//! Everything here is what a solve with the same options does, exposed so that a pass over the
//! same grid and path can be repeated outside this crate; nothing in it is needed to solve.

pub use crate::grid::{
    fixed_setup, grid_brownian, increments, replay_error, Grid, GridPath, GridReplay,
};
pub use crate::problem::StratonovichForm;
pub use crate::stepper::Nodes;
