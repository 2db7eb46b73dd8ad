//! Training-step timings, for comparison with other frameworks on the same machine.

use std::time::Instant;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use model::{
    CnnConfig, FusedMlp, InitScheme, MlpConfig, Mode, Network, SgdSettings, Shortcut, Variant,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::backend::Engine;
use crate::config::Family;
use crate::train::cross_entropy;

/// Input features of the benchmarked MLP, as for MNIST-1D.
const MLP_INPUT_SIZE: usize = 40;
/// Input shape of the benchmarked CNN, as for CIFAR-10.
const CNN_INPUT_SHAPE: [usize; 3] = [3, 32, 32];
const NUM_CLASSES: usize = 10;

/// One benchmarked network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BenchCase {
    pub family: Family,
    pub variant: Variant,
    /// MLP: hidden width. CNN: filters in the first stage.
    pub width: usize,
    /// MLP: blocks. CNN: weighted layers, `6n + 2`.
    pub depth: usize,
}

impl BenchCase {
    /// Returns the number of values in one input sample.
    pub fn input_size(&self) -> usize {
        match self.family {
            Family::Mlp => MLP_INPUT_SIZE,
            Family::Cnn => CNN_INPUT_SHAPE.iter().product(),
        }
    }

    /// Builds the network, or returns `None` for a CNN depth that is not `6n + 2`.
    pub fn build(&self, device: &Device) -> Option<Network> {
        let network = match self.family {
            Family::Mlp => MlpConfig {
                input_size: MLP_INPUT_SIZE,
                width: self.width,
                depth: self.depth,
                num_classes: NUM_CLASSES,
                variant: self.variant,
                init: InitScheme::KaimingNormal,
            }
            .init(0, device)
            .into(),
            Family::Cnn => CnnConfig {
                in_channels: CNN_INPUT_SHAPE[0],
                image_size: [CNN_INPUT_SHAPE[1], CNN_INPUT_SHAPE[2]],
                base_width: self.width,
                blocks_per_stage: CnnConfig::blocks_for_layers(self.depth)?,
                num_classes: NUM_CLASSES,
                variant: self.variant,
                shortcut: Shortcut::ZeroPad,
                init: InitScheme::KaimingNormal,
            }
            .init(0, device)
            .into(),
        };
        Some(network)
    }
}

/// The time per training step of one case: the median over `repeats` timed blocks of `steps`
/// steps, after `steps` warm-up steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchResult {
    #[serde(flatten)]
    pub case: BenchCase,
    pub batch_size: usize,
    pub steps: usize,
    /// Median milliseconds per step: forward, cross-entropy, backward and SGD update.
    pub ms_per_step: f64,
    /// Training samples per second at the median step time.
    pub samples_per_second: f64,
}

/// Runs `count` training steps on one batch and returns the updated network.
fn train_steps(
    mut network: Network,
    optimizer: &mut ModuleOptimizer,
    inputs: &Tensor<2>,
    targets: &Tensor<1, Int>,
    count: usize,
) -> Network {
    for _ in 0..count {
        let logits = network.forward(inputs.clone(), Mode::Train);
        let loss = cross_entropy(logits, targets.clone());
        // Reading the loss waits for the step, as a training loop that logs it does.
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &network);
        network = optimizer.step(LEARNING_RATE, network, grads);
    }
    network
}

/// Runs `count` fused training steps on one batch and returns the last loss.
fn fused_steps(fused: &mut FusedMlp, inputs: &[f32], targets: &[u8], count: usize) -> f64 {
    let sgd = SgdSettings {
        momentum: MOMENTUM as f32,
        weight_decay: 0.0,
    };
    let mut loss = f64::NAN;
    for _ in 0..count {
        loss = fused.train_step(inputs, targets, LEARNING_RATE as f32, sgd);
    }
    loss
}

