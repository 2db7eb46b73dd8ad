//! Training-step timings, for comparison with other frameworks on the same machine.

use std::time::Instant;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use model::{InitScheme, Mlp, MlpConfig, Mode, Variant};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::train::cross_entropy;

/// Input features and classes of the benchmarked MLP, as for MNIST-1D.
const INPUT_SIZE: usize = 40;
const NUM_CLASSES: usize = 10;

/// One benchmarked network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BenchCase {
    pub variant: Variant,
    pub width: usize,
    pub depth: usize,
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
}

/// Runs `count` training steps on one batch and returns the updated network.
fn train_steps(
    mut mlp: Mlp,
    optimizer: &mut ModuleOptimizer,
    inputs: &Tensor<2>,
    targets: &Tensor<1, Int>,
    count: usize,
) -> Mlp {
    for _ in 0..count {
        let logits = mlp.forward(inputs.clone(), Mode::Train);
        let loss = cross_entropy(logits, targets.clone());
        // Reading the loss waits for the step, as a training loop that logs it does.
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &mlp);
        mlp = optimizer.step(0.01, mlp, grads);
    }
    mlp
}

/// Times training steps of `case` on `device` (an autodiff device): SGD with momentum 0.9 and
/// learning rate 0.01 on one fixed batch of standard normal inputs and seeded labels.
pub fn time_case(
    case: BenchCase,
    batch_size: usize,
    steps: usize,
    repeats: usize,
    device: &Device,
) -> BenchResult {
    let config = MlpConfig {
        input_size: INPUT_SIZE,
        width: case.width,
        depth: case.depth,
        num_classes: NUM_CLASSES,
        variant: case.variant,
        init: InitScheme::KaimingNormal,
    };
    let mut mlp = config.init(0, device);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let values: Vec<f32> = (0..batch_size * INPUT_SIZE)
        .map(|_| rng.sample(StandardNormal))
        .collect();
    let labels: Vec<i64> = (0..batch_size)
        .map(|_| rng.random_range(0..NUM_CLASSES as i64))
        .collect();
    let inputs = Tensor::<2>::from_data(TensorData::new(values, [batch_size, INPUT_SIZE]), device);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch_size]), device);
    let momentum = MomentumConfig::new().with_momentum(0.9).with_dampening(0.0);
    let mut optimizer = SgdConfig::new().with_momentum(Some(momentum)).init();

    mlp = train_steps(mlp, &mut optimizer, &inputs, &targets, steps);
    let mut timings = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        mlp = train_steps(mlp, &mut optimizer, &inputs, &targets, steps);
        timings.push(started.elapsed().as_secs_f64() * 1000.0 / steps as f64);
    }
    timings.sort_by(f64::total_cmp);
    BenchResult {
        case,
        batch_size,
        steps,
        ms_per_step: timings[timings.len() / 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_positive_and_finite() {
        let device = Device::flex().autodiff();
        let case = BenchCase {
            variant: Variant::ResidualBn,
            width: 8,
            depth: 2,
        };
        let result = time_case(case, 16, 3, 2, &device);
        assert!(result.ms_per_step.is_finite(), "{}", result.ms_per_step);
        assert!(result.ms_per_step > 0.0, "{}", result.ms_per_step);
        assert_eq!(result.steps, 3);
    }
}
