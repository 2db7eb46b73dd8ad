//! Summary tables of a sweep, and the per-(variant, depth) aggregation that the charts share.
//!
//! Each row gathers the finished runs of one variant at one depth. Final errors are summarised
//! over seeds as mean, minimum and maximum, with a diverged run counted at chance level, and the
//! activation statistics at initialisation as a geometric mean over seeds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use model::Variant;
use serde::{Deserialize, Serialize};

use crate::results::{RunRecord, RunStatus, SweepResults, write_atomic};

/// Number of classes of every dataset a sweep can use (MNIST-1D, MNIST, Fashion-MNIST and
/// CIFAR-10 all have 10).
pub const NUM_CLASSES: usize = 10;

/// Error of a uniform guess, `1 - 1/NUM_CLASSES`: the final error counted for a diverged run.
pub const CHANCE_ERROR: f64 = 1.0 - 1.0 / NUM_CLASSES as f64;

/// Mean, minimum and maximum of a value over the seeds of one variant and depth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Returns the spread of `values`, or `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self { mean, min, max })
    }
}

/// The finished runs of one variant at one depth, aggregated over seeds.
#[derive(Debug, Clone)]
pub struct SummaryRow<'a> {
    pub variant: Variant,
    /// Number of blocks.
    pub depth: usize,
    /// Runs the sweep plans for this variant and depth, one per seed.
    pub runs_planned: usize,
    /// Finished runs, completed or diverged, in manifest order.
    pub runs: Vec<&'a RunRecord>,
    /// Epoch at which each diverged run diverged (`None` where its summary has no epoch).
    pub diverged_epochs: Vec<Option<usize>>,
    /// Final training error (fraction), a diverged run counted as [`CHANCE_ERROR`].
    pub final_train_error: Option<Spread>,
    /// Final test error (fraction), a diverged run counted as [`CHANCE_ERROR`].
    pub final_test_error: Option<Spread>,
    /// Standard deviation of each activation `h_k` at initialisation (index `k`), geometric mean
    /// over runs. Values that are not finite and positive are left out, and a layer without any
    /// value left is `None`.
    pub activation_std: Vec<Option<f64>>,
    /// Norm of the probe loss's gradient with respect to each linear layer's weight at
    /// initialisation (index: 0 stem, `depth + 1` head), geometric mean over runs, as above.
    pub weight_grad_norm: Vec<Option<f64>>,
    /// Norm of the probe loss's gradient with respect to each activation `h_k` at
    /// initialisation (index `k`), geometric mean over runs, as above. Empty for runs recorded
    /// before activation gradients were stored.
    pub activation_grad_norm: Vec<Option<f64>>,
}

impl SummaryRow<'_> {
    /// Returns the number of diverged runs.
    pub fn diverged(&self) -> usize {
        self.diverged_epochs.len()
    }

    /// Returns the geometric mean of the std of the last block's output at initialisation
    /// (`h_depth` of an MLP, `h_3n` of a CNN).
    pub fn last_activation_std(&self) -> Option<f64> {
        self.activation_std.last().copied().flatten()
    }
}

/// Aggregates the finished runs per variant and depth, variants in [`Variant::ALL`] order, then
/// depths ascending.
///
/// Every variant and depth of the sweep gets a row, even one without finished runs, and so does
/// any other variant and depth that a finished run has.
pub fn summary_rows(results: &SweepResults) -> Vec<SummaryRow<'_>> {
    let sweep = &results.manifest.sweep;
    let mut groups: BTreeMap<(Variant, usize), Vec<&RunRecord>> = BTreeMap::new();
    for &variant in &sweep.variants {
        for &depth in &sweep.depths {
            groups.entry((variant, depth)).or_default();
        }
    }
    for run in &results.runs {
        let key = (run.config.variant, run.config.depth);
        groups.entry(key).or_default().push(run);
    }

    let mut rows = Vec::new();
    for ((variant, depth), runs) in groups {
        let planned = sweep.variants.contains(&variant) && sweep.depths.contains(&depth);
        let runs_planned = if planned {
            sweep.seeds.len()
        } else {
            runs.len()
        };
        let diverged_epochs = runs
            .iter()
            .filter(|run| run.summary.status == RunStatus::Diverged)
            .map(|run| run.summary.diverged_epoch)
            .collect();
        let (train_errors, test_errors): (Vec<f64>, Vec<f64>) =
            runs.iter().map(|run| final_errors(run)).unzip();
        let activation_std =
            geometric_means_by_layer("activation std", variant, depth, &runs, |run| {
                let stats = &run.init.activations;
                stats.iter().map(|stats| (stats.layer, stats.std)).collect()
            });
        let weight_grad_norm =
            geometric_means_by_layer("weight gradient norm", variant, depth, &runs, |run| {
                let stats = &run.init.weight_grads;
                stats
                    .iter()
                    .map(|stats| (stats.layer, stats.grad_norm))
                    .collect()
            });
        let activation_grad_norm =
            geometric_means_by_layer("activation gradient norm", variant, depth, &runs, |run| {
                let stats = &run.init.activation_grads;
                stats
                    .iter()
                    .map(|stats| (stats.layer, stats.grad_norm))
                    .collect()
            });
        rows.push(SummaryRow {
            variant,
            depth,
            runs_planned,
            diverged_epochs,
            final_train_error: Spread::of(&train_errors),
            final_test_error: Spread::of(&test_errors),
            activation_std,
            weight_grad_norm,
            activation_grad_norm,
            runs,
        });
    }
    rows
}

