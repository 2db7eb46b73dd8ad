//! Sweep configs: the TOML file as written, and the validated sweep it describes.
//!
//! Loading happens in two stages. [`RawSweepConfig`] mirrors the TOML exactly and rejects
//! unknown keys; [`SweepConfig::from_raw`] checks every value and fills in the documented
//! defaults. The resolved [`RunConfig`] of each run is what gets saved and hashed into its id.

use std::fmt;
use std::path::{Path, PathBuf};

use model::{InitScheme, Variant};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An invalid config file. The message names the file, the key and the value, and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of its allowed range.
    #[error("invalid config {path}: {key} = {value}: {reason}")]
    Value {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
}

/// The TOML file, field for field. See `experiments/*.toml` for examples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweepConfig {
    /// Results go to `<results>/<name>/`. Default: the config file's stem.
    pub name: Option<String>,
    pub dataset: RawDataset,
    pub model: RawModel,
    pub sweep: RawSweep,
    pub training: RawTraining,
    pub probe: Option<RawProbe>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataset {
    /// Dataset name: `mnist1d`.
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// Network family: `mlp`.
    pub family: String,
    /// Width of every hidden layer.
    pub width: i64,
    /// Weight initialisation. Default: `kaiming-normal`.
    pub init: Option<InitScheme>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    pub variants: Vec<String>,
    pub depths: Vec<i64>,
    pub seeds: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    /// Optimizer: `sgd` (with momentum). Default: `sgd`.
    pub optimizer: Option<String>,
    pub learning_rate: f64,
    /// Default: 0.9.
    pub momentum: Option<f64>,
    /// Default: 0.
    pub weight_decay: Option<f64>,
    pub batch_size: i64,
    pub num_epochs: i64,
    /// Optional step schedule: multiply the learning rate by `gamma` every `step_size` epochs.
    pub schedule: Option<RawSchedule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub step_size: i64,
    pub gamma: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// Samples in the probe batch at initialisation, capped at the training set's size.
    /// Default: 1000.
    pub batch_size: Option<i64>,
}

/// Datasets the runner can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// MNIST-1D (Greydanus 2020), generated in-process with the reference defaults.
    Mnist1d,
}

impl DatasetName {
    /// Returns the number of values in one sample.
    pub fn sample_size(self) -> usize {
        match self {
            DatasetName::Mnist1d => 40,
        }
    }

    /// Returns the number of classes.
    pub fn num_classes(self) -> usize {
        match self {
            DatasetName::Mnist1d => 10,
        }
    }
}

/// Network families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// [`model::Mlp`].
    Mlp,
}

/// Step learning-rate schedule (PyTorch's `StepLR`, stepped once per epoch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSchedule {
    /// Epochs between two decays.
    pub step_size: usize,
    /// Factor applied at each decay.
    pub gamma: f64,
}

/// The validated training recipe shared by every run of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingConfig {
    /// Learning rate of SGD at epoch 0.
    pub learning_rate: f64,
    /// SGD momentum, with zero dampening as in PyTorch.
    pub momentum: f64,
    /// L2 penalty added to the gradient, as in PyTorch's SGD.
    pub weight_decay: f64,
    /// Samples per training step.
    pub batch_size: usize,
    /// Passes over the training set.
    pub num_epochs: usize,
    /// Learning-rate schedule; `None` keeps it constant.
    pub schedule: Option<StepSchedule>,
}

impl TrainingConfig {
    /// Returns the learning rate used during `epoch` (counted from 1).
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        match self.schedule {
            Some(schedule) => {
                let decays = (epoch - 1) / schedule.step_size;
                self.learning_rate * schedule.gamma.powi(decays as i32)
            }
            None => self.learning_rate,
        }
    }
}

/// The validated sweep: the cartesian product of variants, depths and seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    pub name: String,
    pub dataset: DatasetName,
    pub family: Family,
    pub width: usize,
    pub init: InitScheme,
    pub variants: Vec<Variant>,
    pub depths: Vec<usize>,
    pub seeds: Vec<u64>,
    pub training: TrainingConfig,
    /// Samples in the probe batch at initialisation.
    pub probe_batch_size: usize,
}

/// Everything that determines one run; saved as `config.json` in its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub dataset: DatasetName,
    pub family: Family,
    pub variant: Variant,
    pub depth: usize,
    pub width: usize,
    pub init: InitScheme,
    pub seed: u64,
    pub training: TrainingConfig,
    pub probe_batch_size: usize,
}

