//! Running a sweep: pending runs in parallel, resumable, each written atomically.

use std::fs::{self, File, TryLockError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use data::Dataset;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::{Backend, Engine};
use crate::config::{DatasetName, RunConfig, SweepConfig};
use crate::results::{EpochMetrics, RunStatus, SweepDir, SweepManifest, write_json};
use crate::shard::Shard;
use crate::train::{EpochObserver, train_run};

/// State of a run of the sweep after this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Trained through all epochs.
    Completed,
    /// Stopped at `epoch` because a loss became NaN or infinite.
    Diverged { epoch: usize },
    /// Another process holds the run's lock and is training it.
    Busy,
}

/// The outcome of one run and whether this invocation trained it.
type RunResult = Result<(RunOutcome, bool)>;

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The sweep writes into `<results_root>/<sweep name>/`.
    pub results_root: PathBuf,
    /// Runs trained at once, one per thread; capped at the number of pending runs.
    pub jobs: usize,
    /// Hide the progress bar.
    pub quiet: bool,
    pub backend: Backend,
    /// The training step of MLP runs.
    pub engine: Engine,
    /// The part of the sweep this process trains.
    pub shard: Shard,
}

/// Counts and ids of a sweep's runs by outcome, over every run of the sweep.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Runs trained by this invocation.
    pub trained: usize,
    /// Runs finished by an earlier invocation or by another process.
    pub already_finished: usize,
    pub completed: usize,
    /// Run ids that diverged, with the epoch.
    pub diverged: Vec<(String, usize)>,
    /// Run ids that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// Run ids being trained by another process.
    pub busy: Vec<String>,
    /// The sweep's results folder.
    pub dir: PathBuf,
}

impl SweepOutcome {
    fn record(&mut self, run_id: String, result: RunResult) {
        match result {
            Ok((outcome, trained)) => {
                if outcome != RunOutcome::Busy {
                    match trained {
                        true => self.trained += 1,
                        false => self.already_finished += 1,
                    }
                }
                match outcome {
                    RunOutcome::Completed => self.completed += 1,
                    RunOutcome::Diverged { epoch } => self.diverged.push((run_id, epoch)),
                    RunOutcome::Busy => self.busy.push(run_id),
                }
            }
            Err(error) => self.failed.push((run_id, format!("{error:#}"))),
        }
    }
}

/// Returns MNIST-1D with the reference package's defaults (4000 train, 1000 test samples).
pub fn mnist1d_dataset() -> Result<Dataset> {
    let mnist1d = data::mnist1d::generate(&data::mnist1d::Mnist1dArgs::default())
        .context("failed to generate MNIST-1D")?;
    Ok(mnist1d.into_dataset())
}

/// Loads the dataset a sweep trains on: reads or generates it, keeps the configured numbers of
/// samples and normalises them.
pub fn load_dataset(sweep: &SweepConfig) -> Result<Dataset> {
    let name = sweep.dataset;
    let fashion_folder = Path::new(data::idx::FASHION_MNIST_DEBIAN_DIR);
    let mut dataset = match (name, sweep.data_path.as_deref()) {
        (DatasetName::Mnist1d, _) => mnist1d_dataset()?,
        (DatasetName::FashionMnist, path) => {
            data::idx::load_idx_dataset(name.name(), path.unwrap_or(fashion_folder))?
        }
        (DatasetName::Mnist, Some(path)) => data::idx::load_idx_dataset(name.name(), path)?,
        (DatasetName::Cifar10, Some(path)) => data::cifar10::load(path)?,
        (_, None) => bail!(
            "dataset {} needs `path` in the config's [dataset] table",
            name.name()
        ),
    };
    let options = &sweep.data;
    if let Some(count) = options.train_samples {
        dataset.train = dataset.train.take(count);
    }
    if let Some(count) = options.test_samples {
        dataset.test = dataset.test.take(count);
    }
    dataset.normalise(options.normalisation);
    Ok(dataset)
}

struct Progress {
    bar: ProgressBar,
}

