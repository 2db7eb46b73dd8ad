//! Sweep configs: the TOML file as written, and the validated sweep it describes.
//!
//! Loading happens in two stages. [`RawSweepConfig`] mirrors the TOML exactly and rejects
//! unknown keys; [`SweepConfig::from_raw`] checks every value and fills in the documented
//! defaults. The resolved [`RunConfig`] of each run is what gets saved and hashed into its id.

use std::fmt;
use std::path::{Path, PathBuf};

use data::Normalisation;
use model::{CnnConfig, InitScheme, Shortcut, Variant};
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
    /// Dataset name: `mnist1d`, `fashion-mnist`, `mnist` or `cifar10`.
    pub name: String,
    /// Folder holding the dataset's files, relative to the config file or absolute. Required
    /// for `mnist` and `cifar10`; `fashion-mnist` defaults to the Debian package's folder.
    pub path: Option<String>,
    /// Train on the first this many training samples. Default: all.
    pub train_samples: Option<i64>,
    /// Evaluate on the first this many test samples. Default: all.
    pub test_samples: Option<i64>,
    /// `none`, `per-channel` or `per-pixel-mean`, with statistics of the training samples used.
    /// Default: `per-channel` for images, `none` for MNIST-1D.
    pub normalisation: Option<Normalisation>,
    /// Random crops and flips of each training batch. Default: none.
    pub augmentation: Option<RawAugmentation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAugmentation {
    /// Zeros added on each side before a random crop of the original size.
    pub pad: i64,
    /// Flip horizontally with probability 1/2.
    pub flip: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// Network family: `mlp` or `cnn`.
    pub family: String,
    /// MLP: width of every hidden layer (required). CNN: filters in the first stage
    /// (default 16).
    pub width: Option<i64>,
    /// Weight initialisation. Default: `kaiming-normal`.
    pub init: Option<InitScheme>,
    /// CNN only: `a` (zero-padded identity) or `b` (projection) where a stage changes shape.
    /// Default: `a`.
    pub shortcut: Option<Shortcut>,
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
    /// Optional step schedule: multiply the learning rate by `gamma` every `step_size` epochs,
    /// or at each epoch listed in `milestones`.
    pub schedule: Option<RawSchedule>,
    /// Optional warm-up: train the first `epochs` epochs at `learning_rate`.
    pub warmup: Option<RawWarmup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub step_size: Option<i64>,
    pub milestones: Option<Vec<i64>>,
    pub gamma: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarmup {
    pub epochs: i64,
    pub learning_rate: f64,
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
    /// MNIST digits, from IDX files.
    Mnist,
    /// Fashion-MNIST (Xiao et al. 2017), from IDX files.
    FashionMnist,
    /// CIFAR-10, from the binary version's files.
    Cifar10,
}

impl DatasetName {
    /// Every dataset, in the order error messages list them.
    pub const ALL: [DatasetName; 4] = [
        DatasetName::Mnist1d,
        DatasetName::FashionMnist,
        DatasetName::Mnist,
        DatasetName::Cifar10,
    ];

    /// Returns the name used in configs, for example `fashion-mnist`.
    pub fn name(self) -> &'static str {
        match self {
            DatasetName::Mnist1d => "mnist1d",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Cifar10 => "cifar10",
        }
    }

    /// Returns the shape of one sample: `[40]`, or `[channels, height, width]` for images.
    pub fn sample_shape(self) -> Vec<usize> {
        match self {
            DatasetName::Mnist1d => vec![40],
            DatasetName::Mnist | DatasetName::FashionMnist => vec![1, 28, 28],
            DatasetName::Cifar10 => vec![3, 32, 32],
        }
    }

    /// Returns the number of values in one sample.
    pub fn sample_size(self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Returns the number of classes.
    pub fn num_classes(self) -> usize {
        10
    }

    /// Returns true for the image datasets.
    pub fn is_image(self) -> bool {
        self != DatasetName::Mnist1d
    }
}

/// Random crops and flips applied to each training batch (He et al. 2016: pad 4, flip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AugmentationConfig {
    /// Zeros added on each side before a random crop of the original size.
    pub pad: usize,
    /// Flip horizontally with probability 1/2.
    pub flip: bool,
}

