//! Shattered gradients (Balduzzi et al. 2017, "The Shattered Gradients Problem: If resnets are
//! the answer, then what is the question?"): the derivative `dy/dx` of scalar networks along a
//! line of inputs, at initialisation, and how its autocorrelation decays with depth.
//!
//! Each network maps one input to one output. For every variant, number of hidden layers and
//! seed, `dy/dx` is computed by autodiff at every input of an evenly spaced grid. Its
//! autocorrelation `r(m)` over distances of `m` grid steps is then averaged over seeds. In a
//! shallow network the gradient changes slowly along the line, so `r(m)` stays near 1 for small
//! `m`. A gradient that has shattered looks like white noise, with `r(m)` near 0 for every
//! `m >= 1`.
//!
//! ```text
//! <results>/<name>/shattered.json    resolved config, gradients, aggregates over seeds
//! <results>/<name>/charts/           gradients, autocorrelation,
//!                                    autocorrelation_mean_subtracted, gradient_std
//!                                    (SVG and PNG), summary.md
//! ```

pub mod compute;
pub mod config;
pub mod results;

mod charts;
mod table;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::Variant;
use rayon::prelude::*;

use crate::backend::Backend;
use crate::table::Spread;
use compute::{
    SeriesSpread, autocorrelation, input_gradients, mean_subtracted_autocorrelation, std,
};
use config::ShatteredConfig;
use results::{DepthAggregate, NetworkGradients, RESULTS_FILE, ShatteredResults};

/// How to run the experiment.
#[derive(Debug, Clone)]
pub struct ShatteredOptions {
    /// The results go to `<results_root>/<config name>/`.
    pub results_root: PathBuf,
    /// Hide the progress bar.
    pub quiet: bool,
}

/// Bytes of one `f32`.
const FLOAT_BYTES: f64 = 4.0;

/// Returns an estimate of the peak memory of one network of `config` with `hidden_layers`
/// hidden layers, in bytes: its parameters twice (values and gradients) and eight
/// `[inputs, width]` tensors per layer kept for the backward pass. The `hidden_layers - 1`
/// blocks hold the `width x width` matrices; the stem and head are vectors.
pub fn estimate_network_bytes(config: &ShatteredConfig, hidden_layers: usize) -> f64 {
    let width = config.width as f64;
    let layers = hidden_layers as f64 + 1.0;
    let blocks = hidden_layers.saturating_sub(1) as f64;
    let params = blocks * (width * width + width) + 4.0 * width + 1.0;
    let activations = 8.0 * config.inputs.count as f64 * width * layers;
    FLOAT_BYTES * (2.0 * params + activations)
}

