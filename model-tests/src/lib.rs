//! Shared helpers of the model tests.

pub mod sim;
