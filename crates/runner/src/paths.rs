//! Path lengths in residual networks and the gradient that paths of each length carry (Veit,
//! Wilber and Belongie 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
//! Networks").
//!
//! Unrolled, `n` residual blocks `h_k = h_{k-1} + f_k(h_{k-1})` are a sum of `2^n` paths: each
//! block is passed either through its branch `f_k` or through the shortcut. A path's length is
//! the number of branches it goes through, so `C(n, k)` paths have length `k`, and path lengths
//! follow a Binomial(n, 1/2) distribution.
//!
//! The gradient carried by the paths of length `k` is measured as Veit et al. did. First `k`
//! blocks are drawn at random. The backward pass then goes through the branch of those blocks
//! only and through the shortcut of all others ([`BlockRoute::BranchGradientOnly`] and
//! [`BlockRoute::ShortcutGradientOnly`]), while forward values stay unchanged. The gradient of
//! the loss with respect to the first block's input `h_0` is then read. Averaged over draws, this is the
//! gradient magnitude of one path of length `k`. Times `C(n, k)`, it is the total gradient that
//! paths of length `k` contribute.
//!
//! `resdepth paths <sweep>` writes `<sweep>/paths/paths.json` and, from it alone, the charts and
//! `summary.md` in `<sweep>/paths/charts/`.

mod chart;
mod summary;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use data::Dataset;
use model::{BlockRoute, ForwardHooks, Mlp, Mode, Variant};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::analysis::{TrainedRun, block_set_rng, block_sets, completed_runs};
use crate::backend::Backend;
use crate::charts::{register_font, write_chart};
use crate::config::SweepConfig;
use crate::results::{finite, write_atomic, write_json};
use crate::sweep::load_dataset;
use crate::train::{batch, build_mlp, cross_entropy, load_mlp};

/// Folder of the analysis inside a sweep's results folder.
pub const PATHS_DIR: &str = "paths";

/// The measurements, inside [`PATHS_DIR`].
pub const PATHS_FILE: &str = "paths.json";

/// Settings of `resdepth paths`.
#[derive(Debug, Clone)]
pub struct PathsOptions {
    /// Random sets of blocks per path length (default 30). When a length has at most this many
    /// sets, every set is measured once. The mean over sets is dominated by a few sets whose
    /// blocks have large Jacobians, so it needs more draws than a mean of test errors.
    pub draws: usize,
    /// Seed of the random sets of blocks (default 0).
    pub seed: u64,
    /// Test samples in the fixed batch, the first ones of the test split (default 200).
    pub samples: usize,
    pub backend: Backend,
}

impl Default for PathsOptions {
    fn default() -> Self {
        Self {
            draws: 30,
            seed: 0,
            samples: 200,
            backend: Backend::Flex,
        }
    }
}

/// `paths.json`: the path-length distributions and the measured path gradients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathsResults {
    /// The analysed sweep.
    pub sweep: SweepConfig,
    pub draws: usize,
    pub seed: u64,
    /// Test samples in the batch the gradients are measured on.
    pub samples: usize,
    /// Fraction of paths of each length, one entry per depth of the sweep.
    pub distributions: Vec<PathLengthDistribution>,
    /// One entry per completed residual run, in manifest order.
    pub runs: Vec<RunPathGradients>,
}

/// Fraction of the `2^depth` paths through `depth` residual blocks that have each length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathLengthDistribution {
    pub depth: usize,
    /// Index `k`: `C(depth, k) / 2^depth`.
    pub fractions: Vec<f64>,
}

/// The path gradients of one run, trained and at initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPathGradients {
    pub run_id: String,
    pub variant: Variant,
    pub depth: usize,
    pub seed: u64,
    /// The trained network, batch norm in eval mode (running statistics).
    pub trained: Vec<PathGradient>,
    /// The same network at initialisation (rebuilt from its seed), batch norm in train mode
    /// (statistics of the batch), because its running statistics are not yet estimated.
    pub init: Vec<PathGradient>,
}

/// Gradient carried by one path of length `path_length`, averaged over sets of blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathGradient {
    pub path_length: usize,
    /// Sets of `path_length` blocks measured.
    pub sets: usize,
    /// Mean over sets and samples of `|d loss_i / d h_0|`, the Euclidean norm of one sample's
    /// cross-entropy gradient at the first block's input. `None` when not finite.
    ///
    /// NOTE: gradients are computed in f32, so the magnitude of long paths in deep networks
    /// reads 0 once it falls below f32's range (about 1e-38). Their share of the total is
    /// negligible: `C(n, k)` is below `2^n`, so the paths of such a length carry less than
    /// `1e-38 x 2^n`, for example `1e-22` at `n = 54`.
    pub magnitude: Option<f64>,
}

