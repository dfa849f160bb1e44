//! `xen-build` and `xen-boot`: Xen 4.17 from Debian's source, patched with xen-patch/, under QEMU.

use anyhow::{bail, Result};

/// Options of `cargo xtask xen-build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Build Xen's own C RTDS (no patches) for comparison.
    #[arg(long)]
    pub stock: bool,
}

/// Options of `cargo xtask xen-boot`.
#[derive(clap::Args)]
pub struct BootArgs {
    /// Boot the stock build.
    #[arg(long)]
    pub stock: bool,
}

/// Builds the hypervisor.
pub fn build(_a: &BuildArgs) -> Result<()> {
    bail!("xen-build: not implemented yet")
}

/// Boots the hypervisor.
pub fn boot(_a: &BootArgs) -> Result<()> {
    bail!("xen-boot: not implemented yet")
}
