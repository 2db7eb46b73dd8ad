//! Plain and residual networks, with and without batch norm.
//!
//! Every network here is built from one block definition, so a plain network and its residual
//! twin have exactly the same layers and parameters and differ only in whether the shortcut is
//! added. Weights are drawn from a seeded generator owned by this crate, so a network depends
//! only on its config and seed, never on the backend or on which thread builds it.
//!
//! Nothing in this crate chooses a backend: modules run on whatever
//! [`Device`](burn::tensor::Device) their tensors live on.

mod batch_norm;
mod cnn;
mod fused;
mod init;
mod mlp;
mod network;

pub use batch_norm::BatchNorm;
pub use cnn::{Cnn, CnnConfig, Conv, ConvBlock, ConvNorm, NamedWeight, Shortcut};
pub use fused::{EvalCounts, FusedMlp, SgdSettings};
pub use init::{InitScheme, ParamRng};
pub use mlp::{Block, BlockRoute, ForwardHooks, Mlp, MlpConfig};
pub use network::{Network, WeightNorm, frobenius_norm};

use serde::{Deserialize, Serialize};

/// Whether a forward pass trains or evaluates.
///
/// Batch norm normalises with the statistics of the current batch in [`Mode::Train`] (and updates
/// its running statistics), and with the running statistics in [`Mode::Eval`]. Every forward pass
/// takes the mode explicitly so that no module carries a hidden training flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running statistics are updated.
    Train,
    /// Running statistics; nothing is updated.
    Eval,
}

/// One of the four networks compared in a depth sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Blocks without shortcut or batch norm.
    Plain,
    /// Blocks with batch norm, without shortcut.
    PlainBn,
    /// Blocks with shortcut, without batch norm.
    Residual,
    /// Blocks with shortcut and batch norm.
    ResidualBn,
}

impl Variant {
    /// All variants, in the order charts and tables list them.
    pub const ALL: [Variant; 4] = [
        Variant::Plain,
        Variant::PlainBn,
        Variant::Residual,
        Variant::ResidualBn,
    ];

    /// Returns true when each block adds its input back (`h + f(h)`).
    pub fn has_shortcut(self) -> bool {
        matches!(self, Variant::Residual | Variant::ResidualBn)
    }

    /// Returns true when each block normalises its input with batch norm.
    pub fn has_batch_norm(self) -> bool {
        matches!(self, Variant::PlainBn | Variant::ResidualBn)
    }

    /// Returns the name used in configs, run ids and charts, for example `residual-bn`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::PlainBn => "plain-bn",
            Variant::Residual => "residual",
            Variant::ResidualBn => "residual-bn",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
