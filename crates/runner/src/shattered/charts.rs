//! Charts of a shattered-gradients experiment, each written as SVG and PNG.
//!
//! - `gradients`: `dy/dx` against `x` for the first seed, one panel per variant (row) and
//!   number of hidden layers (column), each autoscaled.
//! - `autocorrelation` and `autocorrelation_mean_subtracted`: `r(m)` against distance, one panel
//!   per variant and one line per depth, mean over seeds with a min–max band.
//! - `gradient_std`: standard deviation of `dy/dx` against the number of hidden layers.

mod autocorrelation;
mod gradient_std;
mod gradients;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use model::InitScheme;

use super::config::ShatteredConfig;
use super::results::ShatteredResults;
use crate::charts::{register_font, write_chart};

/// Font size of tick labels on small panels, in pixels.
const SMALL_LABEL_SIZE: u32 = 12;

/// Draws every chart into `charts_dir` (created if needed) and returns the written paths.
pub fn draw_charts(results: &ShatteredResults, charts_dir: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    std::fs::create_dir_all(charts_dir)
        .with_context(|| format!("failed to create {}", charts_dir.display()))?;
    let mut paths = Vec::new();
    let gradients = gradients::Gradients::new(results);
    paths.extend(write_chart(&gradients, charts_dir)?);
    let raw = autocorrelation::Autocorrelation::new(results, autocorrelation::Form::Raw);
    paths.extend(write_chart(&raw, charts_dir)?);
    let centred = autocorrelation::MeanSubtracted(autocorrelation::Autocorrelation::new(
        results,
        autocorrelation::Form::MeanSubtracted,
    ));
    paths.extend(write_chart(&centred, charts_dir)?);
    let std = gradient_std::GradientStd::new(results);
    paths.extend(write_chart(&std, charts_dir)?);
    Ok(paths)
}

/// Returns the part of a chart title that names the experiment, e.g. `"shattered-notebook"
/// (width 200, weights N(0, 0.005), biases N(0, 0.005))`.
fn experiment_title(config: &ShatteredConfig) -> String {
    format!(
        "\"{}\" (width {}, {})",
        config.name,
        config.width,
        init_label(config.init)
    )
}

/// Returns a short description of an initialisation.
fn init_label(init: InitScheme) -> String {
    match init {
        InitScheme::KaimingNormal => "He normal, zero biases".to_string(),
        InitScheme::KaimingUniform => "He uniform, zero biases".to_string(),
        InitScheme::PytorchDefault => "PyTorch default".to_string(),
        InitScheme::Normal {
            weight_variance,
            bias_variance,
        } => format!("weights N(0, {weight_variance}/fan_in), biases N(0, {bias_variance})"),
        InitScheme::NormalFixed {
            weight_variance,
            bias_variance,
        } => format!("weights N(0, {weight_variance}), biases N(0, {bias_variance})"),
    }
}

/// Returns `"1 hidden layer"` or `"<n> hidden layers"`.
fn hidden_layers_label(hidden_layers: usize) -> String {
    match hidden_layers {
        1 => "1 hidden layer".to_string(),
        n => format!("{n} hidden layers"),
    }
}

/// Returns the config's numbers of hidden layers, ascending.
fn sorted_hidden_layers(config: &ShatteredConfig) -> Vec<usize> {
    let mut hidden_layers = config.hidden_layers.clone();
    hidden_layers.sort_unstable();
    hidden_layers
}