/// Returns the final training and test errors of a run, both [`CHANCE_ERROR`] for a diverged run.
fn final_errors(run: &RunRecord) -> (f64, f64) {
    let summary = &run.summary;
    match summary.status {
        RunStatus::Diverged => (CHANCE_ERROR, CHANCE_ERROR),
        RunStatus::Completed => (
            summary.final_train_error.unwrap_or(CHANCE_ERROR),
            summary.final_test_error.unwrap_or(CHANCE_ERROR),
        ),
    }
}

/// Returns the geometric mean over `runs` of one per-layer statistic, `layer_values` giving each
/// run's `(layer, value)` pairs. Values that are not finite and positive (a log scale cannot show
/// them) are left out, with one warning for the group naming `what`.
fn geometric_means_by_layer(
    what: &str,
    variant: Variant,
    depth: usize,
    runs: &[&RunRecord],
    layer_values: impl Fn(&RunRecord) -> Vec<(usize, f64)>,
) -> Vec<Option<f64>> {
    let values: Vec<(&RunRecord, Vec<(usize, f64)>)> =
        runs.iter().map(|&run| (run, layer_values(run))).collect();
    let num_layers = values
        .iter()
        .flat_map(|(_, pairs)| pairs)
        .map(|&(layer, _)| layer + 1)
        .max()
        .unwrap_or(0);
    let mut log_sums = vec![0.0; num_layers];
    let mut counts = vec![0_usize; num_layers];
    let mut skipped_runs = Vec::new();
    let mut skipped = 0;
    for (run, pairs) in &values {
        for &(layer, value) in pairs {
            if value.is_finite() && value > 0.0 {
                log_sums[layer] += value.ln();
                counts[layer] += 1;
            } else {
                skipped += 1;
                if !skipped_runs.contains(&run.summary.run_id) {
                    skipped_runs.push(run.summary.run_id.clone());
                }
            }
        }
    }
    if skipped > 0 {
        tracing::warn!(
            "left out {skipped} {what} values that are not finite and positive \
             (variant {variant}, depth {depth}, runs {})",
            skipped_runs.join(", ")
        );
    }
    log_sums
        .iter()
        .zip(&counts)
        .map(|(&log_sum, &count)| (count > 0).then(|| (log_sum / count as f64).exp()))
        .collect()
}

/// Fails with a message naming the sweep folder when `results` has no finished run.
pub(crate) fn ensure_finished_runs(results: &SweepResults, charts_dir: &Path) -> Result<()> {
    if results.runs.is_empty() {
        // Charts live in `<sweep>/charts`, so the parent is the sweep's results folder.
        let sweep_dir = charts_dir.parent().unwrap_or(charts_dir);
        bail!(
            "no finished runs were found in {} ({} planned runs missing): run the sweep first",
            sweep_dir.display(),
            results.missing.len()
        );
    }
    Ok(())
}

/// Writes `summary.md` (a Markdown table, errors in %) and `summary.csv` (errors as fractions)
/// into `charts_dir`, atomically, with one row per variant and depth. Returns the written paths.
///
/// Fails when there is no finished run.
pub fn write_tables(results: &SweepResults, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    ensure_finished_runs(results, charts_dir)?;
    std::fs::create_dir_all(charts_dir)
        .with_context(|| format!("failed to create {}", charts_dir.display()))?;
    let rows = summary_rows(results);

    let markdown_path = charts_dir.join("summary.md");
    write_atomic(&markdown_path, markdown_table(results, &rows).as_bytes())?;
    let csv_path = charts_dir.join("summary.csv");
    write_atomic(&csv_path, csv_table(&rows).as_bytes())?;
    Ok(vec![markdown_path, csv_path])
}

