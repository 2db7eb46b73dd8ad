//! `shattered.json`: the resolved config, every network's gradients and the aggregates over
//! seeds, written atomically and read back to redraw the charts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use model::Variant;
use serde::{Deserialize, Serialize};

use super::compute::SeriesSpread;
use super::config::ShatteredConfig;
use crate::results::write_atomic;
use crate::table::Spread;

/// File name of the results inside an experiment's folder.
pub const RESULTS_FILE: &str = "shattered.json";

/// The input gradient of one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkGradients {
    pub variant: Variant,
    pub hidden_layers: usize,
    /// Number of blocks, `hidden_layers - 1`.
    pub depth: usize,
    pub seed: u64,
    /// Standard deviation of `dy/dx` over the inputs; `None` when a gradient is not finite.
    pub gradient_std: Option<f64>,
    /// `dy/dx` at each input of the grid, in f32 as computed; NaN (`null` in JSON) where it
    /// overflowed.
    #[serde(with = "nullable_floats")]
    pub gradients: Vec<f32>,
}

/// The networks of one variant and number of hidden layers, aggregated over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthAggregate {
    pub variant: Variant,
    pub hidden_layers: usize,
    /// Number of blocks, `hidden_layers - 1`.
    pub depth: usize,
    /// Networks computed, one per seed.
    pub networks: usize,
    /// Raw autocorrelation `r(m)` for `m = 0..=max_distance`, over the seeds whose gradients
    /// are finite and not all zero.
    pub autocorrelation: Option<SeriesSpread>,
    /// Autocorrelation of the gradient minus its mean, over the seeds whose gradients are
    /// finite and not constant.
    pub autocorrelation_mean_subtracted: Option<SeriesSpread>,
    /// Standard deviation of `dy/dx` over the inputs, over the seeds with finite gradients.
    pub gradient_std: Option<Spread>,
}

/// Everything `resdepth shattered` computes; `redraw` needs nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShatteredResults {
    pub config: ShatteredConfig,
    /// The inputs `x`, ascending.
    pub inputs: Vec<f64>,
    /// One entry per variant, number of hidden layers and seed, in that order.
    pub networks: Vec<NetworkGradients>,
    /// One entry per variant and number of hidden layers, in config order.
    pub aggregates: Vec<DepthAggregate>,
}

impl ShatteredResults {
    /// Returns the gradients of the first seed's network of a variant and depth.
    pub fn first_seed(&self, variant: Variant, hidden_layers: usize) -> Option<&NetworkGradients> {
        let seed = *self.config.seeds.first()?;
        self.networks.iter().find(|network| {
            network.variant == variant
                && network.hidden_layers == hidden_layers
                && network.seed == seed
        })
    }

    /// Returns the aggregate of a variant and depth.
    pub fn aggregate(&self, variant: Variant, hidden_layers: usize) -> Option<&DepthAggregate> {
        self.aggregates.iter().find(|aggregate| {
            aggregate.variant == variant && aggregate.hidden_layers == hidden_layers
        })
    }

    /// Writes the results to `<dir>/shattered.json` atomically, as compact JSON: the gradients
    /// make up most of the file, and one number per line would double its size.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(RESULTS_FILE);
        let mut json = serde_json::to_vec(self)?;
        json.push(b'\n');
        write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Reads `<dir>/shattered.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(RESULTS_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "invalid results in {}: rerun `resdepth shattered` to recompute them",
                path.display()
            )
        })
    }
}

/// Stores non-finite `f32` values as JSON `null` and reads `null` back as NaN, since JSON has
/// no NaN or infinity.
mod nullable_floats {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            sequence.serialize_element(&value.is_finite().then_some(*value))?;
        }
        sequence.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
        let values = Vec::<Option<f32>>::deserialize(deserializer)?;
        Ok(values
            .into_iter()
            .map(|value| value.unwrap_or(f32::NAN))
            .collect())
    }
}
