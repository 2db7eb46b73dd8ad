//! Shattered-gradients configs: the TOML file as written, and the validated experiment.
//!
//! As for sweeps, loading happens in two stages: [`RawShatteredConfig`] mirrors the TOML and
//! rejects unknown keys, then [`ShatteredConfig::from_raw`] checks every value and fills in the
//! documented defaults.

use std::path::Path;

use model::{InitScheme, MlpConfig, Variant};
use serde::{Deserialize, Serialize};

use crate::config::{Checker, ConfigError, parse_raw_config, read_config_text};

/// Default number of inputs on the grid.
pub const DEFAULT_INPUT_COUNT: usize = 256;
/// Default lower end of the input grid (included).
pub const DEFAULT_INPUT_LOW: f64 = -2.0;
/// Default upper end of the input grid (excluded).
pub const DEFAULT_INPUT_HIGH: f64 = 2.0;
/// Default largest distance of the autocorrelation, in grid steps.
pub const DEFAULT_MAX_DISTANCE: usize = 64;

/// The TOML file, field for field. See `experiments/shattered-*.toml` for examples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShatteredConfig {
    /// Results go to `<results>/<name>/`. Default: the config file's stem.
    pub name: Option<String>,
    /// Seeds of the networks; each seed gives one network per variant and depth.
    pub seeds: Vec<i64>,
    /// Largest distance `m` of the autocorrelation `r(m)`, in grid steps. Default: 64.
    pub max_distance: Option<i64>,
    pub model: RawModel,
    pub inputs: Option<RawInputs>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// Width of every hidden layer.
    pub width: i64,
    /// Initialisation of every linear layer. Required, because it decides whether gradients
    /// can shatter: without batch norm, zero biases keep dy/dx constant on each side of 0.
    pub init: InitScheme,
    pub variants: Vec<String>,
    /// Numbers of hidden layers (ReLUs) of the networks.
    pub hidden_layers: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInputs {
    /// Number of inputs. Default: 256.
    pub count: Option<i64>,
    /// Lower end of the grid, included. Default: -2.
    pub low: Option<f64>,
    /// Upper end of the grid, excluded. Default: 2.
    pub high: Option<f64>,
}

/// Evenly spaced scalar inputs `low + n * (high - low) / count` for `n = 0..count`: the
/// half-open interval `[low, high)`, like NumPy's `arange(low, high, (high - low) / count)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputGrid {
    pub count: usize,
    pub low: f64,
    pub high: f64,
}

impl InputGrid {
    /// Returns the distance between two neighbouring inputs.
    pub fn step(&self) -> f64 {
        (self.high - self.low) / self.count as f64
    }

    /// Returns the inputs, ascending.
    pub fn values(&self) -> Vec<f64> {
        let step = self.step();
        (0..self.count)
            .map(|n| self.low + n as f64 * step)
            .collect()
    }
}

/// The validated experiment: one network per variant, number of hidden layers and seed, each
/// probed at every input of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShatteredConfig {
    pub name: String,
    pub width: usize,
    pub init: InitScheme,
    pub variants: Vec<Variant>,
    /// Numbers of hidden layers, in the order the config lists them. A network with `K` hidden
    /// layers has `K - 1` blocks (see [`hidden_layers_to_depth`]).
    pub hidden_layers: Vec<usize>,
    pub inputs: InputGrid,
    pub seeds: Vec<u64>,
    /// Largest distance `m` of the autocorrelation, in grid steps; less than `inputs.count`.
    pub max_distance: usize,
}

/// Returns the number of blocks of a network with `hidden_layers` hidden layers.
///
/// [`model::Mlp`] has a linear stem, `depth` blocks `W ReLU(h) + b` and a head `W ReLU(h) + b`,
/// so it has `depth + 1` ReLUs. A plain network of `K` hidden layers `h = ReLU(W h + b)` with
/// a linear output layer is therefore the plain `Mlp` of depth `K - 1`.
///
/// # Panics
///
/// If `hidden_layers` is 0.
pub fn hidden_layers_to_depth(hidden_layers: usize) -> usize {
    assert!(hidden_layers > 0, "a network has at least one hidden layer");
    hidden_layers - 1
}