/// Choice and transformation of a run's training and test samples. The default (every
/// sample, no normalisation, no augmentation) is MNIST-1D's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DataOptions {
    /// Train on the first this many training samples; `None` uses all.
    pub train_samples: Option<usize>,
    /// Evaluate on the first this many test samples; `None` uses all.
    pub test_samples: Option<usize>,
    /// Normalisation with statistics of the training samples used.
    pub normalisation: Normalisation,
    /// Augmentation of training batches.
    pub augmentation: Option<AugmentationConfig>,
}

impl Default for DataOptions {
    fn default() -> Self {
        Self {
            train_samples: None,
            test_samples: None,
            normalisation: Normalisation::None,
            augmentation: None,
        }
    }
}

impl DataOptions {
    /// Returns true for the default options, which run configs leave out.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Network families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// [`model::Mlp`].
    Mlp,
    /// [`model::Cnn`]; depths count weighted layers, `6n + 2`.
    Cnn,
}

/// Learning-rate schedule, stepped once per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Schedule {
    /// PyTorch's `StepLR`: multiply by `gamma` every `step_size` epochs.
    Step {
        /// Epochs between two decays.
        step_size: usize,
        /// Factor applied at each decay.
        gamma: f64,
    },
    /// PyTorch's `MultiStepLR`: multiply by `gamma` after each epoch listed.
    Milestones {
        /// Epochs after which the rate decays, increasing.
        milestones: Vec<usize>,
        /// Factor applied at each decay.
        gamma: f64,
    },
}

/// A constant learning rate for the first epochs (He et al. 2016 warm up ResNet-110 at 0.01).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// Epochs at the warm-up rate.
    pub epochs: usize,
    /// Learning rate during warm-up.
    pub learning_rate: f64,
}

/// The validated training recipe shared by every run of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub schedule: Option<Schedule>,
    /// Warm-up before the schedule; `None` starts at `learning_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Warmup>,
}