impl RunConfig {
    /// Returns the run's id: readable fields, then a hash of the whole resolved config, so that
    /// changing any setting gives a new id and an unchanged run keeps its results.
    pub fn id(&self) -> String {
        let json = serde_json::to_string(self).expect("run config serialises to JSON");
        let digest = Sha256::digest(json.as_bytes());
        let hash: String = digest[..4]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!(
            "{}-d{:03}-s{}-{hash}",
            self.variant.name(),
            self.depth,
            self.seed
        )
    }
}

/// Maximum length of a sweep name, which becomes a folder name.
const MAX_NAME_LEN: usize = 100;

/// Validates config values and builds errors that name the file, key and value.
pub(crate) struct Checker<'a> {
    pub(crate) path: &'a Path,
}

impl Checker<'_> {
    pub(crate) fn fail(&self, key: &str, value: impl fmt::Display, reason: &str) -> ConfigError {
        ConfigError::Value {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn positive(&self, key: &str, value: i64) -> Result<usize, ConfigError> {
        if value < 1 {
            return Err(self.fail(key, value, "must be a positive integer"));
        }
        Ok(value as usize)
    }

    pub(crate) fn positive_float(&self, key: &str, value: f64) -> Result<f64, ConfigError> {
        if !(value.is_finite() && value > 0.0) {
            return Err(self.fail(key, value, "must be a positive number"));
        }
        Ok(value)
    }

    /// Returns the results folder name: `raw_name`, or the config file's stem when it is
    /// `None`. Fails unless the name is a safe folder name.
    pub(crate) fn name(&self, raw_name: Option<String>) -> Result<String, ConfigError> {
        let (name_key, name) = match raw_name {
            Some(name) => ("name", name),
            None => {
                let stem = self.path.file_stem().unwrap_or_default();
                (
                    "name (from the file name)",
                    stem.to_string_lossy().into_owned(),
                )
            }
        };
        let name_is_valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_is_valid {
            return Err(self.fail(
                name_key,
                format!("{name:?}"),
                &format!(
                    "must be 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', not starting \
                     with '.'; set `name = \"...\"` in the config"
                ),
            ));
        }
        Ok(name)
    }

    /// Returns the variants named in the list at `key`: at least one, each known and listed once.
    pub(crate) fn variants(
        &self,
        key: &str,
        names: &[String],
    ) -> Result<Vec<Variant>, ConfigError> {
        self.non_empty(key, names)?;
        let mut variants = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let variant = Variant::ALL
                .into_iter()
                .find(|variant| variant.name() == name);
            let Some(variant) = variant else {
                return Err(self.fail(
                    &format!("{key}[{index}]"),
                    format!("{name:?}"),
                    "unknown variant; expected one of \"plain\", \"plain-bn\", \"residual\", \"residual-bn\"",
                ));
            };
            if variants.contains(&variant) {
                return Err(self.fail(
                    &format!("{key}[{index}]"),
                    format!("{name:?}"),
                    "listed twice",
                ));
            }
            variants.push(variant);
        }
        Ok(variants)
    }

    /// Returns the list at `key`: at least one value, each positive and listed once.
    pub(crate) fn distinct_positive(
        &self,
        key: &str,
        values: &[i64],
    ) -> Result<Vec<usize>, ConfigError> {
        self.non_empty(key, values)?;
        let mut checked = Vec::new();
        for (index, &value) in values.iter().enumerate() {
            let key = format!("{key}[{index}]");
            let value = self.positive(&key, value)?;
            if checked.contains(&value) {
                return Err(self.fail(&key, value, "listed twice"));
            }
            checked.push(value);
        }
        Ok(checked)
    }

    /// Returns the seeds listed at `key`: at least one, each non-negative and listed once.
    pub(crate) fn seeds(&self, key: &str, values: &[i64]) -> Result<Vec<u64>, ConfigError> {
        self.non_empty(key, values)?;
        let mut seeds = Vec::new();
        for (index, &seed) in values.iter().enumerate() {
            let key = format!("{key}[{index}]");
            if seed < 0 {
                return Err(self.fail(&key, seed, "must be a non-negative integer"));
            }
            if seeds.contains(&(seed as u64)) {
                return Err(self.fail(&key, seed, "listed twice"));
            }
            seeds.push(seed as u64);
        }
        Ok(seeds)
    }

    pub(crate) fn non_empty<T>(&self, key: &str, values: &[T]) -> Result<(), ConfigError> {
        if values.is_empty() {
            return Err(self.fail(key, "[]", "must list at least one value"));
        }
        Ok(())
    }
}

