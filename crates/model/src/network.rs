//! One type for every network family, so that training and probes need not know which it is.

use burn::module::{Module, Param};
use burn::tensor::{Gradients, Tensor};

use crate::{Cnn, ForwardHooks, Mlp, Mode, NamedWeight};

/// A network of either family.
#[derive(Module, Debug)]
pub enum Network {
    /// A multilayer perceptron.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Cnn),
}

/// Norms of one weight tensor and of its gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightNorm {
    /// `stem`, `block K` (MLP), `block K conv 1` (CNN) or `head`.
    pub name: String,
    /// Frobenius norm of the weight.
    pub weight_norm: f64,
    /// Frobenius norm of its gradient; NaN when the weight took no part in the loss.
    pub grad_norm: f64,
}

/// Returns the Frobenius norm of `tensor`, the square root of the sum of its squared values.
pub fn frobenius_norm<const D: usize>(tensor: Tensor<D>) -> f64 {
    tensor.powf_scalar(2.0).sum().into_scalar::<f64>().sqrt()
}

fn norms<const D: usize>(name: String, weight: &Param<Tensor<D>>, grads: &Gradients) -> WeightNorm {
    let weight = weight.val();
    WeightNorm {
        name,
        grad_norm: weight.grad(grads).map_or(f64::NAN, frobenius_norm),
        weight_norm: frobenius_norm(weight.detach()),
    }
}

impl From<Mlp> for Network {
    fn from(mlp: Mlp) -> Self {
        Network::Mlp(mlp)
    }
}

impl From<Cnn> for Network {
    fn from(cnn: Cnn) -> Self {
        Network::Cnn(cnn)
    }
}

impl Network {
    /// Returns the logits `[batch, num_classes]` for samples flattened to `[batch, size]`.
    pub fn forward(&self, inputs: Tensor<2>, mode: Mode) -> Tensor<2> {
        match self {
            Network::Mlp(mlp) => mlp.forward(inputs, mode),
            Network::Cnn(cnn) => cnn.forward(inputs, mode),
        }
    }

    /// Returns the logits and the activations after the stem and after each block, flattened
    /// to `[batch, features]`, with `offsets` (one per activation) added to them.
    pub fn forward_with_offsets(
        &self,
        inputs: Tensor<2>,
        mode: Mode,
        offsets: Option<&[Tensor<2>]>,
    ) -> (Tensor<2>, Vec<Tensor<2>>) {
        match self {
            Network::Mlp(mlp) => {
                let hooks = ForwardHooks {
                    routes: None,
                    offsets,
                };
                mlp.forward_with_hooks(inputs, mode, &hooks)
            }
            Network::Cnn(cnn) => cnn.forward_with_offsets(inputs, mode, offsets),
        }
    }

    /// Returns the number of blocks: the MLP's depth, or `3n` for a CNN.
    pub fn num_blocks(&self) -> usize {
        match self {
            Network::Mlp(mlp) => mlp.depth(),
            Network::Cnn(cnn) => cnn.num_blocks(),
        }
    }

    /// Returns the MLP, or `None` for another family.
    pub fn as_mlp(&self) -> Option<&Mlp> {
        match self {
            Network::Mlp(mlp) => Some(mlp),
            Network::Cnn(_) => None,
        }
    }

    /// Converts the network into its MLP, or returns `None` for another family.
    pub fn into_mlp(self) -> Option<Mlp> {
        match self {
            Network::Mlp(mlp) => Some(mlp),
            Network::Cnn(_) => None,
        }
    }

    /// Folds pending batch-norm running statistics into the stored values; call before saving.
    pub fn sync_running_stats(&self) {
        match self {
            Network::Mlp(mlp) => mlp.sync_running_stats(),
            Network::Cnn(cnn) => cnn.sync_running_stats(),
        }
    }

    /// Returns the norm of every weight (linear or convolution, not biases or batch norm) and of
    /// its gradient in `grads`, in forward order.
    pub fn weight_norms(&self, grads: &Gradients) -> Vec<WeightNorm> {
        match self {
            Network::Mlp(mlp) => {
                let layers = mlp.linear_layers();
                let last = layers.len() - 1;
                layers
                    .into_iter()
                    .enumerate()
                    .map(|(layer, linear)| {
                        let name = match layer {
                            0 => "stem".to_string(),
                            k if k == last => "head".to_string(),
                            k => format!("block {k}"),
                        };
                        norms(name, &linear.weight, grads)
                    })
                    .collect()
            }
            Network::Cnn(cnn) => cnn
                .named_weights()
                .into_iter()
                .map(|(name, weight)| match weight {
                    NamedWeight::Conv(weight) => norms(name, weight, grads),
                    NamedWeight::Linear(weight) => norms(name, weight, grads),
                })
                .collect(),
        }
    }
}