/// Header of `summary.csv`. Errors are fractions in [0, 1], and `last_activation_std` is the
/// geometric mean over seeds of the std of `h_depth` at initialisation.
pub const CSV_HEADER: &str = "variant,depth,runs_planned,runs_finished,runs_diverged,\
diverged_epochs,final_train_error_mean,final_train_error_min,final_train_error_max,\
final_test_error_mean,final_test_error_min,final_test_error_max,last_activation_std";

fn markdown_table(results: &SweepResults, rows: &[SummaryRow]) -> String {
    let sweep = &results.manifest.sweep;
    let mut text = String::new();
    writeln!(text, "# Sweep {}\n", sweep.name).unwrap();
    writeln!(
        text,
        "Final errors in %, mean over seeds (min–max). A diverged run counts at chance level, \
         {:.1}%. Activation std: standard deviation of the last block's output h_depth at \
         initialisation, geometric mean over seeds.\n",
        CHANCE_ERROR * 100.0
    )
    .unwrap();
    text.push_str(
        "| variant | depth | runs finished | diverged | final train error % \
         | final test error % | std of h_depth at init |\n",
    );
    text.push_str("|---|---:|---:|---|---:|---:|---:|\n");
    for row in rows {
        writeln!(
            text,
            "| {} | {} | {} of {} | {} | {} | {} | {} |",
            row.variant,
            row.depth,
            row.runs.len(),
            row.runs_planned,
            diverged_cell(row),
            percent_cell(row.final_train_error, row.runs.len()),
            percent_cell(row.final_test_error, row.runs.len()),
            row.last_activation_std()
                .map_or("–".to_string(), format_significant),
        )
        .unwrap();
    }
    text
}

/// Formats the diverged runs, e.g. `0`, `1 (epoch 3)` or `2 (epochs 0, 5)`.
fn diverged_cell(row: &SummaryRow) -> String {
    let epochs: Vec<String> = row
        .diverged_epochs
        .iter()
        .map(|epoch| epoch.map_or("?".to_string(), |epoch| epoch.to_string()))
        .collect();
    match epochs.len() {
        0 => "0".to_string(),
        1 => format!("1 (epoch {})", epochs[0]),
        count => format!("{count} (epochs {})", epochs.join(", ")),
    }
}

/// Formats a spread of errors in %: `12.3 (10.1–14.5)`, only the value for a single run, `–` for
/// none.
fn percent_cell(spread: Option<Spread>, runs: usize) -> String {
    match spread {
        None => "–".to_string(),
        Some(spread) if runs == 1 => format!("{:.1}", spread.mean * 100.0),
        Some(spread) => format!(
            "{:.1} ({:.1}–{:.1})",
            spread.mean * 100.0,
            spread.min * 100.0,
            spread.max * 100.0
        ),
    }
}