/// Reads a config file's text, with an error that names the file.
pub(crate) fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses TOML text into a raw config that mirrors the file; `path` names the file in errors.
pub(crate) fn parse_raw_config<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        message: error.to_string().trim_end().to_string(),
    })
}

impl SweepConfig {
    /// Reads and validates a sweep config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&read_config_text(path)?, path)
    }

    /// Parses and validates TOML text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::from_raw(parse_raw_config(text, path)?, path)
    }

    /// Checks every value of `raw` and fills in defaults; `path` names the file in errors.
    pub fn from_raw(raw: RawSweepConfig, path: &Path) -> Result<Self, ConfigError> {
        let check = Checker { path };

        let name = check.name(raw.name)?;

        let dataset = match raw.dataset.name.as_str() {
            "mnist1d" => DatasetName::Mnist1d,
            other => {
                return Err(check.fail(
                    "dataset.name",
                    format!("{other:?}"),
                    "unknown dataset; expected \"mnist1d\"",
                ));
            }
        };
        let family = match raw.model.family.as_str() {
            "mlp" => Family::Mlp,
            other => {
                return Err(check.fail(
                    "model.family",
                    format!("{other:?}"),
                    "unknown family; expected \"mlp\"",
                ));
            }
        };
        let width = check.positive("model.width", raw.model.width)?;
        let init = raw.model.init.unwrap_or(InitScheme::KaimingNormal);
        if let Some((key, value)) = init.invalid_variance() {
            let key = format!("model.init.{key}");
            return Err(check.fail(&key, value, "must be zero or a positive number"));
        }

        let variants = check.variants("sweep.variants", &raw.sweep.variants)?;
        let depths = check.distinct_positive("sweep.depths", &raw.sweep.depths)?;
        let seeds = check.seeds("sweep.seeds", &raw.sweep.seeds)?;

        let training = raw.training;
        if let Some(optimizer) = &training.optimizer
            && optimizer != "sgd"
        {
            return Err(check.fail(
                "training.optimizer",
                format!("{optimizer:?}"),
                "unknown optimizer; expected \"sgd\"",
            ));
        }
        let learning_rate =
            check.positive_float("training.learning_rate", training.learning_rate)?;
        let momentum = training.momentum.unwrap_or(0.9);
        if !(0.0..1.0).contains(&momentum) {
            return Err(check.fail("training.momentum", momentum, "must be in [0, 1)"));
        }
        let weight_decay = training.weight_decay.unwrap_or(0.0);
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(check.fail(
                "training.weight_decay",
                weight_decay,
                "must be zero or positive",
            ));
        }
        let batch_size = check.positive("training.batch_size", training.batch_size)?;
        let num_epochs = check.positive("training.num_epochs", training.num_epochs)?;
        let schedule = match training.schedule {
            Some(schedule) => Some(StepSchedule {
                step_size: check.positive("training.schedule.step_size", schedule.step_size)?,
                gamma: check.positive_float("training.schedule.gamma", schedule.gamma)?,
            }),
            None => None,
        };

        let probe_batch_size = match raw.probe.and_then(|probe| probe.batch_size) {
            Some(size) => check.positive("probe.batch_size", size)?,
            None => 1000,
        };
        let batch_norm = variants.iter().any(|variant| variant.has_batch_norm());
        if batch_norm && (batch_size < 2 || probe_batch_size < 2) {
            let (key, value) = if batch_size < 2 {
                ("training.batch_size", batch_size)
            } else {
                ("probe.batch_size", probe_batch_size)
            };
            return Err(check.fail(key, value, "batch norm needs at least 2 samples per batch"));
        }

        Ok(SweepConfig {
            name,
            dataset,
            family,
            width,
            init,
            variants,
            depths,
            seeds,
            training: TrainingConfig {
                learning_rate,
                momentum,
                weight_decay,
                batch_size,
                num_epochs,
                schedule,
            },
            probe_batch_size,
        })
    }

    /// Returns the run configs, variants outermost, then depths, then seeds.
    pub fn runs(&self) -> Vec<RunConfig> {
        let mut runs = Vec::new();
        for &variant in &self.variants {
            for &depth in &self.depths {
                for &seed in &self.seeds {
                    runs.push(RunConfig {
                        dataset: self.dataset,
                        family: self.family,
                        variant,
                        depth,
                        width: self.width,
                        init: self.init,
                        seed,
                        training: self.training,
                        probe_batch_size: self.probe_batch_size,
                    });
                }
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
[dataset]
name = "mnist1d"
[model]
family = "mlp"
width = 100
[sweep]
variants = ["plain", "residual-bn"]
depths = [2, 8]
seeds = [0, 1, 2]
[training]
learning_rate = 0.05
batch_size = 100
num_epochs = 40
schedule = { step_size = 20, gamma = 0.5 }
"#;

    fn parse(text: &str) -> Result<SweepConfig, ConfigError> {
        SweepConfig::parse(text, Path::new("experiments/depth.toml"))
    }

    #[test]
    fn defaults_are_filled_in() {
        let config = parse(VALID).unwrap();
        assert_eq!(config.name, "depth");
        assert_eq!(config.init, InitScheme::KaimingNormal);
        assert_eq!(config.training.momentum, 0.9);
        assert_eq!(config.training.weight_decay, 0.0);
        assert_eq!(config.probe_batch_size, 1000);
    }

    #[test]
    fn runs_are_the_cartesian_product() {
        let runs = parse(VALID).unwrap().runs();
        assert_eq!(runs.len(), 2 * 2 * 3);
        assert_eq!(runs[0].variant, Variant::Plain);
        assert_eq!((runs[0].depth, runs[0].seed), (2, 0));
        assert_eq!(
            (runs[11].variant, runs[11].depth, runs[11].seed),
            (Variant::ResidualBn, 8, 2)
        );
    }

    #[test]
    fn run_ids_are_stable_and_distinct() {
        let runs = parse(VALID).unwrap().runs();
        let again = parse(VALID).unwrap().runs();
        assert_eq!(runs[0].id(), again[0].id());
        assert!(
            runs[0].id().starts_with("plain-d002-s0-"),
            "{}",
            runs[0].id()
        );
        let mut ids: Vec<String> = runs.iter().map(RunConfig::id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), runs.len());

        let mut changed = runs[0].clone();
        changed.training.learning_rate = 0.1;
        assert_ne!(changed.id(), runs[0].id());
    }

    #[test]
    fn step_schedule_halves_every_20_epochs() {
        let training = parse(VALID).unwrap().training;
        assert_eq!(training.learning_rate_at(1), 0.05);
        assert_eq!(training.learning_rate_at(20), 0.05);
        assert_eq!(training.learning_rate_at(21), 0.025);
        assert_eq!(training.learning_rate_at(41), 0.0125);
    }

    #[test]
    fn errors_name_key_and_value() {
        let cases = [
            ("width = 100", "width = 0", "model.width = 0"),
            (
                "depths = [2, 8]",
                "depths = [2, 2]",
                "sweep.depths[1] = 2: listed twice",
            ),
            ("seeds = [0, 1, 2]", "seeds = [-1]", "sweep.seeds[0] = -1"),
            (
                "batch_size = 100",
                "batch_size = 1",
                "training.batch_size = 1: batch norm",
            ),
            ("gamma = 0.5", "gamma = 0.0", "training.schedule.gamma = 0"),
            (
                "family = \"mlp\"",
                "family = \"cnn\"",
                "model.family = \"cnn\"",
            ),
        ];
        for (from, to, expected) in cases {
            let error = parse(&VALID.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(error.contains("experiments/depth.toml"), "{error}");
            assert!(
                error.contains(expected),
                "expected {expected:?} in {error:?}"
            );
        }
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = parse(&VALID.replacen("width = 100", "width = 100\nwdith = 3", 1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `wdith`"), "{error}");
    }

    #[test]
    fn reference_configs_parse() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
        for name in ["mnist1d-depth", "mnist1d-lesion", "udl-11-2", "smoke"] {
            let path = folder.join(format!("{name}.toml"));
            let config = SweepConfig::load(&path).unwrap();
            assert_eq!(config.name, name);
        }
        let reference = SweepConfig::load(&folder.join("mnist1d-depth.toml")).unwrap();
        assert_eq!(reference.runs().len(), 4 * 6 * 3);
    }
}
