//! `check-object` and `header`: hygiene of the object linked into Xen, and the generated C header.

use anyhow::{bail, Result};

/// Options of `cargo xtask check-object`.
#[derive(clap::Args)]
pub struct Args {}

/// Options of `cargo xtask header`.
#[derive(clap::Args)]
pub struct HeaderArgs {
    /// Fail if include/rtsched.h differs from what cbindgen generates, instead of writing it.
    #[arg(long)]
    pub check: bool,
}

/// Builds and checks the object.
pub fn check_object(_a: &Args) -> Result<()> {
    bail!("check-object: not implemented yet")
}

/// Generates or checks the header.
pub fn header(_a: &HeaderArgs) -> Result<()> {
    bail!("header: not implemented yet")
}
