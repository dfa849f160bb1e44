//! Shared helpers of the model tests.