/// Returns a range that shows `values` with 5 % of margin each side, or `-1..1` around a single
/// value (`fallback` when there are no finite values).
fn padded_range(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for value in values.filter(|value| value.is_finite()) {
        low = low.min(value);
        high = high.max(value);
    }
    if !(low.is_finite() && high.is_finite()) {
        return fallback;
    }
    if low == high {
        let half = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        return (low - half, high + half);
    }
    let margin = (high - low) * 0.05;
    (low - margin, high + margin)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use model::Variant;

    use super::*;
    use crate::shattered::aggregate;
    use crate::shattered::config::InputGrid;
    use crate::shattered::results::NetworkGradients;

    /// Results with made-up gradients: a smooth wave for one hidden layer, alternating signs
    /// (white noise at its roughest) for eight.
    fn synthetic_results() -> ShatteredResults {
        let config = ShatteredConfig {
            name: "synthetic".to_string(),
            width: 16,
            init: InitScheme::KaimingNormal,
            variants: vec![Variant::Plain, Variant::ResidualBn],
            hidden_layers: vec![8, 1],
            inputs: InputGrid {
                count: 64,
                low: -2.0,
                high: 2.0,
            },
            seeds: vec![0, 1],
            max_distance: 16,
        };
        let inputs = config.inputs.values();
        let mut networks = Vec::new();
        for &variant in &config.variants {
            for &hidden_layers in &config.hidden_layers {
                for &seed in &config.seeds {
                    let scale = 0.5_f64.powi(hidden_layers as i32) * (1.0 + seed as f64);
                    let gradients: Vec<f32> = inputs
                        .iter()
                        .enumerate()
                        .map(|(n, x)| match hidden_layers {
                            1 => (scale * x.sin()) as f32,
                            _ => (scale * if n % 2 == 0 { 1.0 } else { -1.0 }) as f32,
                        })
                        .collect();
                    let values: Vec<f64> = gradients.iter().map(|&g| g as f64).collect();
                    networks.push(NetworkGradients {
                        variant,
                        hidden_layers,
                        depth: hidden_layers - 1,
                        seed,
                        gradient_std: crate::shattered::compute::std(&values),
                        gradients,
                    });
                }
            }
        }
        let aggregates = aggregate(&config, &networks);
        ShatteredResults {
            config,
            inputs,
            networks,
            aggregates,
        }
    }

    #[test]
    fn charts_written_as_svg_and_png() {
        let folder = tempfile::tempdir().unwrap();
        let paths = draw_charts(&synthetic_results(), folder.path()).unwrap();
        assert_eq!(paths.len(), 8);
        let names = [
            "gradients",
            "autocorrelation",
            "autocorrelation_mean_subtracted",
            "gradient_std",
        ];
        for name in names {
            let svg = fs::read_to_string(folder.path().join(format!("{name}.svg"))).unwrap();
            assert!(svg.starts_with("<svg"), "{name}.svg is not an SVG");
            assert!(svg.contains("residual-bn"), "{name}.svg lacks residual-bn");
            let png = fs::read(folder.path().join(format!("{name}.png"))).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png is not a PNG");
        }
        let gradients = fs::read_to_string(folder.path().join("gradients.svg")).unwrap();
        assert!(gradients.contains("8 hidden layers"));
        assert!(gradients.contains("&quot;synthetic&quot; (width 16, He normal, zero biases)"));
    }

    #[test]
    fn non_finite_gradients_do_not_panic() {
        let folder = tempfile::tempdir().unwrap();
        let mut results = synthetic_results();
        for network in &mut results.networks {
            if network.variant == Variant::Plain {
                network.gradients.fill(f32::NAN);
                network.gradient_std = None;
            }
        }
        results.aggregates = aggregate(&results.config, &results.networks);
        let paths = draw_charts(&results, folder.path()).unwrap();
        assert_eq!(paths.len(), 8);
    }

    #[test]
    fn padded_ranges() {
        assert_eq!(
            padded_range([0.0, 10.0].into_iter(), (0.0, 1.0)),
            (-0.5, 10.5)
        );
        assert_eq!(padded_range([2.0].into_iter(), (0.0, 1.0)), (1.8, 2.2));
        assert_eq!(padded_range([0.0].into_iter(), (0.0, 1.0)), (-1.0, 1.0));
        assert_eq!(padded_range([f64::NAN].into_iter(), (0.0, 1.0)), (0.0, 1.0));
    }
}
