//! The results folder: what each run stores, written atomically, and how it is read back.
//!
//! ```text
//! <results>/<sweep>/sweep.json               resolved sweep config and its run ids
//! <results>/<sweep>/runs/<run-id>/config.json    resolved run config
//! <results>/<sweep>/runs/<run-id>/init.json      statistics at initialisation
//! <results>/<sweep>/runs/<run-id>/metrics.jsonl  one line per epoch (epoch 0 is at init)
//! <results>/<sweep>/runs/<run-id>/model.bpk      trained network (completed runs only)
//! <results>/<sweep>/runs/<run-id>/summary.json   final status and errors
//! <results>/<sweep>/charts/                      charts and summary tables
//! ```
//!
//! A run is trained in `runs/<run-id>.partial-<pid>/` and renamed to `runs/<run-id>/` once its
//! summary is written, so a folder named after a run id always contains a finished run.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tempfile::NamedTempFile;

use crate::backend::Engine;
use crate::config::{RunConfig, SweepConfig};

/// Statistics of one activation `h_k` over the probe batch at initialisation; NaN (`null` in
/// JSON) where a value overflowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationStats {
    /// Layer index `k`: 0 is the stem's output, `k` the output of block `k`.
    pub layer: usize,
    /// Mean over all units and samples.
    #[serde(with = "nullable_float")]
    pub mean: f64,
    /// Standard deviation over all units and samples.
    #[serde(with = "nullable_float")]
    pub std: f64,
    /// Mean of the squared values.
    #[serde(with = "nullable_float")]
    pub mean_square: f64,
}

/// Gradient of the probe loss with respect to one linear layer's weight, at initialisation; NaN
/// (`null` in JSON) where a value overflowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightGradStats {
    /// Position among the linear layers: 0 is the stem, `depth + 1` the head.
    pub layer: usize,
    /// `stem`, `block <k>` or `head`.
    pub name: String,
    /// Frobenius norm of the weight.
    #[serde(with = "nullable_float")]
    pub weight_norm: f64,
    /// Frobenius norm of the loss gradient with respect to the weight.
    #[serde(with = "nullable_float")]
    pub grad_norm: f64,
}

/// Gradient of the probe loss with respect to one activation `h_k`, at initialisation; NaN
/// (`null` in JSON) where it overflowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationGradStats {
    /// Layer index `k`, as in [`ActivationStats`].
    pub layer: usize,
    /// Frobenius norm over the probe batch of the loss gradient with respect to `h_k`.
    #[serde(with = "nullable_float")]
    pub grad_norm: f64,
}

/// Statistics a run records at initialisation, before any training step (`init.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitStats {
    /// Samples in the probe batch (the first samples of the training split).
    pub probe_batch_size: usize,
    /// Cross-entropy of the probe batch; `None` when not finite.
    pub loss: Option<f64>,
    /// One entry per activation `h_0..h_depth`, batch norm in train mode.
    pub activations: Vec<ActivationStats>,
    /// One entry per linear layer, from one backward pass of the probe loss.
    pub weight_grads: Vec<WeightGradStats>,
    /// One entry per activation `h_0..h_depth`, from the same backward pass. Empty in results
    /// written before this field existed.
    #[serde(default)]
    pub activation_grads: Vec<ActivationGradStats>,
}

/// Metrics after one epoch (one line of `metrics.jsonl`). Epoch 0 is measured at initialisation.
///
/// Losses are mean cross-entropy and errors the fraction misclassified, both over the whole split
/// in eval mode. A non-finite loss is stored as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Learning rate used during this epoch; 0 at epoch 0.
    pub learning_rate: f64,
    /// Mean loss of the training steps of this epoch, in train mode; `None` at epoch 0.
    pub batch_loss: Option<f64>,
    pub train_loss: Option<f64>,
    pub train_error: f64,
    pub test_loss: Option<f64>,
    pub test_error: f64,
    /// Seconds since the run started.
    pub elapsed_seconds: f64,
}

/// Final status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// All epochs ran with finite losses.
    Completed,
    /// A loss became NaN or infinite; training stopped.
    Diverged,
}

/// The final state of a run (`summary.json`); its presence marks the run finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub status: RunStatus,
    /// Epoch during which the loss stopped being finite (0: already at initialisation).
    pub diverged_epoch: Option<usize>,
    /// Epochs fully trained and evaluated.
    pub epochs_completed: usize,
    /// Metrics after the last completed epoch; `None` for a diverged run.
    pub final_train_loss: Option<f64>,
    pub final_train_error: Option<f64>,
    pub final_test_loss: Option<f64>,
    pub final_test_error: Option<f64>,
    /// Wall time of the run, probes and evaluation included.
    pub wall_seconds: f64,
    /// The code that computed the training steps; absent in runs trained before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
}