/// Computes the gradients of every network of `config`, writes `shattered.json`, draws the
/// charts and the table, and returns the experiment's results folder.
///
/// Nothing is written when the config's deepest network would not fit in memory, or when the
/// results folder belongs to a depth sweep.
pub fn run_shattered(config: &ShatteredConfig, options: &ShatteredOptions) -> Result<PathBuf> {
    let dir = options.results_root.join(&config.name);
    let sweep_manifest = dir.join("sweep.json");
    if sweep_manifest.exists() {
        bail!(
            "{} belongs to a depth sweep ({} exists): set another `name` in the config",
            dir.display(),
            sweep_manifest.display()
        );
    }
    check_memory(config)?;
    Backend::Flex.device()?;

    let networks = compute_networks(config, options.quiet)?;
    let aggregates = aggregate(config, &networks);
    let results = ShatteredResults {
        config: config.clone(),
        inputs: config.inputs.values(),
        networks,
        aggregates,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let path = results.write(&dir)?;
    tracing::info!(path = %path.display(), "wrote");
    draw(&results, &dir)?;
    Ok(dir)
}

/// Redraws every chart and table of an experiment from `<dir>/shattered.json` alone. Returns
/// the written paths.
pub fn redraw(dir: &Path) -> Result<Vec<PathBuf>> {
    let path = dir.join(RESULTS_FILE);
    if !path.is_file() {
        bail!(
            "{} is not a shattered-gradients results folder: {} not found",
            dir.display(),
            path.display()
        );
    }
    let results = ShatteredResults::read(dir)?;
    draw(&results, dir)
}

fn draw(results: &ShatteredResults, dir: &Path) -> Result<Vec<PathBuf>> {
    let charts_dir = dir.join("charts");
    let mut paths = charts::draw_charts(results, &charts_dir)?;
    paths.push(table::write_summary(results, &charts_dir)?);
    for path in &paths {
        tracing::info!(path = %path.display(), "wrote");
    }
    Ok(paths)
}

/// Rejects a config whose deepest network would not fit in this machine's memory, one network
/// per thread.
fn check_memory(config: &ShatteredConfig) -> Result<()> {
    let Some(total) = crate::memory::total_bytes() else {
        return Ok(());
    };
    let deepest = config.hidden_layers.iter().copied().max().unwrap_or(1);
    let threads = rayon::current_num_threads().min(config.seeds.len()) as f64;
    let needed = estimate_network_bytes(config, deepest) * threads;
    if needed > total as f64 {
        const GIB: f64 = (1u64 << 30) as f64;
        bail!(
            "the experiment needs about {:.1} GiB ({threads} networks at once with {deepest} \
             hidden layers of width {}), more than this machine's {:.1} GiB: reduce \
             model.width, model.hidden_layers or inputs.count",
            needed / GIB,
            config.width,
            total as f64 / GIB
        );
    }
    Ok(())
}

/// Computes `dy/dx` of every network, variants outermost, then hidden layers, then seeds. The
/// seeds of one variant and depth run in parallel.
fn compute_networks(config: &ShatteredConfig, quiet: bool) -> Result<Vec<NetworkGradients>> {
    let total = config.variants.len() * config.hidden_layers.len() * config.seeds.len();
    let bar = ProgressBar::new(total as u64);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    crate::logging::set_progress_bar(&bar);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} networks, {elapsed}")
            .expect("progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(config.name.clone());

    let inputs = config.inputs.values();
    let mut networks = Vec::with_capacity(total);
    for &variant in &config.variants {
        for &hidden_layers in &config.hidden_layers {
            let network = config.network(variant, hidden_layers);
            let group: Vec<NetworkGradients> = config
                .seeds
                .par_iter()
                .map(|&seed| -> Result<NetworkGradients> {
                    let device = Backend::Flex.device()?.autodiff();
                    let gradients = input_gradients(&network, seed, &inputs, &device);
                    let values: Vec<f64> = gradients.iter().map(|&g| g as f64).collect();
                    bar.inc(1);
                    Ok(NetworkGradients {
                        variant,
                        hidden_layers,
                        depth: network.depth,
                        seed,
                        gradient_std: std(&values),
                        gradients,
                    })
                })
                .collect::<Result<_>>()?;
            log_group(variant, hidden_layers, &group);
            networks.extend(group);
        }
    }
    bar.finish_and_clear();
    Ok(networks)
}

/// Logs the mean gradient std of one variant and depth, and how many networks have
/// non-finite gradients.
fn log_group(variant: Variant, hidden_layers: usize, group: &[NetworkGradients]) {
    let stds: Vec<f64> = group
        .iter()
        .filter_map(|network| network.gradient_std)
        .collect();
    let not_finite = group.len() - stds.len();
    let mean_std = Spread::of(&stds).map(|spread| spread.mean);
    tracing::info!(
        variant = variant.name(),
        hidden_layers,
        gradient_std = mean_std,
        "gradients computed"
    );
    if not_finite > 0 {
        tracing::warn!(
            variant = variant.name(),
            hidden_layers,
            networks = not_finite,
            "gradients are not finite; these networks are left out of the aggregates"
        );
    }
}

/// Aggregates the networks over seeds, per variant and number of hidden layers.
pub fn aggregate(config: &ShatteredConfig, networks: &[NetworkGradients]) -> Vec<DepthAggregate> {
    let mut aggregates = Vec::new();
    for &variant in &config.variants {
        for &hidden_layers in &config.hidden_layers {
            let group: Vec<&NetworkGradients> = networks
                .iter()
                .filter(|network| {
                    network.variant == variant && network.hidden_layers == hidden_layers
                })
                .collect();
            let networks_in_group = group.len();
            let mut raw = Vec::new();
            let mut centred = Vec::new();
            let mut stds = Vec::new();
            for network in group {
                let values: Vec<f64> = network.gradients.iter().map(|&g| g as f64).collect();
                // Each form counts the networks where it is defined: a gradient that is zero
                // everywhere has neither, a constant one only the raw form.
                raw.extend(autocorrelation(&values, config.max_distance));
                centred.extend(mean_subtracted_autocorrelation(
                    &values,
                    config.max_distance,
                ));
                stds.extend(network.gradient_std);
            }
            aggregates.push(DepthAggregate {
                variant,
                hidden_layers,
                depth: config.network(variant, hidden_layers).depth,
                networks: networks_in_group,
                autocorrelation: SeriesSpread::of(&raw),
                autocorrelation_mean_subtracted: SeriesSpread::of(&centred),
                gradient_std: Spread::of(&stds),
            });
        }
    }
    aggregates
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::InitScheme;

    use config::InputGrid;

    /// Returns the recipe of notebook 11.1 of Prince's "Understanding Deep Learning": plain
    /// networks of width 200, weights and biases from N(0, 1/200), 256 inputs on [-2, 2).
    fn notebook_config(hidden_layers: Vec<usize>, seeds: u64) -> ShatteredConfig {
        ShatteredConfig {
            name: "notebook".to_string(),
            width: 200,
            init: InitScheme::NormalFixed {
                weight_variance: 0.005,
                bias_variance: 0.005,
            },
            variants: vec![Variant::Plain],
            hidden_layers,
            inputs: InputGrid {
                count: 256,
                low: -2.0,
                high: 2.0,
            },
            seeds: (0..seeds).collect(),
            max_distance: 64,
        }
    }

    /// Reference values from the notebook's own code (NumPy, `np.random.seed(s)` for
    /// s = 0..19 in `init_params`, the autocorrelation of `autocorr` normalised at distance 0):
    /// mean r(16) 0.800 for one hidden layer, 0.616 for 24 and 0.627 for 50; the std of dy/dx
    /// falls by x0.707 per hidden layer from 24 to 50 hidden layers. r(16) varies a lot
    /// between networks (standard deviation 0.11-0.19 over seeds), so a mean over 20 seeds has
    /// a standard error of about 0.04 and each tolerance below is about 2-3 of them.
    #[test]
    fn notebook_recipe_reference_values() {
        let config = notebook_config(vec![1, 24, 50], 20);
        let networks = compute_networks(&config, true).unwrap();
        let aggregates = aggregate(&config, &networks);
        let find = |layers: usize| {
            let found = aggregates.iter().find(|a| a.hidden_layers == layers);
            found.expect("every depth is aggregated")
        };
        let r16 = |layers: usize| {
            let series = find(layers).autocorrelation.as_ref().unwrap();
            assert_eq!(series.count, 20, "{layers} hidden layers: seeds aggregated");
            series.mean[16]
        };
        let std = |layers: usize| find(layers).gradient_std.unwrap().mean;

        let shallow = r16(1);
        assert!(
            (shallow - 0.78).abs() <= 0.08,
            "r(16) for 1 hidden layer: {shallow}"
        );
        for layers in [24, 50] {
            let deep = r16(layers);
            assert!(
                (0.50..=0.74).contains(&deep),
                "r(16) for {layers} hidden layers: {deep}"
            );
        }

        let per_layer =
            |from: usize, to: usize| (std(to) / std(from)).powf(1.0 / (to - from) as f64);
        let overall = per_layer(1, 50);
        assert!(
            (0.55..=0.75).contains(&overall),
            "std of dy/dx per hidden layer from 1 to 50: x{overall}"
        );
        let deep = per_layer(24, 50);
        assert!(
            (0.55..=0.75).contains(&deep),
            "std of dy/dx per hidden layer from 24 to 50: x{deep}"
        );
    }

    #[test]
    fn sweep_folder_is_left_alone() {
        let results_root = tempfile::tempdir().unwrap();
        let config = notebook_config(vec![1], 1);
        let dir = results_root.path().join(&config.name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sweep.json"), "{}").unwrap();
        let options = ShatteredOptions {
            results_root: results_root.path().to_path_buf(),
            quiet: true,
        };
        let error = run_shattered(&config, &options).unwrap_err().to_string();
        assert!(error.contains("belongs to a depth sweep"), "{error}");
        assert!(!dir.join(RESULTS_FILE).exists());
        assert!(!dir.join("charts").exists());
    }

    #[test]
    fn redraw_without_results_names_the_file() {
        let folder = tempfile::tempdir().unwrap();
        let error = redraw(folder.path()).unwrap_err().to_string();
        assert!(error.contains("shattered.json not found"), "{error}");
    }
}
