//! Which burn device the tensor work (the rerankers' training and scoring) runs on, chosen by
//! `--backend`. The dissection engine's own kernels run on the CPU; the wgpu backend (a GPU, or
//! lavapipe without one) joins both with the GPU issue, and until then asking for it is an
//! error that says so rather than a silent CPU run.

use burn::tensor::Device;
use serde::Serialize;

use crate::error::{Error, Result};

/// The `--backend` flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// wgpu when an adapter is found and the build has it, else the CPU.
    #[default]
    Auto,
    /// burn's Flex CPU backend.
    Cpu,
    /// burn's wgpu backend (Vulkan).
    Wgpu,
}

/// A device for `choice` and the name to print and record.
pub fn device_for(choice: BackendChoice) -> Result<(Device, String)> {
    match choice {
        BackendChoice::Auto | BackendChoice::Cpu => Ok((Device::flex(), "cpu (burn flex)".into())),
        BackendChoice::Wgpu => Err(Error::Setting {
            name: "backend",
            message: "this build has no wgpu backend yet; use `cpu` or `auto`".into(),
        }),
    }
}