/// Momentum of the timed SGD steps.
const MOMENTUM: f64 = 0.9;
/// Learning rate of the timed SGD steps. At 0 the update does its full work and the network
/// stays at its initialisation. A residual network without batch norm would otherwise diverge
/// within a few steps on the fixed batch, and the fused step skips the backward pass of a
/// non-finite loss.
const LEARNING_RATE: f64 = 0.0;

/// Times training steps of `case` on `device` (an autodiff device): SGD with momentum 0.9 and
/// learning rate 0 on one fixed batch of standard normal inputs and seeded labels. An MLP
/// takes the fused step when `engine` is [`Engine::Fused`].
///
/// # Panics
///
/// If a CNN case's depth is not `6n + 2`.
pub fn time_case(
    case: BenchCase,
    batch_size: usize,
    steps: usize,
    repeats: usize,
    engine: Engine,
    device: &Device,
) -> BenchResult {
    let mut network = case
        .build(device)
        .expect("a CNN's depth is 6n + 2 weighted layers");
    let input_size = case.input_size();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let values: Vec<f32> = (0..batch_size * input_size)
        .map(|_| rng.sample(StandardNormal))
        .collect();
    let labels: Vec<u8> = (0..batch_size)
        .map(|_| rng.random_range(0..NUM_CLASSES as u8))
        .collect();
    let mut fused = match (&network, engine) {
        (Network::Mlp(mlp), Engine::Fused) => Some(FusedMlp::from_mlp(mlp)),
        _ => None,
    };
    let targets: Vec<i64> = labels.iter().map(|&label| i64::from(label)).collect();
    let input_tensor =
        Tensor::<2>::from_data(TensorData::new(values.clone(), [batch_size, input_size]), device);
    let target_tensor = Tensor::<1, Int>::from_data(TensorData::new(targets, [batch_size]), device);
    let momentum = MomentumConfig::new()
        .with_momentum(MOMENTUM)
        .with_dampening(0.0);
    let mut optimizer = SgdConfig::new().with_momentum(Some(momentum)).init();

    let mut timings = Vec::with_capacity(repeats.max(1));
    // The first block warms up and is not timed.
    for repeat in 0..=repeats.max(1) {
        let started = Instant::now();
        match &mut fused {
            Some(fused) => {
                let loss = fused_steps(fused, &values, &labels, steps);
                if !loss.is_finite() {
                    tracing::warn!(
                        ?case,
                        loss,
                        "the loss is not finite at initialisation, so the fused step skips its \
                         backward pass and the timing covers the forward pass only"
                    );
                }
            }
            None => {
                network = train_steps(
                    network,
                    &mut optimizer,
                    &input_tensor,
                    &target_tensor,
                    steps,
                )
            }
        }
        if repeat > 0 {
            timings.push(started.elapsed().as_secs_f64() * 1000.0 / steps as f64);
        }
    }
    timings.sort_by(f64::total_cmp);
    BenchResult {
        case,
        batch_size,
        steps,
        ms_per_step: timings[timings.len() / 2],
        samples_per_second: batch_size as f64 * 1000.0 / timings[timings.len() / 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_positive_and_finite() {
        let device = Device::flex().autodiff();
        let cases = [(Family::Mlp, 8, 2), (Family::Cnn, 2, 8)];
        for (family, width, depth) in cases {
            let case = BenchCase {
                family,
                variant: Variant::ResidualBn,
                width,
                depth,
            };
            for engine in [Engine::Fused, Engine::Autodiff] {
                let result = time_case(case, 16, 3, 2, engine, &device);
                assert!(result.ms_per_step.is_finite(), "{}", result.ms_per_step);
                assert!(result.ms_per_step > 0.0, "{}", result.ms_per_step);
                assert_eq!(result.steps, 3);
                let expected = 16.0 * 1000.0 / result.ms_per_step;
                assert!((result.samples_per_second - expected).abs() < 1e-9 * expected);
            }
        }
    }
}
