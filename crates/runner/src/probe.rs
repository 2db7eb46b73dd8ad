//! Probes at initialisation: activation statistics and weight gradients for one probe batch.

use burn::tensor::{Device, Tensor};
use data::Split;
use model::{ForwardHooks, Mlp, Mode};

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

fn frobenius_norm(tensor: Tensor<2>) -> f64 {
    tensor.powf_scalar(2.0).sum().into_scalar::<f64>().sqrt()
}

/// Measures `mlp` at initialisation on the first `probe_batch_size` training samples, or all of
/// them if the split is smaller. Activation statistics come from one forward pass in train mode.
/// Each linear weight's and each activation's gradient norm comes from one backward pass of the
/// mean cross-entropy.
///
/// The forward pass updates batch-norm running statistics: probe a copy, not the network to
/// train. `device` must be an autodiff device.
pub fn probe_at_init(
    mlp: &Mlp,
    split: &Split,
    probe_batch_size: usize,
    device: &Device,
) -> InitStats {
    let count = probe_batch_size.min(split.len());
    let indices: Vec<usize> = (0..count).collect();
    let (inputs, targets) = batch(split, &indices, device);

    // Zero offsets added to h_0..h_depth: their gradients are the activations' gradients.
    let width = mlp.stem.weight.dims()[1];
    let offsets: Vec<Tensor<2>> = (0..=mlp.depth())
        .map(|_| Tensor::zeros([count, width], device).require_grad())
        .collect();
    let hooks = ForwardHooks {
        routes: None,
        offsets: Some(&offsets),
    };
    let (logits, activations) = mlp.forward_with_hooks(inputs, Mode::Train, &hooks);
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
    let layers = mlp.linear_layers();
    let last = layers.len() - 1;
    let weight_grads = layers
        .into_iter()
        .enumerate()
        .map(|(layer, linear)| {
            let weight = linear.weight.val();
            let grad_norm = weight.grad(&grads).map_or(f64::NAN, frobenius_norm);
            let name = match layer {
                0 => "stem".to_string(),
                k if k == last => "head".to_string(),
                k => format!("block {k}"),
            };
            WeightGradStats {
                layer,
                name,
                weight_norm: frobenius_norm(weight.detach()),
                grad_norm,
            }
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
