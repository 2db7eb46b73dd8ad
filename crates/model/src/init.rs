//! Seeded parameter initialisation.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

/// How the weights and biases of a linear layer are drawn.
///
/// `fan_in` is the layer's number of inputs. These follow PyTorch's `torch.nn.init`, not burn's
/// `Initializer`, whose Kaiming variants use `std = gain / sqrt(fan_in)` with `gain = 1` by
/// default and also draw the bias.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitScheme {
    /// He et al. 2015: weights from `N(0, 2 / fan_in)`, zero bias
    /// (`kaiming_normal_` with its defaults, then `bias.fill_(0)`).
    KaimingNormal,
    /// He et al. 2015: weights from `U(-b, b)` with `b = sqrt(6 / fan_in)`, zero bias
    /// (`kaiming_uniform_` with its defaults, then `bias.fill_(0)`).
    KaimingUniform,
    /// PyTorch's `nn.Linear` default: weights and bias from `U(-b, b)` with
    /// `b = 1 / sqrt(fan_in)`.
    PytorchDefault,
    /// Weights from `N(0, weight_variance / fan_in)` and bias from `N(0, bias_variance)`.
    /// `weight_variance = 2`, `bias_variance = 0` is [`InitScheme::KaimingNormal`].
    Normal {
        /// Weight variance times `fan_in`.
        weight_variance: f64,
        /// Bias variance.
        bias_variance: f64,
    },
    /// Weights from `N(0, weight_variance)` and bias from `N(0, bias_variance)`, whatever the
    /// fan-in. Notebook 11.1 of Prince's "Understanding Deep Learning" (shattered gradients)
    /// uses `1 / width` for both.
    NormalFixed {
        /// Weight variance.
        weight_variance: f64,
        /// Bias variance.
        bias_variance: f64,
    },
}

/// A seeded random stream for parameters.
///
/// ChaCha8 is fixed by its specification, so the same seed gives the same network on every
/// platform and with every version of the `rand` crates.
pub struct ParamRng(ChaCha8Rng);

impl ParamRng {
    /// Creates a stream from a seed.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    fn normal(&mut self, std: f64, count: usize) -> Vec<f32> {
        if std == 0.0 {
            return vec![0.0; count];
        }
        let normal = Normal::new(0.0, std).expect("standard deviation is finite and positive");
        (0..count)
            .map(|_| normal.sample(&mut self.0) as f32)
            .collect()
    }

    fn uniform(&mut self, bound: f64, count: usize) -> Vec<f32> {
        let uniform = Uniform::new(-bound, bound).expect("bound is finite and positive");
        (0..count)
            .map(|_| uniform.sample(&mut self.0) as f32)
            .collect()
    }
}

impl InitScheme {
    /// Returns the first variance that is negative or not finite, as its key (for example
    /// `normal.weight_variance`) and value, or `None` when the scheme is valid.
    pub fn invalid_variance(&self) -> Option<(&'static str, f64)> {
        let (name, weight_variance, bias_variance) = match *self {
            InitScheme::Normal {
                weight_variance,
                bias_variance,
            } => ("normal", weight_variance, bias_variance),
            InitScheme::NormalFixed {
                weight_variance,
                bias_variance,
            } => ("normal-fixed", weight_variance, bias_variance),
            _ => return None,
        };
        let keys = match name {
            "normal" => ["normal.weight_variance", "normal.bias_variance"],
            _ => ["normal-fixed.weight_variance", "normal-fixed.bias_variance"],
        };
        let invalid = |value: f64| !(value.is_finite() && value >= 0.0);
        if invalid(weight_variance) {
            return Some((keys[0], weight_variance));
        }
        invalid(bias_variance).then_some((keys[1], bias_variance))
    }

    /// Draws `weight_count` weights and `bias_count` biases for a layer with `fan_in` inputs per
    /// output. A linear layer's fan-in is its input size, a convolution's is its input channels
    /// times its kernel area.
    pub fn draw(
        self,
        fan_in: usize,
        weight_count: usize,
        bias_count: usize,
        rng: &mut ParamRng,
    ) -> (Vec<f32>, Vec<f32>) {
        let fan_in = fan_in as f64;
        match self {
            InitScheme::KaimingNormal => (
                rng.normal((2.0 / fan_in).sqrt(), weight_count),
                vec![0.0; bias_count],
            ),
            InitScheme::KaimingUniform => (
                rng.uniform((6.0 / fan_in).sqrt(), weight_count),
                vec![0.0; bias_count],
            ),
            InitScheme::PytorchDefault => {
                let bound = 1.0 / fan_in.sqrt();
                let weight = rng.uniform(bound, weight_count);
                (weight, rng.uniform(bound, bias_count))
            }
            InitScheme::Normal {
                weight_variance,
                bias_variance,
            } => {
                let weight = rng.normal((weight_variance / fan_in).sqrt(), weight_count);
                (weight, rng.normal(bias_variance.sqrt(), bias_count))
            }
            InitScheme::NormalFixed {
                weight_variance,
                bias_variance,
            } => {
                let weight = rng.normal(weight_variance.sqrt(), weight_count);
                (weight, rng.normal(bias_variance.sqrt(), bias_count))
            }
        }
    }

    /// Draws a linear layer `d_input -> d_output` with this scheme.
    ///
    /// The weight is stored as `[d_input, d_output]` (burn's row layout, `y = x W + b`).
    pub fn linear(
        self,
        d_input: usize,
        d_output: usize,
        rng: &mut ParamRng,
        device: &Device,
    ) -> Linear {
        let (weight, bias) = self.draw(d_input, d_input * d_output, d_output, rng);
        let weight = Tensor::<2>::from_data(TensorData::new(weight, [d_input, d_output]), device);
        let bias = Tensor::<1>::from_data(TensorData::new(bias, [d_output]), device);
        Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        }
    }
}