/// `sweep.json`: the resolved sweep and the ids of its runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    pub sweep: SweepConfig,
    pub run_ids: Vec<String>,
}

/// One finished run, read back from its folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub config: RunConfig,
    pub init: InitStats,
    pub metrics: Vec<EpochMetrics>,
    pub summary: RunSummary,
}

/// A sweep's finished runs, read back from its results folder.
#[derive(Debug, Clone)]
pub struct SweepResults {
    pub manifest: SweepManifest,
    /// Finished runs listed in the manifest, in manifest order.
    pub runs: Vec<RunRecord>,
    /// Run ids in the manifest without a finished run folder.
    pub missing: Vec<String>,
}

/// Stores a non-finite `f64` as JSON `null` and reads `null` back as NaN, since JSON has no NaN
/// or infinity. Used for statistics that overflow at initialisation in very deep networks.
mod nullable_float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        match value.is_finite() {
            true => serializer.serialize_f64(*value),
            false => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }
}

/// Returns a JSON number or `None` for a non-finite value (JSON has no NaN).
pub fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk,
/// then renamed over `path`. Readers see the old file or the new one, never a part, and a
/// process killed midway leaves at most a hidden `.tmp*` file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = path.parent().context("path has no parent folder")?;
    let write = || -> std::io::Result<()> {
        let mut file = NamedTempFile::new_in(folder)?;
        // A temporary file is created readable by its owner only; results are for everyone.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))?;
        }
        file.write_all(bytes)?;
        file.as_file().sync_all()?;
        file.persist(path)?;
        Ok(())
    };
    write().with_context(|| format!("failed to write {}", path.display()))
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value)?;
    json.push(b'\n');
    write_atomic(path, &json)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid JSON in {}", path.display()))
}

fn damaged_run_hint(folder: &Path) -> String {
    format!(
        "run folder {} is damaged; delete it and rerun the sweep to train the run again",
        folder.display()
    )
}

/// Paths inside a sweep's results folder.
#[derive(Debug, Clone)]
pub struct SweepDir {
    pub root: PathBuf,
}

impl SweepDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn manifest(&self) -> PathBuf {
        self.root.join("sweep.json")
    }

    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Folder of the per-run lock files that keep two processes from training the same run.
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub fn charts(&self) -> PathBuf {
        self.root.join("charts")
    }

    /// Folder of a finished run.
    pub fn run(&self, run_id: &str) -> PathBuf {
        self.runs().join(run_id)
    }

    /// Returns true when the run's folder contains a summary.
    pub fn is_finished(&self, run_id: &str) -> bool {
        self.run(run_id).join("summary.json").is_file()
    }

    /// Reads the manifest and every finished run it lists.
    pub fn load(&self) -> Result<SweepResults> {
        let manifest_path = self.manifest();
        if !manifest_path.is_file() {
            bail!(
                "{} is not a sweep results folder: {} not found",
                self.root.display(),
                manifest_path.display()
            );
        }
        let manifest = self.read_manifest()?;
        let mut runs = Vec::new();
        let mut missing = Vec::new();
        for run_id in &manifest.run_ids {
            if !self.is_finished(run_id) {
                missing.push(run_id.clone());
                continue;
            }
            runs.push(self.load_run(run_id)?);
        }
        Ok(SweepResults {
            manifest,
            runs,
            missing,
        })
    }

    /// Reads `sweep.json`.
    pub fn read_manifest(&self) -> Result<SweepManifest> {
        read_json(&self.manifest())
    }

    /// Reads a finished run's `summary.json`.
    pub fn read_summary(&self, run_id: &str) -> Result<RunSummary> {
        let path = self.run(run_id).join("summary.json");
        read_json(&path).with_context(|| damaged_run_hint(&self.run(run_id)))
    }

    /// Reads one finished run.
    pub fn load_run(&self, run_id: &str) -> Result<RunRecord> {
        let folder = self.run(run_id);
        self.read_run(&folder)
            .with_context(|| damaged_run_hint(&folder))
    }

    fn read_run(&self, folder: &Path) -> Result<RunRecord> {
        let config = read_json(&folder.join("config.json"))?;
        let init = read_json(&folder.join("init.json"))?;
        let summary = read_json(&folder.join("summary.json"))?;
        let metrics_path = folder.join("metrics.jsonl");
        let text = fs::read_to_string(&metrics_path)
            .with_context(|| format!("failed to read {}", metrics_path.display()))?;
        let mut metrics = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let epoch: EpochMetrics = serde_json::from_str(line).with_context(|| {
                format!(
                    "invalid JSON on line {} of {}",
                    index + 1,
                    metrics_path.display()
                )
            })?;
            metrics.push(epoch);
        }
        if metrics.is_empty() {
            bail!("{} has no epochs", metrics_path.display());
        }
        Ok(RunRecord {
            config,
            init,
            metrics,
            summary,
        })
    }
}