impl EpochObserver for Progress {
    fn epoch_finished(&self, run_id: &str, metrics: &EpochMetrics) {
        if metrics.epoch > 0 {
            self.bar.inc(1);
        }
        tracing::debug!(
            run_id,
            epoch = metrics.epoch,
            train_error = metrics.train_error,
            test_error = metrics.test_error,
            "epoch finished"
        );
    }
}

/// Removes folders left by interrupted attempts at `run_id` (`<run-id>.partial-<pid>`).
fn remove_partial_folders(runs: &Path, run_id: &str) -> Result<()> {
    let prefix = format!("{run_id}.partial-");
    for entry in fs::read_dir(runs).with_context(|| format!("failed to list {}", runs.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            tracing::info!(path = %entry.path().display(), "removing unfinished run");
            fs::remove_dir_all(entry.path())
                .with_context(|| format!("failed to remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Returns the outcome stored in a finished run's summary.
fn finished_outcome(dir: &SweepDir, run_id: &str) -> Result<RunOutcome> {
    let summary = dir.read_summary(run_id)?;
    Ok(match summary.status {
        RunStatus::Completed => RunOutcome::Completed,
        RunStatus::Diverged => RunOutcome::Diverged {
            epoch: summary.diverged_epoch.unwrap_or(0),
        },
    })
}

/// Trains one run in a partial folder and renames it into place once its summary is written.
///
/// The run's lock file (`locks/<run-id>.lock`, an advisory `flock`) is held throughout, so two
/// processes sharing a results folder never train the same run or delete each other's partial
/// folders. The operating system releases the lock when a process dies.
fn run_one(
    config: &RunConfig,
    dataset: &Dataset,
    backend: Backend,
    engine: Engine,
    dir: &SweepDir,
    observer: &dyn EpochObserver,
) -> RunResult {
    let run_id = config.id();
    let lock_path = dir.locks().join(format!("{run_id}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("failed to open {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok((RunOutcome::Busy, false)),
        Err(TryLockError::Error(error)) => {
            return Err(error).with_context(|| format!("failed to lock {}", lock_path.display()));
        }
    }
    if dir.is_finished(&run_id) {
        return Ok((finished_outcome(dir, &run_id)?, false));
    }

    // With the lock held, leftovers of this run belong to no live process.
    remove_partial_folders(&dir.runs(), &run_id)?;
    let finished = dir.run(&run_id);
    if finished.exists() {
        tracing::warn!(path = %finished.display(), "removing run folder without summary.json");
        fs::remove_dir_all(&finished)
            .with_context(|| format!("failed to remove {}", finished.display()))?;
    }
    let partial = dir
        .runs()
        .join(format!("{run_id}.partial-{}", std::process::id()));
    let device = backend.device()?.autodiff();

    let trained = catch_unwind(AssertUnwindSafe(|| {
        train_run(config, dataset, &device, &partial, observer, engine)
    }));
    let summary = match trained {
        Ok(result) => result?,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            return Err(anyhow!("training panicked: {message}"));
        }
    };
    fs::rename(&partial, &finished).with_context(|| {
        format!(
            "failed to move {} to {}",
            partial.display(),
            finished.display()
        )
    })?;

    let outcome = match summary.status {
        RunStatus::Completed => RunOutcome::Completed,
        RunStatus::Diverged => RunOutcome::Diverged {
            epoch: summary.diverged_epoch.unwrap_or(0),
        },
    };
    Ok((outcome, true))
}

/// Logs how a run ended and advances the progress bar past the epochs a diverged run skipped.
fn report(run: &RunConfig, result: &RunResult, bar: &ProgressBar) {
    let run_id = run.id();
    match result {
        Ok((RunOutcome::Completed, true)) => tracing::info!(run_id, "run completed"),
        Ok((RunOutcome::Diverged { epoch }, true)) => {
            tracing::warn!(run_id, epoch, "run diverged");
            let trained_epochs = epoch.saturating_sub(1);
            bar.inc((run.training.num_epochs - trained_epochs) as u64);
        }
        Ok((RunOutcome::Busy, _)) => {
            tracing::warn!(
                run_id,
                "run is being trained by another process; skipping it"
            );
            bar.inc(run.training.num_epochs as u64);
        }
        Ok((_, false)) => {
            tracing::info!(run_id, "run was finished by another process");
            bar.inc(run.training.num_epochs as u64);
        }
        Err(error) => {
            tracing::debug!(run_id, error = format!("{error:#}"), "run failed");
            bar.inc(run.training.num_epochs as u64);
        }
    }
}

/// Runs every unfinished run of `config`, then returns what happened.
///
/// Finished runs (a `runs/<run-id>/summary.json`) are skipped. A failed or diverged run does not
/// stop the others.
pub fn run_sweep(config: &SweepConfig, options: &SweepOptions) -> Result<SweepOutcome> {
    let dir = SweepDir::new(options.results_root.join(&config.name));
    let runs = config.runs();
    let manifest = SweepManifest {
        sweep: config.clone(),
        run_ids: runs.iter().map(RunConfig::id).collect(),
    };

    let mut outcome = SweepOutcome {
        dir: dir.root.clone(),
        ..SweepOutcome::default()
    };
    let mut pending = Vec::new();
    for run in options.shard.select(runs) {
        let run_id = run.id();
        if dir.is_finished(&run_id) {
            let result = finished_outcome(&dir, &run_id).map(|finished| (finished, false));
            outcome.record(run_id, result);
        } else {
            pending.push(run);
        }
    }
    // The data is read before anything is written, so that a missing or damaged file leaves no
    // results folder behind.
    let dataset = if pending.is_empty() {
        None
    } else {
        Some(Arc::new(load_dataset(config)?))
    };
    for folder in [dir.runs(), dir.locks()] {
        fs::create_dir_all(&folder)
            .with_context(|| format!("failed to create {}", folder.display()))?;
    }
    warn_if_manifest_changes(&dir, &manifest);
    write_json(&dir.manifest(), &manifest)?;

    let engine = options.engine.on(options.backend);
    // Deepest runs first, so that the longest ones do not start last.
    pending.sort_by_key(|run| std::cmp::Reverse(run.depth));
    let jobs = options.jobs.min(pending.len()).max(1);
    tracing::info!(
        sweep = config.name,
        pending = pending.len(),
        finished = outcome.already_finished,
        jobs,
        shard = %options.shard,
        backend = options.backend.name(),
        engine = ?engine,
        "starting sweep"
    );
    let Some(dataset) = dataset else {
        return Ok(outcome);
    };
    let total_epochs = (pending.len() * config.training.num_epochs) as u64;
    let bar = ProgressBar::new(total_epochs);
    if options.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    crate::logging::set_progress_bar(&bar);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} epochs, {elapsed} elapsed, ~{eta} left",
        )
        .expect("progress template is valid")
        .progress_chars("=> "),
    );
    let run_count = pending.len();
    bar.set_prefix(format!("0/{run_count} runs"));
    let progress = Progress { bar: bar.clone() };

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .context("failed to start the thread pool")?;
    // Each worker takes the next pending run from a shared counter, so runs start deepest first
    // whatever the number of jobs. Results do not depend on that order.
    let next_run = AtomicUsize::new(0);
    let finished_runs = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(run_count));
    pool.scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|_| {
                loop {
                    let index = next_run.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = pending.get(index) else { break };
                    let result = run_one(run, &dataset, options.backend, engine, &dir, &progress);
                    let done = finished_runs.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_prefix(format!("{done}/{run_count} runs"));
                    report(run, &result, &bar);
                    let mut results = results.lock().expect("no worker panicked holding the lock");
                    results.push((run.id(), result));
                }
            });
        }
    });
    bar.finish_and_clear();

    let results = results
        .into_inner()
        .expect("no worker panicked holding the lock");
    for (run_id, result) in results {
        outcome.record(run_id, result);
    }
    Ok(outcome)
}

/// Warns when the results folder was last written by a different sweep config. Its runs stay
/// in `runs/`, and the charts show only the new config's runs.
fn warn_if_manifest_changes(dir: &SweepDir, manifest: &SweepManifest) {
    let Ok(previous) = dir.read_manifest() else {
        return;
    };
    if previous.sweep != manifest.sweep {
        tracing::warn!(
            path = %dir.manifest().display(),
            "the results folder belonged to a different sweep config; \
             charts will show only this config's runs (set another `name` to keep both apart)"
        );
    }
}
