//! Probes at initialisation: activation statistics and weight gradients for one probe batch.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use data::Split;
use model::{Mode, Network, frobenius_norm};

use crate::results::{ActivationGradStats, ActivationStats, InitStats, WeightGradStats, finite};
use crate::train::{batch, cross_entropy};

/// Returns the mean, standard deviation and mean square of all values of `tensor`.
fn moments(tensor: Tensor<2>) -> (f64, f64, f64) {
    let values = tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float tensor converts to f32");
    let count = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / count;
    let mean_square = values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / count;
    let variance = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / count;
    (mean, variance.sqrt(), mean_square)
}

/// Returns the number of features of each activation `h_0, ..., h_blocks` of `network` for
/// inputs of `sample_size` values, from a forward pass on one zero sample in eval mode.
fn activation_sizes(network: &Network, sample_size: usize, device: &Device) -> Vec<usize> {
    let device = device.clone().inner();
    let zero = Tensor::<2>::zeros([1, sample_size], &device);
    let (_, activations) = network.valid().forward_with_offsets(zero, Mode::Eval, None);
    activations.iter().map(|h| h.dims()[1]).collect()
}

/// Measures `network` at initialisation on the first `probe_batch_size` training samples, or all of
/// them if the split is smaller. Activation statistics come from one forward pass in train mode.
/// Each weight's (linear or convolution) and each activation's gradient norm comes from one backward pass of the
/// mean cross-entropy.
///
/// The forward pass updates batch-norm running statistics: probe a copy, not the network to
/// train. `device` must be an autodiff device.
pub fn probe_at_init(
    network: &Network,
    split: &Split,
    probe_batch_size: usize,
    device: &Device,
) -> InitStats {
    let count = probe_batch_size.min(split.len());
    let indices: Vec<usize> = (0..count).collect();
    let (inputs, targets) = batch(split, &indices, device);

    // Zero offsets added to h_0..h_blocks: their gradients are the activations' gradients.
    let offsets: Vec<Tensor<2>> = activation_sizes(network, split.sample_size(), device)
        .into_iter()
        .map(|size| Tensor::zeros([count, size], device).require_grad())
        .collect();
    let (logits, activations) = network.forward_with_offsets(inputs, Mode::Train, Some(&offsets));
    let activations = activations
        .into_iter()
        .enumerate()
        .map(|(layer, h)| {
            let (mean, std, mean_square) = moments(h.detach());
            ActivationStats {
                layer,
                mean,
                std,
                mean_square,
            }
        })
        .collect();

    let loss = cross_entropy(logits, targets);
    let loss_value = loss.clone().into_scalar::<f64>();
    let grads = loss.backward();
    let weight_grads = network
        .weight_norms(&grads)
        .into_iter()
        .enumerate()
        .map(|(layer, norms)| WeightGradStats {
            layer,
            name: norms.name,
            weight_norm: norms.weight_norm,
            grad_norm: norms.grad_norm,
        })
        .collect();
    let activation_grads = offsets
        .iter()
        .enumerate()
        .map(|(layer, offset)| ActivationGradStats {
            layer,
            grad_norm: offset.grad(&grads).map_or(f64::NAN, frobenius_norm),
        })
        .collect();

    InitStats {
        probe_batch_size: count,
        loss: finite(loss_value),
        activations,
        weight_grads,
        activation_grads,
    }
}
