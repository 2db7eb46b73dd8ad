//! Backend choice: which burn device runs the networks.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// A compute backend, chosen at run time. Each one exists when its cargo feature is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// burn's Flex CPU backend (pure Rust), cargo feature `flex` (default).
    Flex,
    /// burn-ndarray CPU backend (deprecated in burn 0.22), cargo feature `ndarray`.
    Ndarray,
    /// burn-wgpu on the GPU that wgpu ranks first, cargo feature `wgpu`. The environment
    /// variable `CUBECL_WGPU_DEFAULT_DEVICE` picks another adapter: `Cpu` selects a software
    /// Vulkan driver such as Mesa's lavapipe.
    Wgpu,
}

impl Backend {
    /// Returns the backend's device without autodiff, or an error naming the missing feature.
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => anyhow::bail!(
                "backend {} is not compiled in; rebuild with `--features runner/{}`",
                other.name(),
                other.name()
            ),
        }
    }

    /// Returns the name used on the command line and in cargo features.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }
}

/// The code that computes a run's training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// MLPs on the Flex backend train with the fused MLP step: a hand-written forward and
    /// backward pass on one thread, 1.4-3.2x faster than autodiff at width 100 (docs/benchmarks.md).
    /// CNNs and the other backends use burn's autodiff.
    Fused,
    /// Every run trains with burn's autodiff on the chosen backend.
    Autodiff,
}

impl Engine {
    /// Returns the engine that runs on `backend`. The fused step runs on the CPU, so it replaces
    /// Flex only, and every other backend uses autodiff.
    pub fn on(self, backend: Backend) -> Engine {
        match (self, backend) {
            (Engine::Fused, Backend::Flex) => Engine::Fused,
            _ => Engine::Autodiff,
        }
    }
}