impl ShatteredConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&read_config_text(path)?, path)
    }

    /// Parses and validates TOML text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawShatteredConfig = parse_raw_config(text, path)?;
        Self::from_raw(raw, path)
    }

    /// Checks every value of `raw` and fills in defaults; `path` names the file in errors.
    pub fn from_raw(raw: RawShatteredConfig, path: &Path) -> Result<Self, ConfigError> {
        let check = Checker { path };
        let name = check.name(raw.name)?;

        let width = check.positive("model.width", raw.model.width)?;
        let init = raw.model.init;
        if let Some((key, value)) = init.invalid_variance() {
            let key = format!("model.init.{key}");
            return Err(check.fail(&key, value, "must be zero or a positive number"));
        }
        let variants = check.variants("model.variants", &raw.model.variants)?;
        let hidden_layers =
            check.distinct_positive("model.hidden_layers", &raw.model.hidden_layers)?;

        let raw_inputs = raw.inputs.unwrap_or(RawInputs {
            count: None,
            low: None,
            high: None,
        });
        let count = match raw_inputs.count {
            Some(count) if count < 2 => {
                return Err(check.fail(
                    "inputs.count",
                    count,
                    "must be at least 2 (batch norm statistics and the autocorrelation need \
                     two inputs)",
                ));
            }
            Some(count) => count as usize,
            None => DEFAULT_INPUT_COUNT,
        };
        let low = raw_inputs.low.unwrap_or(DEFAULT_INPUT_LOW);
        if !low.is_finite() {
            return Err(check.fail("inputs.low", low, "must be a finite number"));
        }
        let high = raw_inputs.high.unwrap_or(DEFAULT_INPUT_HIGH);
        if !(high.is_finite() && high > low && (high - low).is_finite()) {
            return Err(check.fail(
                "inputs.high",
                high,
                &format!("must be a finite number above inputs.low = {low}"),
            ));
        }

        let seeds = check.seeds("seeds", &raw.seeds)?;
        let max_distance = match raw.max_distance {
            Some(distance) => check.positive("max_distance", distance)?,
            None => DEFAULT_MAX_DISTANCE.min(count - 1),
        };
        if max_distance >= count {
            return Err(check.fail(
                "max_distance",
                max_distance,
                &format!("must be less than inputs.count = {count}"),
            ));
        }

        Ok(ShatteredConfig {
            name,
            width,
            init,
            variants,
            hidden_layers,
            inputs: InputGrid { count, low, high },
            seeds,
            max_distance,
        })
    }

    /// Returns the network of one variant with `hidden_layers` hidden layers: one input, one
    /// output.
    pub fn network(&self, variant: Variant, hidden_layers: usize) -> MlpConfig {
        MlpConfig {
            input_size: 1,
            width: self.width,
            depth: hidden_layers_to_depth(hidden_layers),
            num_classes: 1,
            variant,
            init: self.init,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
seeds = [0, 1]
[model]
width = 200
init = { normal-fixed = { weight_variance = 0.005, bias_variance = 0.005 } }
variants = ["plain", "residual"]
hidden_layers = [1, 24]
"#;

    fn parse(text: &str) -> Result<ShatteredConfig, ConfigError> {
        ShatteredConfig::parse(text, Path::new("experiments/shattered.toml"))
    }

    #[test]
    fn defaults_are_filled_in() {
        let config = parse(VALID).unwrap();
        assert_eq!(config.name, "shattered");
        assert_eq!(config.inputs.count, 256);
        assert_eq!(config.inputs.low, -2.0);
        assert_eq!(config.inputs.high, 2.0);
        assert_eq!(config.max_distance, 64);
        assert_eq!(config.hidden_layers, vec![1, 24]);
    }

    #[test]
    fn grid_is_half_open() {
        let grid = parse(VALID).unwrap().inputs;
        let values = grid.values();
        assert_eq!(grid.step(), 1.0 / 64.0);
        assert_eq!(values.len(), 256);
        assert_eq!(values[0], -2.0);
        assert_eq!(values[128], 0.0);
        assert_eq!(values[255], 2.0 - 1.0 / 64.0);
    }

    #[test]
    fn hidden_layers_map_to_blocks() {
        let config = parse(VALID).unwrap();
        let network = config.network(Variant::Plain, 1);
        assert_eq!(network.depth, 0);
        assert_eq!(network.input_size, 1);
        assert_eq!(network.num_classes, 1);
        assert_eq!(config.network(Variant::Residual, 24).depth, 23);
    }

    #[test]
    fn errors_name_key_and_value() {
        let cases = [
            ("width = 200", "width = 0", "model.width = 0"),
            (
                "hidden_layers = [1, 24]",
                "hidden_layers = [1, 0]",
                "model.hidden_layers[1] = 0",
            ),
            (
                "variants = [\"plain\", \"residual\"]",
                "variants = [\"plain\", \"dense\"]",
                "model.variants[1] = \"dense\"",
            ),
            (
                "seeds = [0, 1]",
                "seeds = [0, 0]",
                "seeds[1] = 0: listed twice",
            ),
            (
                "seeds = [0, 1]",
                "seeds = [0, 1]\nmax_distance = 256",
                "max_distance = 256: must be less than inputs.count = 256",
            ),
            (
                "bias_variance = 0.005",
                "bias_variance = -1.0",
                "model.init.normal-fixed.bias_variance = -1",
            ),
            (
                "seeds = [0, 1]",
                "seeds = [0, 1]\n[inputs]\nlow = -1e308\nhigh = 1e308",
                ": must be a finite number above inputs.low = -1000",
            ),
            (
                "hidden_layers = [1, 24]",
                "hidden_layers = [1, 24]\n[inputs]\ncount = 1",
                "inputs.count = 1",
            ),
            (
                "hidden_layers = [1, 24]",
                "hidden_layers = [1, 24]\n[inputs]\nlow = 1.0\nhigh = 1.0",
                "inputs.high = 1: must be a finite number above inputs.low = 1",
            ),
        ];
        for (from, to, expected) in cases {
            let text = VALID.replacen(from, to, 1);
            assert_ne!(text, VALID, "case {to:?} changed nothing");
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains("experiments/shattered.toml"), "{error}");
            assert!(
                error.contains(expected),
                "expected {expected:?} in {error:?}"
            );
        }
    }

    #[test]
    fn unknown_and_missing_keys_are_rejected() {
        let unknown = parse(&VALID.replacen("width = 200", "width = 200\ndepth = 3", 1));
        let error = unknown.unwrap_err().to_string();
        assert!(error.contains("unknown field `depth`"), "{error}");
        let missing = parse(&VALID.replacen("init = {", "# init = {", 1));
        let error = missing.unwrap_err().to_string();
        assert!(error.contains("missing field `init`"), "{error}");
    }

    #[test]
    fn shipped_configs_parse() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
        for name in ["shattered-notebook", "shattered-paper"] {
            let path = folder.join(format!("{name}.toml"));
            let config = ShatteredConfig::load(&path).unwrap();
            assert_eq!(config.name, name);
            assert_eq!(config.hidden_layers, vec![1, 2, 4, 8, 16, 24, 50]);
            assert_eq!(config.width, 200);
        }
    }
}