/// Returns `C(n, k)` exactly, 0 when `k > n`, or `None` when it exceeds `u128::MAX` (from
/// `n = 132` at `k = n / 2`).
pub fn binomial(n: usize, k: usize) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let k = k.min(n - k);
    let mut count: u128 = 1;
    for i in 0..k {
        // count = C(n, i), and C(n, i + 1) = count * (n - i) / (i + 1) is an integer. Dividing
        // by the common factor first keeps every product no larger than the result.
        let (factor, divisor) = ((n - i) as u128, (i + 1) as u128);
        let common = gcd(count, divisor);
        count = (count / common).checked_mul(factor / (divisor / common))?;
    }
    Some(count)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Returns the fraction of paths of each length `k = 0..=n` through `n` residual blocks,
/// `C(n, k) / 2^n`.
///
/// Each count is computed relative to the largest, `C(n, n/2)`, as a product of ratios below 1,
/// so nothing overflows. For `n` above about 1020 the shortest and longest lengths underflow to
/// 0, where the true fractions are below `1e-300`.
pub fn path_length_fractions(n: usize) -> Vec<f64> {
    let relative = relative_counts(n);
    let total: f64 = relative.iter().sum();
    relative.iter().map(|count| count / total).collect()
}

/// Returns `C(n, k) / C(n, n/2)` for `k = 0..=n`.
fn relative_counts(n: usize) -> Vec<f64> {
    let middle = n / 2;
    let mut counts = vec![0.0; n + 1];
    counts[middle] = 1.0;
    // C(n, k - 1) = C(n, k) * k / (n - k + 1), walking down from the middle.
    for k in (1..=middle).rev() {
        counts[k - 1] = counts[k] * k as f64 / (n - k + 1) as f64;
    }
    // C(n, k + 1) = C(n, k) * (n - k) / (k + 1), walking up from the middle.
    for k in middle..n {
        counts[k + 1] = counts[k] * (n - k) as f64 / (k + 1) as f64;
    }
    counts
}

/// Returns `ln(C(n, k) / C(n, n/2))` for `k = 0..=n`, finite for every `k` and `n`.
pub(crate) fn relative_log_counts(n: usize) -> Vec<f64> {
    let middle = n / 2;
    let mut logs = vec![0.0; n + 1];
    for k in (1..=middle).rev() {
        logs[k - 1] = logs[k] + (k as f64 / (n - k + 1) as f64).ln();
    }
    for k in middle..n {
        logs[k + 1] = logs[k] + ((n - k) as f64 / (k + 1) as f64).ln();
    }
    logs
}

/// Returns `d loss / d h_0` `[batch, width]` for `loss`, the sum of the samples' cross-entropies,
/// with the backward pass through the blocks routed by `routes` (`None`: every block normal).
///
/// `mlp` must live on an autodiff device. With [`Mode::Eval`] each row is one sample's gradient.
pub fn input_gradient(
    mlp: &Mlp,
    inputs: Tensor<2>,
    targets: Tensor<1, Int>,
    mode: Mode,
    routes: Option<&[BlockRoute]>,
) -> Tensor<2> {
    let [batch_size, _] = inputs.dims();
    let [_, width] = mlp.stem.weight.val().dims();
    let device = inputs.device();
    // Zero offsets on h_0..h_depth: only the one on h_0 needs a gradient.
    let mut offsets = vec![Tensor::zeros([batch_size, width], &device).require_grad()];
    offsets.extend((0..mlp.depth()).map(|_| Tensor::zeros([batch_size, width], &device)));
    let hooks = ForwardHooks {
        routes,
        offsets: Some(&offsets),
    };
    let (logits, _) = mlp.forward_with_hooks(inputs, mode, &hooks);
    let loss = cross_entropy(logits, targets).mul_scalar(batch_size as f64);
    let grads = loss.backward();
    offsets[0]
        .grad(&grads)
        .expect("the offset on h_0 requires a gradient")
}