/// Formats a positive number with three significant digits, in scientific notation outside
/// [0.01, 10000): `0.0123`, `1.41`, `1234`, `4.29e9`.
pub fn format_significant(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    if !(0.01..10_000.0).contains(&magnitude) {
        return format!("{value:.2e}");
    }
    let decimals = (2 - magnitude.log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

fn csv_table(rows: &[SummaryRow]) -> String {
    let mut text = String::new();
    text.push_str(CSV_HEADER);
    text.push('\n');
    let number = |value: Option<f64>| value.map_or(String::new(), |value| value.to_string());
    for row in rows {
        // Epochs are joined with ';' so the field needs no quoting.
        let epochs: Vec<String> = row
            .diverged_epochs
            .iter()
            .map(|epoch| epoch.map_or(String::new(), |epoch| epoch.to_string()))
            .collect();
        let train = row.final_train_error;
        let test = row.final_test_error;
        let fields = [
            row.variant.name().to_string(),
            row.depth.to_string(),
            row.runs_planned.to_string(),
            row.runs.len().to_string(),
            row.diverged().to_string(),
            epochs.join(";"),
            number(train.map(|spread| spread.mean)),
            number(train.map(|spread| spread.min)),
            number(train.map(|spread| spread.max)),
            number(test.map(|spread| spread.mean)),
            number(test.map(|spread| spread.min)),
            number(test.map(|spread| spread.max)),
            number(row.last_activation_std()),
        ];
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use model::InitScheme;

    use super::*;
    use crate::config::{DataOptions, DatasetName, Family, RunConfig, SweepConfig, TrainingConfig};
    use crate::results::{
        ActivationGradStats, ActivationStats, EpochMetrics, InitStats, RunSummary, SweepManifest,
        WeightGradStats,
    };

    #[test]
    fn every_dataset_has_ten_classes() {
        for dataset in DatasetName::ALL {
            assert_eq!(dataset.num_classes(), NUM_CLASSES, "{}", dataset.name());
        }
    }

    const DEPTHS: [usize; 3] = [2, 8, 32];
    const SEEDS: [u64; 2] = [0, 1];
    const NUM_EPOCHS: usize = 5;
    /// The one diverged run: plain, depth 32, seed 1, at this epoch.
    const DIVERGED_EPOCH: usize = 3;

    fn training() -> TrainingConfig {
        TrainingConfig {
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 0.0,
            batch_size: 100,
            num_epochs: NUM_EPOCHS,
            schedule: None,
            warmup: None,
        }
    }

    /// Returns the final training error of a completed synthetic run. Plain nets get worse with
    /// depth and residual ones do not. Each seed adds one point.
    fn final_train_error(variant: Variant, depth: usize, seed: u64) -> f64 {
        let base = match (variant, depth) {
            (Variant::Plain, 2) => 0.10,
            (Variant::Plain, 8) => 0.15,
            (Variant::Plain, _) => 0.20,
            _ => 0.05,
        };
        base + 0.01 * seed as f64
    }

    /// Builds one synthetic run. Activation stds at init are `(1 + seed/10)` times 1 (plain) or
    /// `sqrt(2)^k` (residual). Errors fall linearly from 90% at epoch 0, and the test error is
    /// 10 points above the training error.
    pub(crate) fn synthetic_run(variant: Variant, depth: usize, seed: u64) -> RunRecord {
        let config = RunConfig {
            dataset: DatasetName::Mnist1d,
            data: DataOptions::default(),
            shortcut: None,
            family: Family::Mlp,
            variant,
            depth,
            width: 32,
            init: InitScheme::KaimingNormal,
            seed,
            training: training(),
            probe_batch_size: 1000,
        };
        let scale = 1.0 + seed as f64 / 10.0;
        let activations = (0..=depth)
            .map(|layer| {
                let growth = if variant.has_shortcut() {
                    2_f64.sqrt().powi(layer as i32)
                } else {
                    1.0
                };
                let std = scale * growth;
                ActivationStats {
                    layer,
                    mean: 0.0,
                    std,
                    mean_square: std * std,
                }
            })
            .collect();
        let init = InitStats {
            probe_batch_size: 1000,
            loss: Some(2.3),
            activations,
            weight_grads: (0..=depth + 1)
                .map(|layer| WeightGradStats {
                    layer,
                    name: format!("layer {layer}"),
                    weight_norm: 10.0,
                    grad_norm: 0.1 * 1.2_f64.powi(layer as i32),
                })
                .collect(),
            activation_grads: (0..=depth)
                .map(|layer| ActivationGradStats {
                    layer,
                    grad_norm: 0.01 * 1.2_f64.powi((depth - layer) as i32),
                })
                .collect(),
        };

        let diverged = variant == Variant::Plain && depth == 32 && seed == 1;
        let final_error = final_train_error(variant, depth, seed);
        let last_epoch = if diverged {
            DIVERGED_EPOCH - 1
        } else {
            NUM_EPOCHS
        };
        let metrics = (0..=last_epoch)
            .map(|epoch| {
                let progress = epoch as f64 / NUM_EPOCHS as f64;
                let train_error = 0.9 + (final_error - 0.9) * progress;
                EpochMetrics {
                    epoch,
                    learning_rate: if epoch == 0 { 0.0 } else { 0.05 },
                    batch_loss: (epoch > 0).then_some(1.0),
                    train_loss: Some(1.0),
                    train_error,
                    test_loss: Some(1.1),
                    test_error: train_error + 0.1,
                    elapsed_seconds: epoch as f64,
                }
            })
            .collect();
        let summary = RunSummary {
            run_id: config.id(),
            status: if diverged {
                RunStatus::Diverged
            } else {
                RunStatus::Completed
            },
            diverged_epoch: diverged.then_some(DIVERGED_EPOCH),
            epochs_completed: last_epoch,
            final_train_loss: (!diverged).then_some(1.0),
            final_train_error: (!diverged).then_some(final_error),
            final_test_loss: (!diverged).then_some(1.1),
            final_test_error: (!diverged).then_some(final_error + 0.1),
            wall_seconds: 10.0,
            engine: None,
        };
        RunRecord {
            config,
            init,
            metrics,
            summary,
        }
    }

    /// Builds a finished sweep of plain and residual networks, depths 2, 8 and 32, seeds 0 and 1, with
    /// one diverged run (plain, depth 32, seed 1).
    pub(crate) fn synthetic_results() -> SweepResults {
        let sweep = SweepConfig {
            name: "synthetic".to_string(),
            dataset: DatasetName::Mnist1d,
            data_path: None,
            data: DataOptions::default(),
            shortcut: None,
            family: Family::Mlp,
            width: 32,
            init: InitScheme::KaimingNormal,
            variants: vec![Variant::Plain, Variant::Residual],
            depths: DEPTHS.to_vec(),
            seeds: SEEDS.to_vec(),
            training: training(),
            probe_batch_size: 1000,
        };
        let runs: Vec<RunRecord> = sweep
            .runs()
            .iter()
            .map(|run| synthetic_run(run.variant, run.depth, run.seed))
            .collect();
        let run_ids = runs.iter().map(|run| run.summary.run_id.clone()).collect();
        SweepResults {
            manifest: SweepManifest { sweep, run_ids },
            runs,
            missing: Vec::new(),
        }
    }

    fn row<'a>(rows: &'a [SummaryRow<'a>], variant: Variant, depth: usize) -> &'a SummaryRow<'a> {
        rows.iter()
            .find(|row| row.variant == variant && row.depth == depth)
            .unwrap()
    }

    #[test]
    fn rows_in_order() {
        let results = synthetic_results();
        let rows = summary_rows(&results);
        let keys: Vec<(Variant, usize)> = rows.iter().map(|row| (row.variant, row.depth)).collect();
        let expected = [
            (Variant::Plain, 2),
            (Variant::Plain, 8),
            (Variant::Plain, 32),
            (Variant::Residual, 2),
            (Variant::Residual, 8),
            (Variant::Residual, 32),
        ];
        assert_eq!(keys, expected);
    }

    #[test]
    fn diverged_run_counts_at_chance() {
        let results = synthetic_results();
        let rows = summary_rows(&results);
        let deep_plain = row(&rows, Variant::Plain, 32);
        assert_eq!(deep_plain.runs.len(), 2);
        assert_eq!(deep_plain.diverged_epochs, vec![Some(DIVERGED_EPOCH)]);
        let train = deep_plain.final_train_error.unwrap();
        assert!((train.mean - 0.55).abs() < 1e-12, "mean {}", train.mean);
        assert!((train.min - 0.20).abs() < 1e-12, "min {}", train.min);
        assert!(
            (train.max - CHANCE_ERROR).abs() < 1e-12,
            "max {}",
            train.max
        );
        let test = deep_plain.final_test_error.unwrap();
        assert!((test.mean - 0.60).abs() < 1e-12, "mean {}", test.mean);
    }

    #[test]
    fn chance_error_value() {
        assert!((CHANCE_ERROR - 0.9).abs() < 1e-12);
    }

    #[test]
    fn activation_std_geometric_mean() {
        let results = synthetic_results();
        let rows = summary_rows(&results);
        // Seeds 0 and 1 scale by 1.0 and 1.1: geometric mean sqrt(1.1).
        let scale = 1.1_f64.sqrt();
        let plain = row(&rows, Variant::Plain, 8).last_activation_std().unwrap();
        assert!((plain - scale).abs() < 1e-12, "plain {plain}");
        let residual = row(&rows, Variant::Residual, 32)
            .last_activation_std()
            .unwrap();
        let expected = scale * 2_f64.powi(16);
        assert!(
            (residual / expected - 1.0).abs() < 1e-12,
            "residual {residual}"
        );
        assert_eq!(row(&rows, Variant::Residual, 32).activation_std.len(), 33);
    }

    #[test]
    fn non_finite_std_left_out() {
        let mut results = synthetic_results();
        let first = &mut results.runs[0];
        assert_eq!(
            (first.config.variant, first.config.depth),
            (Variant::Plain, 2)
        );
        first.init.activations[2].std = f64::NAN;
        first.init.activations[1].std = 0.0;
        let rows = summary_rows(&results);
        let stds = &row(&rows, Variant::Plain, 2).activation_std;
        // Only seed 1 (std 1.1) is left at layers 1 and 2.
        assert!(
            (stds[1].unwrap() - 1.1).abs() < 1e-12,
            "layer 1: {:?}",
            stds[1]
        );
        assert!(
            (stds[2].unwrap() - 1.1).abs() < 1e-12,
            "layer 2: {:?}",
            stds[2]
        );

        results.runs[1].init.activations[2].std = f64::INFINITY;
        let rows = summary_rows(&results);
        assert_eq!(row(&rows, Variant::Plain, 2).activation_std[2], None);
    }

    #[test]
    fn missing_runs_keep_their_rows() {
        let mut results = synthetic_results();
        results
            .runs
            .retain(|run| !(run.config.variant == Variant::Residual && run.config.depth == 8));
        let rows = summary_rows(&results);
        assert_eq!(rows.len(), 6);
        let empty = row(&rows, Variant::Residual, 8);
        assert!(empty.runs.is_empty());
        assert_eq!(empty.runs_planned, 2);
        assert_eq!(empty.final_train_error, None);
        assert_eq!(empty.last_activation_std(), None);
    }

    #[test]
    fn markdown_cells() {
        let folder = tempfile::tempdir().unwrap();
        let paths = write_tables(&synthetic_results(), folder.path()).unwrap();
        assert_eq!(
            paths,
            vec![
                folder.path().join("summary.md"),
                folder.path().join("summary.csv")
            ]
        );
        let markdown = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(markdown.starts_with("# Sweep synthetic\n"));
        let plain_2 = "| plain | 2 | 2 of 2 | 0 | 10.5 (10.0–11.0) | 20.5 (20.0–21.0) | 1.05 |";
        assert!(markdown.contains(plain_2), "{markdown}");
        let plain_32 =
            "| plain | 32 | 2 of 2 | 1 (epoch 3) | 55.0 (20.0–90.0) | 60.0 (30.0–90.0) |";
        assert!(markdown.contains(plain_32), "{markdown}");
        let residual_32 =
            "| residual | 32 | 2 of 2 | 0 | 5.5 (5.0–6.0) | 15.5 (15.0–16.0) | 6.87e4 |";
        assert!(markdown.contains(residual_32), "{markdown}");
        assert_eq!(
            markdown
                .lines()
                .filter(|line| line.starts_with("| "))
                .count(),
            7
        );
    }

    #[test]
    fn markdown_single_and_missing_runs() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        results
            .runs
            .retain(|run| !(run.config.depth == 8 && run.config.seed == 1));
        results
            .runs
            .retain(|run| !(run.config.variant == Variant::Residual && run.config.depth == 2));
        write_tables(&results, folder.path()).unwrap();
        let markdown = std::fs::read_to_string(folder.path().join("summary.md")).unwrap();
        let single = "| plain | 8 | 1 of 2 | 0 | 15.0 | 25.0 | 1.00 |";
        assert!(markdown.contains(single), "{markdown}");
        let missing = "| residual | 2 | 0 of 2 | 0 | – | – | – |";
        assert!(markdown.contains(missing), "{markdown}");
    }

    #[test]
    fn csv_header_and_rows() {
        let folder = tempfile::tempdir().unwrap();
        write_tables(&synthetic_results(), folder.path()).unwrap();
        let csv = std::fs::read_to_string(folder.path().join("summary.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 7);
        let columns = CSV_HEADER.split(',').count();
        for line in &lines {
            assert_eq!(line.split(',').count(), columns, "{line}");
        }
        let plain_32: Vec<&str> = lines[3].split(',').collect();
        assert_eq!(&plain_32[..6], ["plain", "32", "2", "2", "1", "3"]);
        let mean: f64 = plain_32[6].parse().unwrap();
        assert!((mean - 0.55).abs() < 1e-12, "mean {mean}");
    }

    #[test]
    fn no_runs_is_an_error() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        results.runs.clear();
        let charts_dir = folder.path().join("charts");
        let error = write_tables(&results, &charts_dir).unwrap_err().to_string();
        assert!(error.contains("no finished runs were found in"), "{error}");
        assert!(!charts_dir.exists());
    }

    #[test]
    fn significant_digits() {
        assert_eq!(format_significant(1.0488), "1.05");
        assert_eq!(format_significant(0.01234), "0.0123");
        assert_eq!(format_significant(1234.4), "1234");
        assert_eq!(format_significant(68734.6), "6.87e4");
        assert_eq!(format_significant(0.001), "1.00e-3");
    }
}
