//! Batch normalisation with an explicit train or eval mode.

use burn::module::{Module, Param, RunningState};
use burn::tensor::module::{batch_norm, batch_norm_train};
use burn::tensor::{Device, Tensor};

use crate::Mode;

/// Batch normalisation over axis 1 of `[batch, features]` or `[batch, channels, height, width]`
/// inputs (Ioffe & Szegedy 2015).
///
/// `y = gamma * (x - mean) / sqrt(var + epsilon) + beta`, with the batch's mean and biased
/// variance (over the batch and, for images, every position) in [`Mode::Train`] and the running statistics in [`Mode::Eval`]. The running
/// statistics follow PyTorch's `BatchNorm1d`: `running = (1 - momentum) * running + momentum *
/// batch`, where the running variance takes the unbiased batch variance. burn 0.22's `BatchNorm`
/// takes the biased one and switches mode through a module flag, so this module exists to take
/// the mode as an argument and match PyTorch.
#[derive(Module, Debug)]
pub struct BatchNorm {
    /// Scale, initialised to 1.
    pub gamma: Param<Tensor<1>>,
    /// Shift, initialised to 0.
    pub beta: Param<Tensor<1>>,
    /// Running mean, initialised to 0.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running unbiased variance, initialised to 1.
    pub running_var: RunningState<Tensor<1>>,
    /// Weight of the newest batch in the running statistics (PyTorch default 0.1).
    pub momentum: f64,
    /// Added to the variance before the square root (PyTorch default 1e-5).
    pub epsilon: f64,
}

impl BatchNorm {
    /// PyTorch's default momentum.
    pub const DEFAULT_MOMENTUM: f64 = 0.1;

    /// Creates a batch norm over `num_features` features with PyTorch's defaults.
    pub fn new(num_features: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([num_features], device)),
            beta: Param::from_tensor(Tensor::zeros([num_features], device)),
            running_mean: RunningState::new(Tensor::zeros([num_features], device)),
            running_var: RunningState::new(Tensor::ones([num_features], device)),
            momentum: Self::DEFAULT_MOMENTUM,
            epsilon: 1e-5,
        }
    }

    /// Normalises `input` of shape `[batch, features, ...]` along axis 1.
    ///
    /// # Panics
    ///
    /// In [`Mode::Train`], if there are fewer than two values per feature (the unbiased variance
    /// is undefined), as PyTorch does.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, mode: Mode) -> Tensor<D> {
        match mode {
            Mode::Train => self.forward_train(input),
            Mode::Eval => self.forward_eval(input),
        }
    }

    fn forward_eval<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let device = input.device();
        let mean = self.running_mean.value_sync().to_device(&device);
        let variance = self.running_var.value_sync().to_device(&device);
        batch_norm(
            input,
            self.gamma.val(),
            self.beta.val(),
            mean,
            variance,
            self.epsilon,
        )
    }

    fn forward_train<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        let count: usize = dims.iter().product::<usize>() / dims[1];
        assert!(
            count > 1,
            "batch norm in train mode needs at least 2 samples per batch, got {count} values per \
             feature"
        );
        let device = input.device();
        let result = batch_norm_train(input, self.gamma.val(), self.beta.val(), self.epsilon);

        let unbiased = count as f64 / (count - 1) as f64;
        let batch_variance = result.variance.detach().mul_scalar(unbiased);
        let running_mean = self.running_mean.value_sync().to_device(&device);
        let running_var = self.running_var.value_sync().to_device(&device);
        let running_mean = running_mean
            .mul_scalar(1.0 - self.momentum)
            .add(result.mean.detach().mul_scalar(self.momentum));
        let running_var = running_var
            .mul_scalar(1.0 - self.momentum)
            .add(batch_variance.mul_scalar(self.momentum));
        self.running_mean.update(running_mean.detach());
        self.running_var.update(running_var.detach());

        result.output
    }

    /// Folds pending running-statistic updates into the stored values.
    ///
    /// burn's `RunningState` keeps the newest update aside until it is read with `value_sync`;
    /// a record taken before that would store the previous statistics. Call this before saving.
    pub fn sync_running_stats(&self) {
        self.running_mean.value_sync();
        self.running_var.value_sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn inputs(device: &Device) -> Tensor<2> {
        // Feature 0: 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3).
        // Feature 1: 10, 10, 10, 14 (mean 11, biased variance 3, unbiased 4).
        let values = vec![1.0f32, 10.0, 2.0, 10.0, 3.0, 10.0, 4.0, 14.0];
        Tensor::from_data(TensorData::new(values, [4, 2]), device)
    }

    #[test]
    fn train_mode_normalises_with_batch_statistics() {
        let device = Device::flex().autodiff();
        let batch_norm = BatchNorm::new(2, &device);
        let output = batch_norm.forward(inputs(&device), Mode::Train);
        let values = output.into_data().try_to_vec::<f32>().unwrap();
        let expected_first = (1.0 - 2.5) / (1.25f32 + 1e-5).sqrt();
        assert!(
            (values[0] - expected_first).abs() < 1e-5,
            "got {}",
            values[0]
        );
        let expected_last = (14.0 - 11.0) / (3.0f32 + 1e-5).sqrt();
        assert!(
            (values[7] - expected_last).abs() < 1e-5,
            "got {}",
            values[7]
        );
    }

    #[test]
    fn running_stats_follow_pytorch() {
        let device = Device::flex().autodiff();
        let batch_norm = BatchNorm::new(2, &device);
        let _ = batch_norm.forward(inputs(&device), Mode::Train);
        batch_norm.sync_running_stats();

        let mean = batch_norm
            .running_mean
            .value()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let var = batch_norm
            .running_var
            .value()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // running = 0.9 * initial + 0.1 * batch, with the unbiased batch variance.
        assert!((mean[0] - 0.25).abs() < 1e-6, "mean {mean:?}");
        assert!((mean[1] - 1.1).abs() < 1e-6, "mean {mean:?}");
        assert!(
            (var[0] - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-6,
            "var {var:?}"
        );
        assert!((var[1] - (0.9 + 0.1 * 4.0)).abs() < 1e-6, "var {var:?}");
    }

    #[test]
    fn eval_mode_uses_running_stats() {
        let device = Device::flex();
        let batch_norm = BatchNorm::new(2, &device);
        let output = batch_norm.forward(inputs(&device), Mode::Eval);
        let values = output.into_data().try_to_vec::<f32>().unwrap();
        // Initial running statistics are mean 0 and variance 1: the output is x / sqrt(1 + eps).
        let scale = 1.0 / (1.0f32 + 1e-5).sqrt();
        assert!((values[7] - 14.0 * scale).abs() < 1e-4, "got {}", values[7]);
    }

    #[test]
    #[should_panic(expected = "at least 2 samples")]
    fn train_mode_rejects_single_sample() {
        let device = Device::flex();
        let batch_norm = BatchNorm::new(2, &device);
        let single = Tensor::<2>::zeros([1, 2], &device);
        let _ = batch_norm.forward(single, Mode::Train);
    }
}
