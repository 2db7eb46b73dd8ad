//! Running a sweep: pending runs in parallel, resumable, each written atomically.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use data::Dataset;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backend::Backend;
use crate::config::{DatasetName, RunConfig, SweepConfig};
use crate::results::{EpochMetrics, RunStatus, SweepDir, SweepManifest, write_json};
use crate::train::{EpochObserver, train_run};

/// The outcome of one run: its status and, for a diverged run, the epoch.
type RunResult = Result<(RunStatus, Option<usize>)>;

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The sweep writes into `<results_root>/<sweep name>/`.
    pub results_root: PathBuf,
    /// Runs trained at once, one per thread.
    pub jobs: usize,
    /// Hide the progress bar.
    pub quiet: bool,
    pub backend: Backend,
}

/// Counts and ids of a sweep's runs by outcome.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Runs already finished by an earlier invocation.
    pub skipped: usize,
    pub completed: usize,
    /// Run ids that diverged, with the epoch.
    pub diverged: Vec<(String, usize)>,
    /// Run ids that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// The sweep's results folder.
    pub dir: PathBuf,
}

/// Loads the dataset a sweep trains on.
pub fn load_dataset(name: DatasetName) -> Result<Dataset> {
    match name {
        DatasetName::Mnist1d => {
            let mnist1d = data::mnist1d::generate(&data::mnist1d::Mnist1dArgs::default())
                .context("failed to generate MNIST-1D")?;
            Ok(mnist1d.into_dataset())
        }
    }
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

/// Trains one run in a partial folder and renames it into place once its summary is written.
fn run_one(
    config: &RunConfig,
    dataset: &Dataset,
    backend: Backend,
    dir: &SweepDir,
    observer: &dyn EpochObserver,
) -> RunResult {
    let run_id = config.id();
    remove_partial_folders(&dir.runs(), &run_id)?;
    let partial = dir
        .runs()
        .join(format!("{run_id}.partial-{}", std::process::id()));
    let device = backend.device()?.autodiff();

    let trained = catch_unwind(AssertUnwindSafe(|| {
        train_run(config, dataset, &device, &partial, observer)
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

    let finished = dir.run(&run_id);
    if let Err(error) = fs::rename(&partial, &finished) {
        // Another process finished the same run first; keep its results.
        if dir.is_finished(&run_id) {
            tracing::warn!(
                run_id,
                "run was finished by another process; discarding this copy"
            );
            fs::remove_dir_all(&partial).ok();
        } else {
            return Err(error).with_context(|| {
                format!(
                    "failed to move {} to {}",
                    partial.display(),
                    finished.display()
                )
            });
        }
    }
    Ok((summary.status, summary.diverged_epoch))
}

/// Logs how a run ended and advances the progress bar past the epochs a diverged run skipped.
fn report(run: &RunConfig, result: &RunResult, bar: &ProgressBar) {
    let run_id = run.id();
    match result {
        Ok((RunStatus::Completed, _)) => tracing::info!(run_id, "run completed"),
        Ok((RunStatus::Diverged, epoch)) => {
            let epoch = epoch.unwrap_or(0);
            tracing::warn!(run_id, epoch, "run diverged");
            let trained_epochs = epoch.saturating_sub(1);
            bar.inc((run.training.num_epochs - trained_epochs) as u64);
        }
        Err(error) => tracing::error!(run_id, error = format!("{error:#}"), "run failed"),
    }
}

/// Runs every unfinished run of `config`, then returns what happened.
///
/// Finished runs (a `runs/<run-id>/summary.json`) are skipped. A failed or diverged run does not
/// stop the others.
pub fn run_sweep(config: &SweepConfig, options: &SweepOptions) -> Result<SweepOutcome> {
    let dir = SweepDir::new(options.results_root.join(&config.name));
    fs::create_dir_all(dir.runs())
        .with_context(|| format!("failed to create {}", dir.runs().display()))?;
    let runs = config.runs();
    let manifest = SweepManifest {
        sweep: config.clone(),
        run_ids: runs.iter().map(RunConfig::id).collect(),
    };
    write_json(&dir.manifest(), &manifest)?;

    let (finished, mut pending): (Vec<RunConfig>, Vec<RunConfig>) =
        runs.into_iter().partition(|run| dir.is_finished(&run.id()));
    // Deepest runs first, so that the longest ones do not start last.
    pending.sort_by_key(|run| std::cmp::Reverse(run.depth));
    let mut outcome = SweepOutcome {
        skipped: finished.len(),
        dir: dir.root.clone(),
        ..SweepOutcome::default()
    };
    tracing::info!(
        sweep = config.name,
        pending = pending.len(),
        finished = finished.len(),
        jobs = options.jobs,
        backend = options.backend.name(),
        "starting sweep"
    );
    if pending.is_empty() {
        return Ok(outcome);
    }

    let dataset = Arc::new(load_dataset(config.dataset)?);
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
        .num_threads(options.jobs)
        .build()
        .context("failed to start the thread pool")?;
    // Each worker takes the next pending run from a shared counter, so runs start deepest first
    // whatever the number of jobs. Results do not depend on that order.
    let next_run = AtomicUsize::new(0);
    let finished_runs = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(run_count));
    pool.scope(|scope| {
        for _ in 0..options.jobs {
            scope.spawn(|_| {
                loop {
                    let index = next_run.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = pending.get(index) else { break };
                    let result = run_one(run, &dataset, options.backend, &dir, &progress);
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
        match result {
            Ok((RunStatus::Completed, _)) => outcome.completed += 1,
            Ok((RunStatus::Diverged, epoch)) => outcome.diverged.push((run_id, epoch.unwrap_or(0))),
            Err(error) => outcome.failed.push((run_id, format!("{error:#}"))),
        }
    }
    Ok(outcome)
}