impl TrainingConfig {
    /// Returns the learning rate used during `epoch` (counted from 1).
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        if let Some(warmup) = self.warmup
            && epoch <= warmup.epochs
        {
            return warmup.learning_rate;
        }
        match &self.schedule {
            Some(Schedule::Step { step_size, gamma }) => {
                let decays = (epoch - 1) / step_size;
                self.learning_rate * gamma.powi(decays as i32)
            }
            Some(Schedule::Milestones { milestones, gamma }) => {
                let decays = milestones.iter().filter(|&&m| m < epoch).count();
                self.learning_rate * gamma.powi(decays as i32)
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
    /// Folder of the dataset's files, resolved against the config file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "DataOptions::is_default")]
    pub data: DataOptions,
    pub family: Family,
    pub width: usize,
    pub init: InitScheme,
    /// CNN only: the shortcut where a stage changes shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortcut: Option<Shortcut>,
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
    #[serde(default, skip_serializing_if = "DataOptions::is_default")]
    pub data: DataOptions,
    pub family: Family,
    pub variant: Variant,
    /// MLP: blocks. CNN: weighted layers, `6n + 2`.
    pub depth: usize,
    /// MLP: width of every hidden layer. CNN: filters in the first stage.
    pub width: usize,
    pub init: InitScheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortcut: Option<Shortcut>,
    pub seed: u64,
    pub training: TrainingConfig,
    pub probe_batch_size: usize,
}

impl RunConfig {
    /// Returns the CNN of this run for images of `sample_shape` `[channels, height, width]`, or
    /// `None` for an MLP.
    pub fn cnn_config(&self, sample_shape: &[usize], num_classes: usize) -> Option<CnnConfig> {
        let blocks_per_stage = CnnConfig::blocks_for_layers(self.depth)?;
        (self.family == Family::Cnn).then(|| CnnConfig {
            in_channels: sample_shape[0],
            image_size: [sample_shape[1], sample_shape[2]],
            base_width: self.width,
            blocks_per_stage,
            num_classes,
            variant: self.variant,
            shortcut: self.shortcut.unwrap_or(Shortcut::ZeroPad),
            init: self.init,
        })
    }

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

    /// Checks the `[dataset]` table of an existing dataset and returns the data folder (resolved
    /// against the config file's folder) and the sample options.
    fn data(
        &self,
        dataset: DatasetName,
        raw: &RawDataset,
    ) -> Result<(Option<PathBuf>, DataOptions), ConfigError> {
        let data_path = match (dataset, &raw.path) {
            (DatasetName::Mnist1d, Some(path)) => {
                return Err(self.fail(
                    "dataset.path",
                    format!("{path:?}"),
                    "MNIST-1D is generated, not read from files; remove `path`",
                ));
            }
            (_, Some(path)) => {
                let folder = self.path.parent().unwrap_or(Path::new(""));
                Some(folder.join(path))
            }
            (DatasetName::Mnist | DatasetName::Cifar10, None) => {
                return Err(self.fail(
                    "dataset.path",
                    "(missing)",
                    &format!(
                        "name the folder holding the {} files, for example `path = \"/data/{}\"`",
                        dataset.name(),
                        dataset.name()
                    ),
                ));
            }
            _ => None,
        };
        let samples = |key: &str, value: Option<i64>| match value {
            Some(value) => self.positive(key, value).map(Some),
            None => Ok(None),
        };
        let normalisation = match (dataset, raw.normalisation) {
            (DatasetName::Mnist1d, None | Some(Normalisation::None)) => Normalisation::None,
            (DatasetName::Mnist1d, Some(other)) => {
                return Err(self.fail(
                    "dataset.normalisation",
                    format!("{other:?}"),
                    "MNIST-1D is used as generated; remove `normalisation`",
                ));
            }
            (_, normalisation) => normalisation.unwrap_or(Normalisation::PerChannel),
        };
        let augmentation = match &raw.augmentation {
            Some(_) if !dataset.is_image() => {
                return Err(self.fail(
                    "dataset.augmentation",
                    "{ ... }",
                    "crops and flips apply to image datasets only; remove `augmentation`",
                ));
            }
            Some(augmentation) => {
                if !(0..=64).contains(&augmentation.pad) {
                    return Err(self.fail(
                        "dataset.augmentation.pad",
                        augmentation.pad,
                        "must be 0 to 64 pixels (He et al. 2016 use 4)",
                    ));
                }
                Some(AugmentationConfig {
                    pad: augmentation.pad as usize,
                    flip: augmentation.flip,
                })
            }
            None => None,
        };
        let options = DataOptions {
            train_samples: samples("dataset.train_samples", raw.train_samples)?,
            test_samples: samples("dataset.test_samples", raw.test_samples)?,
            normalisation,
            augmentation,
        };
        Ok((data_path, options))
    }

    /// Checks a step schedule: `step_size` or increasing `milestones`, and a positive `gamma`.
    fn schedule(&self, raw: RawSchedule) -> Result<Schedule, ConfigError> {
        let gamma = self.positive_float("training.schedule.gamma", raw.gamma)?;
        match (raw.step_size, raw.milestones) {
            (Some(step_size), None) => Ok(Schedule::Step {
                step_size: self.positive("training.schedule.step_size", step_size)?,
                gamma,
            }),
            (None, Some(milestones)) => {
                let key = "training.schedule.milestones";
                self.non_empty(key, &milestones)?;
                let mut checked: Vec<usize> = Vec::new();
                for (index, &milestone) in milestones.iter().enumerate() {
                    let key = format!("{key}[{index}]");
                    let milestone = self.positive(&key, milestone)?;
                    if checked.last().is_some_and(|&last| milestone <= last) {
                        return Err(self.fail(&key, milestone, "milestones must increase"));
                    }
                    checked.push(milestone);
                }
                Ok(Schedule::Milestones {
                    milestones: checked,
                    gamma,
                })
            }
            _ => Err(self.fail(
                "training.schedule",
                "{ ... }",
                "give exactly one of `step_size` (decay every so many epochs) and `milestones` \
                 (decay after the epochs listed)",
            )),
        }
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

        let raw_dataset = raw.dataset;
        let Some(dataset) = DatasetName::ALL
            .into_iter()
            .find(|dataset| dataset.name() == raw_dataset.name)
        else {
            return Err(check.fail(
                "dataset.name",
                format!("{:?}", raw_dataset.name),
                "unknown dataset; expected \"mnist1d\", \"fashion-mnist\", \"mnist\" or \"cifar10\"",
            ));
        };
        let (data_path, data) = check.data(dataset, &raw_dataset)?;

        let family = match raw.model.family.as_str() {
            "mlp" => Family::Mlp,
            "cnn" => Family::Cnn,
            other => {
                return Err(check.fail(
                    "model.family",
                    format!("{other:?}"),
                    "unknown family; expected \"mlp\" or \"cnn\"",
                ));
            }
        };
        let width = match (family, raw.model.width) {
            (_, Some(width)) => check.positive("model.width", width)?,
            (Family::Cnn, None) => 16,
            (Family::Mlp, None) => {
                return Err(check.fail(
                    "model.width",
                    "(missing)",
                    "an MLP needs the width of its hidden layers, for example `width = 100`",
                ));
            }
        };
        let shortcut = match (family, raw.model.shortcut) {
            (Family::Cnn, shortcut) => Some(shortcut.unwrap_or(Shortcut::ZeroPad)),
            (Family::Mlp, None) => None,
            (Family::Mlp, Some(shortcut)) => {
                return Err(check.fail(
                    "model.shortcut",
                    format!("{shortcut:?}"),
                    "applies to `family = \"cnn\"` only; remove it",
                ));
            }
        };
        if family == Family::Cnn && !dataset.is_image() {
            return Err(check.fail(
                "model.family",
                "\"cnn\"",
                &format!(
                    "needs an image dataset, and {} is not one; use \"mlp\"",
                    dataset.name()
                ),
            ));
        }
        let init = raw.model.init.unwrap_or(InitScheme::KaimingNormal);
        if let Some((key, value)) = init.invalid_variance() {
            let key = format!("model.init.{key}");
            return Err(check.fail(&key, value, "must be zero or a positive number"));
        }

        let variants = check.variants("sweep.variants", &raw.sweep.variants)?;
        let depths = check.distinct_positive("sweep.depths", &raw.sweep.depths)?;
        if family == Family::Cnn {
            for (index, &depth) in depths.iter().enumerate() {
                if CnnConfig::blocks_for_layers(depth).is_none() {
                    return Err(check.fail(
                        &format!("sweep.depths[{index}]"),
                        depth,
                        "a CNN has 6n + 2 weighted layers (8, 14, 20, 32, 44, 56, 110, ...)",
                    ));
                }
            }
        }
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
            Some(schedule) => Some(check.schedule(schedule)?),
            None => None,
        };
        let warmup = match training.warmup {
            Some(warmup) => Some(Warmup {
                epochs: check.positive("training.warmup.epochs", warmup.epochs)?,
                learning_rate: check
                    .positive_float("training.warmup.learning_rate", warmup.learning_rate)?,
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
            data_path,
            data,
            family,
            width,
            init,
            shortcut,
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
                warmup,
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
                        data: self.data,
                        family: self.family,
                        variant,
                        depth,
                        width: self.width,
                        init: self.init,
                        shortcut: self.shortcut,
                        seed,
                        training: self.training.clone(),
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

    const CNN: &str = r#"
[dataset]
name = "fashion-mnist"
train_samples = 2000
augmentation = { pad = 4, flip = true }
[model]
family = "cnn"
[sweep]
variants = ["plain-bn", "residual-bn"]
depths = [8, 20, 56]
seeds = [0]
[training]
learning_rate = 0.1
weight_decay = 1e-4
batch_size = 128
num_epochs = 10
schedule = { milestones = [5, 8], gamma = 0.1 }
warmup = { epochs = 1, learning_rate = 0.01 }
"#;

    #[test]
    fn cnn_config_defaults_and_schedule() {
        let config = parse(CNN).unwrap();
        assert_eq!(config.family, Family::Cnn);
        assert_eq!(config.width, 16);
        assert_eq!(config.shortcut, Some(Shortcut::ZeroPad));
        assert_eq!(config.data_path, None);
        assert_eq!(config.data.normalisation, Normalisation::PerChannel);
        assert_eq!(config.data.train_samples, Some(2000));
        let rates: Vec<f64> = (1..=10)
            .map(|epoch| config.training.learning_rate_at(epoch))
            .collect();
        let expected = [0.01, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001];
        for (rate, expected) in rates.iter().zip(expected) {
            assert!((rate - expected).abs() < 1e-12, "{rates:?}");
        }
        let cnn = config.runs()[0].cnn_config(&[1, 28, 28], 10).unwrap();
        assert_eq!((cnn.blocks_per_stage, cnn.in_channels), (1, 1));
    }

    #[test]
    fn cnn_errors_name_key_and_value() {
        let cases = [
            (
                "depths = [8, 20, 56]",
                "depths = [8, 21]",
                "sweep.depths[1] = 21: a CNN has 6n + 2",
            ),
            (
                "name = \"fashion-mnist\"",
                "name = \"cifar10\"",
                "dataset.path = (missing)",
            ),
            (
                "name = \"fashion-mnist\"",
                "name = \"mnist1d\"",
                "dataset.augmentation = { ... }: crops",
            ),
            ("pad = 4", "pad = -1", "dataset.augmentation.pad = -1"),
            (
                "train_samples = 2000",
                "train_samples = 0",
                "dataset.train_samples = 0",
            ),
            (
                "[5, 8]",
                "[8, 5]",
                "training.schedule.milestones[1] = 5: milestones must increase",
            ),
            (
                "milestones = [5, 8]",
                "milestones = [5], step_size = 3",
                "exactly one of `step_size`",
            ),
            ("epochs = 1,", "epochs = 0,", "training.warmup.epochs = 0"),
            (
                "family = \"cnn\"",
                "family = \"mlp\"",
                "model.width = (missing)",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(CNN.contains(from), "{from}");
            let error = parse(&CNN.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(error.contains("experiments/depth.toml"), "{error}");
            assert!(
                error.contains(expected),
                "expected {expected:?} in {error:?}"
            );
        }
        let mnist1d_cnn = VALID.replacen("family = \"mlp\"", "family = \"cnn\"", 1);
        let error = parse(&mnist1d_cnn).unwrap_err().to_string();
        assert!(
            error.contains("model.family = \"cnn\": needs an image"),
            "{error}"
        );
        let error = parse(&VALID.replacen("width = 100", "width = 100\nshortcut = \"b\"", 1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("model.shortcut"), "{error}");
    }

    #[test]
    fn data_path_is_relative_to_the_config_file() {
        let text = CNN.replacen("train_samples = 2000", "path = \"../data/fashion\"", 1);
        let config = parse(&text).unwrap();
        assert_eq!(
            config.data_path,
            Some(PathBuf::from("experiments/../data/fashion"))
        );
    }

    #[test]
    fn cifar_schedule_follows_the_paper() {
        // 391 iterations per epoch: 32k and 48k iterations end epochs 82 and 123.
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
        let config = SweepConfig::load(&folder.join("cifar10-he2016.toml")).unwrap();
        let training = &config.training;
        let rates = [
            (1, 0.01),
            (2, 0.1),
            (82, 0.1),
            (83, 0.01),
            (123, 0.01),
            (124, 0.001),
        ];
        for (epoch, expected) in rates {
            let rate = training.learning_rate_at(epoch);
            assert!((rate - expected).abs() < 1e-12, "epoch {epoch}: {rate}");
        }
        assert_eq!(training.num_epochs * 50_000_usize.div_ceil(128), 64_124);
        assert_eq!(config.runs().len(), 10);
    }

    #[test]
    fn mnist1d_run_ids_match_the_committed_results() {
        // New config keys must not change the ids of existing runs, or committed and
        // half-finished sweeps would be retrained.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = SweepConfig::load(&root.join("experiments/mnist1d-depth.toml")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("results/mnist1d-depth/sweep.json")).unwrap(),
        )
        .unwrap();
        let committed: Vec<&str> = manifest["run_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        let ids: Vec<String> = config.runs().iter().map(RunConfig::id).collect();
        assert_eq!(ids, committed);
    }

    #[test]
    fn reference_configs_parse() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
        let names = [
            "mnist1d-depth",
            "mnist1d-lesion",
            "udl-11-2",
            "smoke",
            "fashion-cnn-depth",
            "cifar10-he2016",
        ];
        for name in names {
            let path = folder.join(format!("{name}.toml"));
            let config = SweepConfig::load(&path).unwrap();
            assert_eq!(config.name, name);
        }
        let reference = SweepConfig::load(&folder.join("mnist1d-depth.toml")).unwrap();
        assert_eq!(reference.runs().len(), 4 * 6 * 3);
    }
}