/// Returns the mean over rows of each row's Euclidean norm.
///
/// The norms are computed in f64, because squaring f32 values below about 1e-19 underflows.
pub fn mean_row_norm(gradient: Tensor<2>) -> f64 {
    let [rows, columns] = gradient.dims();
    let values = gradient
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float tensor converts to f32");
    let norm_sum: f64 = values
        .chunks(columns)
        .map(|row| row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
        .sum();
    norm_sum / rows as f64
}

/// Measures the gradient carried by one path of each length `0..=depth`, on one batch.
///
/// For each length `k`, [`block_sets`] draws the sets of `k` blocks whose branch carries the
/// gradient, and the magnitude is averaged over them.
pub fn path_gradients(
    mlp: &Mlp,
    inputs: &Tensor<2>,
    targets: &Tensor<1, Int>,
    mode: Mode,
    draws: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<PathGradient> {
    let depth = mlp.depth();
    let mut gradients = Vec::with_capacity(depth + 1);
    for path_length in 0..=depth {
        let sets = block_sets(depth, path_length, draws, rng);
        let mut magnitude_sum = 0.0;
        for set in &sets {
            let mut routes = vec![BlockRoute::ShortcutGradientOnly; depth];
            for &block in set {
                routes[block] = BlockRoute::BranchGradientOnly;
            }
            let gradient =
                input_gradient(mlp, inputs.clone(), targets.clone(), mode, Some(&routes));
            magnitude_sum += mean_row_norm(gradient);
        }
        gradients.push(PathGradient {
            path_length,
            sets: sets.len(),
            magnitude: finite(magnitude_sum / sets.len() as f64),
        });
    }
    gradients
}

/// Measures one residual run: `trained` is its network loaded from its file.
fn measure_run(
    run: &TrainedRun,
    trained: &Mlp,
    dataset: &Dataset,
    device: &Device,
    batch_tensors: &(Tensor<2>, Tensor<1, Int>),
    options: &PathsOptions,
) -> RunPathGradients {
    let config = &run.record.config;
    let (inputs, targets) = batch_tensors;
    let mut rng = block_set_rng(options.seed, config.depth, config.seed);
    let trained = path_gradients(
        trained,
        inputs,
        targets,
        Mode::Eval,
        options.draws,
        &mut rng,
    );

    let init = build_mlp(config, dataset, device).no_grad();
    let mut rng = block_set_rng(options.seed, config.depth, config.seed);
    let init = path_gradients(&init, inputs, targets, Mode::Train, options.draws, &mut rng);

    RunPathGradients {
        run_id: run.record.summary.run_id.clone(),
        variant: config.variant,
        depth: config.depth,
        seed: config.seed,
        trained,
        init,
    }
}

/// Measures the path gradients of every completed residual run of the sweep in `sweep_dir`,
/// then writes `paths/paths.json` and draws from it. Returns the written paths.
///
/// Fails before writing anything when the sweep has no completed residual run, when one has no
/// stored network, or when a network cannot be loaded.
pub fn run_paths(sweep_dir: &Path, options: &PathsOptions) -> Result<Vec<PathBuf>> {
    if options.draws == 0 {
        bail!("invalid value 0 for --draws: give at least 1");
    }
    if options.samples == 0 {
        bail!("invalid value 0 for --samples: give at least 1");
    }
    let (results, runs) = completed_runs(sweep_dir, true)?;
    let sweep = results.manifest.sweep;
    let dataset = load_dataset(&sweep)?;
    let device = options.backend.device()?.autodiff();
    let samples = options.samples.min(dataset.test.len());
    if samples < options.samples {
        tracing::warn!(
            requested = options.samples,
            used = samples,
            "--samples is larger than the test split; using every test sample"
        );
    }
    let indices: Vec<usize> = (0..samples).collect();
    let batch_tensors = batch(&dataset.test, &indices, &device);

    // Every network is loaded before any is measured, so that a damaged file stops the
    // analysis at once. Only the gradient at h_0 is needed, not the parameters' gradients.
    let mut models = Vec::with_capacity(runs.len());
    for run in &runs {
        let config = &run.record.config;
        models.push(load_mlp(config, &run.model_path, &dataset, &device)?.no_grad());
    }

    let mut measured = Vec::with_capacity(runs.len());
    for (run, mlp) in runs.iter().zip(&models) {
        let gradients = measure_run(run, mlp, &dataset, &device, &batch_tensors, options);
        tracing::info!(run_id = gradients.run_id, "measured path gradients");
        measured.push(gradients);
    }

    let mut depths = sweep.depths.clone();
    depths.sort_unstable();
    let distributions = depths
        .iter()
        .map(|&depth| PathLengthDistribution {
            depth,
            fractions: path_length_fractions(depth),
        })
        .collect();
    let paths_results = PathsResults {
        sweep,
        draws: options.draws,
        seed: options.seed,
        samples,
        distributions,
        runs: measured,
    };
    let folder = sweep_dir.join(PATHS_DIR);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("failed to create {}", folder.display()))?;
    let json_path = folder.join(PATHS_FILE);
    write_json(&json_path, &paths_results)?;
    let mut written = vec![json_path];
    written.extend(draw(&paths_results, &folder.join("charts"))?);
    Ok(written)
}

/// Redraws the charts and `summary.md` of a path analysis from `<dir>/paths.json` alone, into
/// `<dir>/charts/`. Returns the written paths.
pub fn redraw(dir: &Path) -> Result<Vec<PathBuf>> {
    let json_path = dir.join(PATHS_FILE);
    let text = std::fs::read_to_string(&json_path)
        .with_context(|| format!("failed to read {}", json_path.display()))?;
    let paths_results: PathsResults = serde_json::from_str(&text)
        .with_context(|| format!("invalid JSON in {}", json_path.display()))?;
    draw(&paths_results, &dir.join("charts"))
}

fn draw(paths_results: &PathsResults, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    std::fs::create_dir_all(charts_dir)
        .with_context(|| format!("failed to create {}", charts_dir.display()))?;
    let rows = summary::path_rows(paths_results);
    let mut written = Vec::new();
    let lengths = chart::PathLengths::new(paths_results);
    written.extend(write_chart(&lengths, charts_dir)?);
    let magnitude = chart::GradientMagnitude::new(paths_results, &rows);
    written.extend(write_chart(&magnitude, charts_dir)?);
    let share = chart::GradientShare::new(paths_results, &rows);
    written.extend(write_chart(&share, charts_dir)?);
    let summary_path = charts_dir.join("summary.md");
    let markdown = summary::markdown(paths_results, &rows);
    write_atomic(&summary_path, markdown.as_bytes())?;
    written.push(summary_path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;
    use model::{InitScheme, MlpConfig};

    use super::*;

    #[test]
    fn binomial_counts_of_four_blocks() {
        let counts: Vec<u128> = (0..=4).map(|k| binomial(4, k).unwrap()).collect();
        assert_eq!(counts, vec![1, 4, 6, 4, 1]);
        let fractions = path_length_fractions(4);
        let expected = [1.0, 4.0, 6.0, 4.0, 1.0].map(|count| count / 16.0);
        for (k, (fraction, expected)) in fractions.iter().zip(expected).enumerate() {
            assert!((fraction - expected).abs() < 1e-15, "k = {k}: {fraction}");
        }
        assert_eq!(binomial(4, 5), Some(0));
    }

    #[test]
    fn binomial_of_54_choose_27() {
        assert_eq!(binomial(54, 27), Some(1_946_939_425_648_112));
        let fraction = path_length_fractions(54)[27];
        let expected = 1_946_939_425_648_112.0 / 2_f64.powi(54);
        assert!(
            (fraction / expected - 1.0).abs() < 1e-12,
            "{fraction} vs {expected}"
        );
    }

    #[test]
    fn fractions_match_exact_counts() {
        for n in [1, 7, 54, 100] {
            let fractions = path_length_fractions(n);
            for (k, fraction) in fractions.iter().enumerate() {
                let exact = binomial(n, k).unwrap() as f64 / 2_f64.powi(n as i32);
                assert!(
                    (fraction / exact - 1.0).abs() < 1e-12,
                    "n = {n}, k = {k}: {fraction} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn fractions_sum_to_one() {
        for n in [1, 54, 1000] {
            let fractions = path_length_fractions(n);
            assert_eq!(fractions.len(), n + 1);
            let sum: f64 = fractions.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "n = {n}: sum {sum}");
            assert!(fractions.iter().all(|f| f.is_finite() && *f >= 0.0));
        }
    }

    #[test]
    fn large_depths_do_not_overflow() {
        assert_eq!(binomial(1000, 500), None);
        assert_eq!(binomial(132, 66), None);
        // C(131, 65), about 0.55 x 2^128, is the largest central count that fits, and it is
        // exact: Pascal's rule holds.
        let largest = binomial(131, 65).expect("C(131, 65) fits in u128");
        let left = binomial(130, 64).unwrap();
        let right = binomial(130, 65).unwrap();
        assert_eq!(left.checked_add(right), Some(largest));
        let fractions = path_length_fractions(5000);
        let sum: f64 = fractions.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12, "sum {sum}");
        let logs = relative_log_counts(5000);
        assert!(logs.iter().all(|log| log.is_finite()));
        assert_eq!(logs[2500], 0.0);
    }

    #[test]
    fn relative_log_counts_match_binomials() {
        let logs = relative_log_counts(54);
        let middle = binomial(54, 27).unwrap() as f64;
        for (k, log) in logs.iter().enumerate() {
            let exact = (binomial(54, k).unwrap() as f64 / middle).ln();
            assert!((log - exact).abs() < 1e-12, "k = {k}: {log} vs {exact}");
        }
    }

    /// Builds a residual network of 3 blocks with batch norm, and a batch of fixed inputs and
    /// labels.
    fn tiny_network(device: &Device) -> (Mlp, Tensor<2>, Tensor<1, Int>) {
        let config = MlpConfig {
            input_size: 5,
            width: 6,
            depth: 3,
            num_classes: 4,
            variant: Variant::ResidualBn,
            init: InitScheme::KaimingNormal,
        };
        let mut mlp = config.init(11, device);
        let values: Vec<f32> = (0..40)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 4.0)
            .collect();
        let inputs = Tensor::<2>::from_data(TensorData::new(values, [8, 5]), device);
        // Running statistics of this batch, so that eval mode normalises like a trained network.
        mlp.freeze_batch_statistics(inputs.clone());
        let labels: Vec<i64> = (0..8).map(|i| i % 4).collect();
        let targets = Tensor::from_data(TensorData::new(labels, [8]), device);
        (mlp.no_grad(), inputs, targets)
    }

    fn to_vec(tensor: Tensor<2>) -> Vec<f32> {
        tensor
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn row_norms_of_tiny_values() {
        let device = Device::flex();
        let values = vec![3e-30_f32, 4e-30, 0.0, 0.0, 6.0, 8.0];
        let gradient = Tensor::<2>::from_data(TensorData::new(values, [3, 2]), &device);
        let expected = (5e-30 + 0.0 + 10.0) / 3.0;
        let mean = mean_row_norm(gradient);
        assert!((mean / expected - 1.0).abs() < 1e-6, "{mean}");
        let tiny = Tensor::<2>::from_data(TensorData::new(vec![3e-30_f32, 4e-30], [1, 2]), &device);
        let norm = mean_row_norm(tiny);
        assert!((norm / 5e-30 - 1.0).abs() < 1e-6, "{norm}");
    }

    #[test]
    fn path_gradients_sum_to_full_gradient() {
        let device = Device::flex().autodiff();
        let (mlp, inputs, targets) = tiny_network(&device);
        let full = to_vec(input_gradient(
            &mlp,
            inputs.clone(),
            targets.clone(),
            Mode::Eval,
            None,
        ));

        // Each of the 2^3 route assignments keeps exactly one term of the product
        // (I + J_1)(I + J_2)(I + J_3) of the blocks' Jacobians.
        let mut sum = vec![0.0_f32; full.len()];
        for assignment in 0..8_u32 {
            let routes: Vec<BlockRoute> = (0..3)
                .map(|block| match assignment >> block & 1 {
                    1 => BlockRoute::BranchGradientOnly,
                    _ => BlockRoute::ShortcutGradientOnly,
                })
                .collect();
            let part = input_gradient(
                &mlp,
                inputs.clone(),
                targets.clone(),
                Mode::Eval,
                Some(&routes),
            );
            for (total, value) in sum.iter_mut().zip(to_vec(part)) {
                *total += value;
            }
        }
        let max_difference = full
            .iter()
            .zip(&sum)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        let max_value = full.iter().map(|a| a.abs()).fold(0.0_f32, f32::max);
        assert!(max_value > 1e-3, "the full gradient is nearly zero");
        assert!(max_difference < 1e-4, "sum differs by {max_difference}");
    }

    #[test]
    fn sampled_magnitudes_are_finite_and_positive() {
        let device = Device::flex().autodiff();
        let (mlp, inputs, targets) = tiny_network(&device);
        let mut rng = block_set_rng(0, 3, 0);
        let gradients = path_gradients(&mlp, &inputs, &targets, Mode::Eval, 2, &mut rng);
        assert_eq!(gradients.len(), 4);
        let sets: Vec<usize> = gradients.iter().map(|gradient| gradient.sets).collect();
        // Lengths 0 and 3 have one set each, lengths 1 and 2 three, of which 2 are drawn.
        assert_eq!(sets, vec![1, 2, 2, 1]);
        for gradient in &gradients {
            let magnitude = gradient.magnitude.expect("finite magnitude");
            assert!(magnitude > 0.0, "length {}", gradient.path_length);
        }

        let mut train_rng = block_set_rng(0, 3, 0);
        let train = path_gradients(&mlp, &inputs, &targets, Mode::Train, 2, &mut train_rng);
        for gradient in &train {
            let magnitude = gradient.magnitude.expect("finite magnitude");
            assert!(magnitude > 0.0, "length {}", gradient.path_length);
        }
    }
}
