//! Input gradients of scalar networks, their autocorrelation, and aggregates over seeds.

use burn::tensor::{Device, Tensor, TensorData};
use model::{Mlp, MlpConfig, Mode};
use serde::{Deserialize, Serialize};

use crate::table::Spread;

/// Returns `dy/dx` at every input of a network drawn from `seed`, through autodiff.
///
/// A batch-norm network first freezes its statistics to those of `inputs`
/// ([`Mlp::freeze_batch_statistics`]) and then runs in [`Mode::Eval`]. Every output then
/// depends only on its own input, so the gradient of the summed outputs with respect to the
/// inputs is `dy/dx` at each input. `device` must be an autodiff device.
pub fn input_gradients(
    network: &MlpConfig,
    seed: u64,
    inputs: &[f64],
    device: &Device,
) -> Vec<f32> {
    let mut mlp = network.init(seed, device);
    if network.variant.has_batch_norm() {
        mlp.freeze_batch_statistics(input_tensor(inputs, device));
    }
    gradients_of(&mlp, inputs, device)
}

/// Returns `dy/dx` of a one-input, one-output network at every input, in [`Mode::Eval`].
pub(crate) fn gradients_of(mlp: &Mlp, inputs: &[f64], device: &Device) -> Vec<f32> {
    let inputs = input_tensor(inputs, device).require_grad();
    let outputs = mlp.forward(inputs.clone(), Mode::Eval);

    // Each output depends only on its own input, so the gradient of the sum is dy/dx per input.
    let grads = outputs.sum().backward();
    let gradients = inputs.grad(&grads).expect("the inputs require a gradient");
    gradients
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float tensor converts to f32")
}

/// Returns the inputs as a `[count, 1]` tensor.
pub(crate) fn input_tensor(inputs: &[f64], device: &Device) -> Tensor<2> {
    let values: Vec<f32> = inputs.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(values, [inputs.len(), 1]), device)
}

/// Returns the autocorrelation `r(m) = sum_n g[n+m] g[n] / sum_n g[n]^2` for
/// `m = 0..=max_distance`, the form of notebook 11.1 of Prince's "Understanding Deep Learning"
/// (`np.correlate(g, g, "same")` normalised by its value at distance 0).
///
/// The sum at distance `m` has `N - m` terms and is not rescaled, so a constant sequence gives
/// `r(m) = (N - m) / N`. Returns `None` when every value is zero or a value is not finite.
///
/// # Panics
///
/// If `max_distance` is not less than the number of values.
pub fn autocorrelation(values: &[f64], max_distance: usize) -> Option<Vec<f64>> {
    assert!(
        max_distance < values.len(),
        "max_distance {max_distance} must be less than the {} values",
        values.len()
    );
    let energy: f64 = values.iter().map(|value| value * value).sum();
    if !(energy.is_finite() && energy > 0.0) {
        return None;
    }
    let correlations = (0..=max_distance)
        .map(|distance| {
            let products = values[distance..].iter().zip(values);
            products.map(|(a, b)| a * b).sum::<f64>() / energy
        })
        .collect();
    Some(correlations)
}

/// Returns [`autocorrelation`] of the values minus their mean: the correlation of the
/// gradient's fluctuations, without the part that a constant offset contributes.
pub fn mean_subtracted_autocorrelation(values: &[f64], max_distance: usize) -> Option<Vec<f64>> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let centred: Vec<f64> = values.iter().map(|value| value - mean).collect();
    autocorrelation(&centred, max_distance)
}

/// Returns the standard deviation of `values` over its entries (NumPy's `std`, no Bessel
/// correction), or `None` when a value is not finite.
pub fn std(values: &[f64]) -> Option<f64> {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
    variance.sqrt().is_finite().then(|| variance.sqrt())
}

/// Mean, minimum and maximum over seeds of a series, element by element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSpread {
    /// Number of series (seeds) aggregated.
    pub count: usize,
    pub mean: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl SeriesSpread {
    /// Returns the spread of equally long series, or `None` when there are none.
    ///
    /// # Panics
    ///
    /// If the series differ in length.
    pub fn of(series: &[Vec<f64>]) -> Option<Self> {
        let length = series.first()?.len();
        assert!(
            series.iter().all(|values| values.len() == length),
            "series of different lengths"
        );
        let spreads: Vec<Spread> = (0..length)
            .map(|index| {
                let values: Vec<f64> = series.iter().map(|values| values[index]).collect();
                Spread::of(&values).expect("at least one series")
            })
            .collect();
        Some(Self {
            count: series.len(),
            mean: spreads.iter().map(|spread| spread.mean).collect(),
            min: spreads.iter().map(|spread| spread.min).collect(),
            max: spreads.iter().map(|spread| spread.max).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{InitScheme, Variant};

    use crate::shattered::config::InputGrid;

    #[test]
    fn autocorrelation_at_zero_is_one() {
        let values = [0.3, -1.2, 2.5, 0.1, -0.7];
        let raw = autocorrelation(&values, 4).unwrap();
        assert!((raw[0] - 1.0).abs() < 1e-12, "raw r(0) = {}", raw[0]);
        let centred = mean_subtracted_autocorrelation(&values, 4).unwrap();
        assert!(
            (centred[0] - 1.0).abs() < 1e-12,
            "mean-subtracted r(0) = {}",
            centred[0]
        );
    }

    #[test]
    fn alternating_signs_anticorrelate() {
        let values: Vec<f64> = (0..256)
            .map(|n| if n % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let raw = autocorrelation(&values, 2).unwrap();
        // 255 products of -1 over 256 squares.
        assert!((raw[1] + 255.0 / 256.0).abs() < 1e-12, "r(1) = {}", raw[1]);
        assert!((raw[2] - 254.0 / 256.0).abs() < 1e-12, "r(2) = {}", raw[2]);
    }

    #[test]
    fn constant_decays_linearly() {
        let values = vec![2.0; 256];
        let raw = autocorrelation(&values, 64).unwrap();
        for distance in [1, 16, 64] {
            let expected = (256 - distance) as f64 / 256.0;
            assert!(
                (raw[distance] - expected).abs() < 1e-12,
                "r({distance}) = {}, expected {expected}",
                raw[distance]
            );
        }
        // Minus its mean a constant is zero, with no autocorrelation.
        assert_eq!(mean_subtracted_autocorrelation(&values, 64), None);
    }

    #[test]
    fn autocorrelation_undefined_cases() {
        assert_eq!(autocorrelation(&[0.0; 8], 3), None);
        assert_eq!(autocorrelation(&[1.0, f64::NAN, 1.0], 1), None);
        assert_eq!(autocorrelation(&[1.0, f64::INFINITY, 1.0], 1), None);
    }

    #[test]
    fn std_matches_numpy() {
        // np.std([1, 2, 3, 4]) = sqrt(1.25).
        let std = std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((std - 1.25_f64.sqrt()).abs() < 1e-12, "std {std}");
        assert_eq!(super::std(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn series_spread_per_element() {
        let spread = SeriesSpread::of(&[vec![1.0, 4.0], vec![3.0, 2.0]]).unwrap();
        assert_eq!(spread.count, 2);
        assert_eq!(spread.mean, vec![2.0, 3.0]);
        assert_eq!(spread.min, vec![1.0, 2.0]);
        assert_eq!(spread.max, vec![3.0, 4.0]);
        assert_eq!(SeriesSpread::of(&[]), None);
    }

    /// Returns, per input, whether every ReLU input of the network has the same sign at
    /// `x - h` and `x + h`.
    ///
    /// Then the network is linear on `[x - h, x + h]`. The first layer's pre-activations are
    /// linear in `x` and cross zero at most once, so equal signs at both ends mean no kink.
    /// By induction the same is true layer after layer, because frozen batch norm is affine
    /// per unit.
    fn kink_free(mlp: &Mlp, lows: &[f64], highs: &[f64], device: &Device) -> Vec<bool> {
        let relu_inputs = |inputs: &[f64]| -> Vec<Vec<bool>> {
            let (_, activations) =
                mlp.forward_with_activations(input_tensor(inputs, device), Mode::Eval);
            let depth = mlp.blocks.len();
            let mut signs = vec![Vec::new(); inputs.len()];
            for (k, h) in activations.into_iter().enumerate() {
                let batch_norm = match k {
                    k if k < depth => mlp.blocks[k].batch_norm.as_ref(),
                    _ => mlp.head_batch_norm.as_ref(),
                };
                let h = match batch_norm {
                    Some(batch_norm) => batch_norm.forward(h, Mode::Eval),
                    None => h,
                };
                let [_, width] = h.dims();
                let values = h.into_data().try_to_vec::<f32>().unwrap();
                for (sample, row) in values.chunks(width).enumerate() {
                    signs[sample].extend(row.iter().map(|&value| value > 0.0));
                }
            }
            signs
        };
        let low_signs = relu_inputs(lows);
        let high_signs = relu_inputs(highs);
        low_signs
            .iter()
            .zip(&high_signs)
            .map(|(low, high)| low == high)
            .collect()
    }

    /// Compares autodiff's `dy/dx` with the central difference `(y(x+h) - y(x-h)) / 2h`, in f32
    /// on the device without autodiff, at the inputs where no ReLU switches within `h`.
    ///
    /// `h = 1e-2` keeps the f32 rounding of `y` (relative 1e-7, divided by `2h`) far below the
    /// tolerance, and the kink test leaves only points where the network is linear, so the
    /// difference is exact up to rounding. 95 % rather than all points must agree, because a
    /// pre-activation within rounding of zero can be classified on the wrong side.
    fn check_finite_difference(variant: Variant) {
        const WIDTH: usize = 32;
        const HIDDEN_LAYERS: usize = 4;
        const H: f64 = 1e-2;
        const TOLERANCE: f64 = 1e-3;

        let network = MlpConfig {
            input_size: 1,
            width: WIDTH,
            depth: HIDDEN_LAYERS - 1,
            num_classes: 1,
            variant,
            init: InitScheme::NormalFixed {
                weight_variance: 1.0 / WIDTH as f64,
                bias_variance: 1.0 / WIDTH as f64,
            },
        };
        let grid = InputGrid {
            count: 256,
            low: -2.0,
            high: 2.0,
        };
        let inputs = grid.values();
        let device = Device::flex().autodiff();
        let mut mlp = network.init(3, &device);
        if variant.has_batch_norm() {
            mlp.freeze_batch_statistics(input_tensor(&inputs, &device));
        }
        let autodiff = gradients_of(&mlp, &inputs, &device);

        let plain = burn::module::Module::valid(&mlp);
        let plain_device = device.clone().inner();
        let outputs = |inputs: &[f64]| -> Vec<f32> {
            let outputs = plain.forward(input_tensor(inputs, &plain_device), Mode::Eval);
            outputs.into_data().try_to_vec::<f32>().unwrap()
        };
        let lows: Vec<f64> = inputs.iter().map(|x| x - H).collect();
        let highs: Vec<f64> = inputs.iter().map(|x| x + H).collect();
        let (y_low, y_high) = (outputs(&lows), outputs(&highs));
        let linear = kink_free(&plain, &lows, &highs, &plain_device);

        // The absolute part of the tolerance is scaled to the gradient's size, so that it
        // is not loose for small gradients and still covers points where dy/dx crosses zero.
        let rms = (autodiff.iter().map(|&g| (g as f64).powi(2)).sum::<f64>()
            / autodiff.len() as f64)
            .sqrt();
        assert!(rms > 0.0, "{variant}: dy/dx is zero everywhere");
        let mut checked = 0;
        let mut agreeing = 0;
        for n in (0..inputs.len()).filter(|&n| linear[n]) {
            let finite_difference = (y_high[n] as f64 - y_low[n] as f64) / (2.0 * H);
            let gradient = autodiff[n] as f64;
            checked += 1;
            if (finite_difference - gradient).abs() <= TOLERANCE * (gradient.abs() + rms) {
                agreeing += 1;
            }
        }
        assert!(
            checked >= inputs.len() / 4,
            "{variant}: only {checked} of {} inputs have no kink within h",
            inputs.len()
        );
        assert!(
            agreeing as f64 >= 0.95 * checked as f64,
            "{variant}: {agreeing} of {checked} kink-free inputs agree within {TOLERANCE}"
        );
    }

    #[test]
    fn plain_gradient_matches_finite_difference() {
        check_finite_difference(Variant::Plain);
    }

    #[test]
    fn residual_gradient_matches_finite_difference() {
        check_finite_difference(Variant::Residual);
    }

    #[test]
    fn batch_norm_gradient_matches_finite_difference() {
        check_finite_difference(Variant::ResidualBn);
    }
}
