//! Multilayer perceptrons of any depth, plain or residual.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{BatchNorm, InitScheme, Mode, ParamRng, Variant};

/// Role of one block in [`Mlp::forward_with_hooks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRoute {
    /// The block as built: `h + f(h)`, or `f(h)` in a plain network.
    Normal,
    /// The block removed, `h_k = h_{k-1}`: a lesion (Veit et al. 2016). In a residual network
    /// this drops the branch and keeps the shortcut. In a plain network it replaces the layer by
    /// the identity, which is defined because every block maps `width -> width`.
    Deleted,
    /// Residual block with its forward value unchanged, whose backward pass flows through the
    /// branch only. Used to measure the gradient carried by paths of a given length.
    BranchGradientOnly,
    /// Residual block with its forward value unchanged, whose backward pass flows through the
    /// shortcut only.
    ShortcutGradientOnly,
}

/// Analysis hooks for [`Mlp::forward_with_hooks`]; the default changes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardHooks<'a> {
    /// One route per block; `None` runs every block normally.
    pub routes: Option<&'a [BlockRoute]>,
    /// Tensors added to `h_0, ..., h_depth`. Zero tensors that require a gradient make the
    /// gradient of a loss with respect to each activation readable from them.
    pub offsets: Option<&'a [Tensor<2>]>,
}

/// Shape and variant of an [`Mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Number of input features (40 for MNIST-1D).
    pub input_size: usize,
    /// Width of every hidden layer.
    pub width: usize,
    /// Number of blocks, each one `width -> width` linear layer.
    pub depth: usize,
    /// Number of classes (the width of the logits).
    pub num_classes: usize,
    /// The network to build, one of four.
    pub variant: Variant,
    /// Distribution of the initial weights and biases.
    pub init: InitScheme,
}

/// One pre-activation block: `f(h) = Linear(ReLU(BN(h)))`, with `BN` only in the batch-norm
/// variants.
///
/// A residual network adds the input back, `h + f(h)` (He et al. 2016, "Identity Mappings in
/// Deep Residual Networks"); a plain network keeps `f(h)`.
#[derive(Module, Debug)]
pub struct Block {
    /// Batch norm on the block input, in the batch-norm variants.
    pub batch_norm: Option<BatchNorm>,
    /// The block's `width -> width` layer.
    pub linear: Linear,
}

impl Block {
    /// Returns the residual branch `f(h)` for `h` of shape `[batch, width]`.
    pub fn branch(&self, h: Tensor<2>, mode: Mode) -> Tensor<2> {
        let h = match &self.batch_norm {
            Some(batch_norm) => batch_norm.forward(h, mode),
            None => h,
        };
        let h = relu(h);
        self.linear.forward(h)
    }
}

/// A multilayer perceptron of `depth` blocks between a linear stem and a linear head:
///
/// ```text
/// h_0     = W_0 x + b_0                                  (input_size -> width)
/// h_k     = [h_{k-1} +] W_k ReLU(BN_k(h_{k-1})) + b_k    (k = 1..=depth, width -> width)
/// logits  = W_out ReLU(BN_out(h_depth)) + b_out           (width -> num_classes)
/// ```
///
/// The shortcut `h_{k-1} +` is present in the residual variants and the `BN` layers in the
/// batch-norm variants. Every variant has the same `depth + 2` linear layers, so a plain network
/// and its residual twin with the same seed have identical weights. The head repeats the block's
/// pre-activation so that the last block's output is normalised and rectified like every other.
///
/// With He initialisation and no batch norm, each residual block adds a branch whose variance
/// equals that of its input, so the variance of `h_k` doubles per block at initialisation. A
/// plain network keeps it roughly constant. With batch norm each branch adds about unit variance,
/// so the residual stream's variance grows linearly in `k`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Input layer, `input_size -> width`.
    pub stem: Linear,
    /// The `depth` blocks.
    pub blocks: Vec<Block>,
    /// Batch norm before the head, in the batch-norm variants.
    pub head_batch_norm: Option<BatchNorm>,
    /// Output layer, `width -> num_classes`.
    pub head: Linear,
    /// Whether each block adds its input back.
    pub shortcut: bool,
}

impl MlpConfig {
    /// Builds the network with parameters drawn from `seed`.
    ///
    /// Layers are drawn in order (stem, blocks, head), so the same seed gives the same weights
    /// for all four variants of one depth.
    ///
    /// # Panics
    ///
    /// If `input_size`, `width` or `num_classes` is zero.
    pub fn init(&self, seed: u64, device: &Device) -> Mlp {
        assert!(self.input_size > 0, "input_size must be positive");
        assert!(self.width > 0, "width must be positive");
        assert!(self.num_classes > 0, "num_classes must be positive");

        let mut rng = ParamRng::new(seed);
        let batch_norm = self.variant.has_batch_norm();
        let stem = self
            .init
            .linear(self.input_size, self.width, &mut rng, device);
        let blocks = (0..self.depth)
            .map(|_| Block {
                batch_norm: batch_norm.then(|| BatchNorm::new(self.width, device)),
                linear: self.init.linear(self.width, self.width, &mut rng, device),
            })
            .collect();
        let head_batch_norm = batch_norm.then(|| BatchNorm::new(self.width, device));
        let head = self
            .init
            .linear(self.width, self.num_classes, &mut rng, device);

        Mlp {
            stem,
            blocks,
            head_batch_norm,
            head,
            shortcut: self.variant.has_shortcut(),
        }
    }

    /// Returns the number of trainable parameters (weights, biases, batch-norm scale and shift).
    pub fn num_params(&self) -> usize {
        let linear = |d_input: usize, d_output: usize| d_input * d_output + d_output;
        let batch_norms = if self.variant.has_batch_norm() {
            self.depth + 1
        } else {
            0
        };
        linear(self.input_size, self.width)
            + self.depth * linear(self.width, self.width)
            + linear(self.width, self.num_classes)
            + batch_norms * 2 * self.width
    }
}

impl Mlp {
    /// Returns the logits `[batch, num_classes]` for inputs `[batch, input_size]`.
    pub fn forward(&self, inputs: Tensor<2>, mode: Mode) -> Tensor<2> {
        let mut h = self.stem.forward(inputs);
        for block in &self.blocks {
            h = self.apply_block(block, h, mode);
        }
        self.apply_head(h, mode)
    }

    /// Returns the logits and the activations `h_0, ..., h_depth`, each `[batch, width]`.
    ///
    /// `h_0` is the stem's output and `h_k` the output of block `k` (the residual stream in the
    /// residual variants).
    pub fn forward_with_activations(
        &self,
        inputs: Tensor<2>,
        mode: Mode,
    ) -> (Tensor<2>, Vec<Tensor<2>>) {
        self.forward_with_hooks(inputs, mode, &ForwardHooks::default())
    }

    /// Runs the forward pass with analysis hooks and returns the logits and the activations
    /// `h_0, ..., h_depth` (after their offsets are added).
    ///
    /// # Panics
    ///
    /// If `hooks.routes` or `hooks.offsets` has the wrong length.
    pub fn forward_with_hooks(
        &self,
        inputs: Tensor<2>,
        mode: Mode,
        hooks: &ForwardHooks,
    ) -> (Tensor<2>, Vec<Tensor<2>>) {
        let depth = self.blocks.len();
        if let Some(routes) = hooks.routes {
            assert_eq!(routes.len(), depth, "one route per block");
        }
        if let Some(offsets) = hooks.offsets {
            assert_eq!(
                offsets.len(),
                depth + 1,
                "one offset per activation h_0..h_depth"
            );
        }
        let offset = |k: usize, h: Tensor<2>| match hooks.offsets {
            Some(offsets) => h + offsets[k].clone(),
            None => h,
        };

        let mut activations = Vec::with_capacity(depth + 1);
        let mut h = offset(0, self.stem.forward(inputs));
        activations.push(h.clone());
        for (k, block) in self.blocks.iter().enumerate() {
            let route = hooks.routes.map_or(BlockRoute::Normal, |routes| routes[k]);
            h = offset(k + 1, self.apply_routed_block(block, h, mode, route));
            activations.push(h.clone());
        }
        let logits = self.apply_head(h, mode);
        (logits, activations)
    }

    /// Sets every batch norm's running statistics to the statistics of `inputs`, so that
    /// [`Mode::Eval`] normalises each sample with them: a network evaluated one sample at a time
    /// then computes the same function as in train mode on this batch.
    pub fn freeze_batch_statistics(&mut self, inputs: Tensor<2>) {
        let set_momentum = |mlp: &mut Mlp, momentum: f64| {
            let blocks = mlp
                .blocks
                .iter_mut()
                .filter_map(|block| block.batch_norm.as_mut());
            for batch_norm in blocks.chain(mlp.head_batch_norm.as_mut()) {
                batch_norm.momentum = momentum;
            }
        };
        set_momentum(self, 1.0);
        let _ = self.forward(inputs.detach(), Mode::Train);
        self.sync_running_stats();
        set_momentum(self, BatchNorm::DEFAULT_MOMENTUM);
    }

    /// Returns the network's linear layers in order: stem, blocks, head.
    pub fn linear_layers(&self) -> Vec<&Linear> {
        let blocks = self.blocks.iter().map(|block| &block.linear);
        std::iter::once(&self.stem)
            .chain(blocks)
            .chain(std::iter::once(&self.head))
            .collect()
    }

    /// Returns the number of blocks.
    pub fn depth(&self) -> usize {
        self.blocks.len()
    }

    /// Folds pending batch-norm running statistics into the stored values; call before saving.
    pub fn sync_running_stats(&self) {
        let blocks = self
            .blocks
            .iter()
            .filter_map(|block| block.batch_norm.as_ref());
        for batch_norm in blocks.chain(self.head_batch_norm.as_ref()) {
            batch_norm.sync_running_stats();
        }
    }

    fn apply_block(&self, block: &Block, h: Tensor<2>, mode: Mode) -> Tensor<2> {
        let branch = block.branch(h.clone(), mode);
        if self.shortcut { h + branch } else { branch }
    }

    fn apply_routed_block(
        &self,
        block: &Block,
        h: Tensor<2>,
        mode: Mode,
        route: BlockRoute,
    ) -> Tensor<2> {
        match (route, self.shortcut) {
            (BlockRoute::Normal, _) => self.apply_block(block, h, mode),
            (BlockRoute::Deleted, _) => h,
            (BlockRoute::BranchGradientOnly, true) => {
                let branch = block.branch(h.clone(), mode);
                h.detach() + branch
            }
            (BlockRoute::ShortcutGradientOnly, true) => {
                let branch = block.branch(h.clone(), mode);
                h + branch.detach()
            }
            (_, false) => panic!("gradient routes apply to residual networks only"),
        }
    }

    fn apply_head(&self, h: Tensor<2>, mode: Mode) -> Tensor<2> {
        let h = match &self.head_batch_norm {
            Some(batch_norm) => batch_norm.forward(h, mode),
            None => h,
        };
        self.head.forward(relu(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    const WIDTH: usize = 100;
    const INPUT_SIZE: usize = 40;

    fn config(variant: Variant, depth: usize) -> MlpConfig {
        MlpConfig {
            input_size: INPUT_SIZE,
            width: WIDTH,
            depth,
            num_classes: 10,
            variant,
            init: InitScheme::KaimingNormal,
        }
    }

    /// Standard normal inputs `[batch, INPUT_SIZE]`, seeded.
    fn normal_inputs(batch: usize, seed: u64, device: &Device) -> Tensor<2> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let values: Vec<f32> = (0..batch * INPUT_SIZE)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        Tensor::from_data(TensorData::new(values, [batch, INPUT_SIZE]), device)
    }

    /// Variance of every activation `h_0..h_depth` at initialisation, in train mode.
    fn activation_variances(variant: Variant, depth: usize, seed: u64) -> Vec<f64> {
        let device = Device::flex().autodiff();
        let mlp = config(variant, depth).init(seed, &device);
        let inputs = normal_inputs(1000, seed + 100, &device);
        let (_, activations) = mlp.forward_with_activations(inputs, Mode::Train);
        activations
            .into_iter()
            .map(|h| {
                let values = h.into_data().try_to_vec::<f32>().unwrap();
                let n = values.len() as f64;
                let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
                values
                    .iter()
                    .map(|&v| (v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n
            })
            .collect()
    }

    #[test]
    fn param_count_matches_formula() {
        let device = Device::flex();
        for variant in Variant::ALL {
            for depth in [0, 1, 2, 16] {
                let config = config(variant, depth);
                let mlp = config.init(0, &device);
                // burn's count includes the running mean and variance of each batch norm.
                let batch_norms = if variant.has_batch_norm() {
                    depth + 1
                } else {
                    0
                };
                let running_stats = batch_norms * 2 * WIDTH;
                let trainable = mlp.num_params() - running_stats;
                assert_eq!(trainable, config.num_params(), "{variant} depth {depth}");
            }
        }
        // 40*100+100 + 2*(100*100+100) + 100*10+10 = 25_310, plus 3 batch norms of 200.
        assert_eq!(config(Variant::Plain, 2).num_params(), 25_310);
        assert_eq!(config(Variant::PlainBn, 2).num_params(), 25_910);
    }

    #[test]
    fn plain_and_residual_share_weights() {
        let device = Device::flex();
        let plain = config(Variant::PlainBn, 4).init(3, &device);
        let residual = config(Variant::ResidualBn, 4).init(3, &device);
        for (a, b) in plain.linear_layers().iter().zip(residual.linear_layers()) {
            assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
        }
        assert!(!plain.shortcut);
        assert!(residual.shortcut);
    }

    #[test]
    fn residual_without_bn_doubles_variance_per_block() {
        let variances = activation_variances(Variant::Residual, 64, 7);
        let ratio_per_block = (variances[64] / variances[0]).powf(1.0 / 64.0);
        assert!(
            (ratio_per_block - 2.0).abs() < 0.08,
            "variance ratio per block {ratio_per_block}, expected 2"
        );
        // Standard deviation grows about sqrt(2) = 1.41 per block.
        let std_ratio = ratio_per_block.sqrt();
        assert!(
            (std_ratio - 2f64.sqrt()).abs() < 0.03,
            "std ratio per block {std_ratio}"
        );
    }

    #[test]
    fn plain_he_keeps_std_flat() {
        // Finite width makes log-variance a random walk over layers, so check several seeds:
        // no exponential trend in any, and a typical spread within about a factor 3.
        let mut spreads = Vec::new();
        for seed in 0..6 {
            let variances = activation_variances(Variant::Plain, 64, seed);
            let stds: Vec<f64> = variances.iter().map(|v| v.sqrt()).collect();
            let ratio_per_block = (stds[64] / stds[0]).powf(1.0 / 64.0);
            assert!(
                (ratio_per_block - 1.0).abs() < 0.05,
                "seed {seed}: std ratio per block {ratio_per_block}, expected about 1"
            );
            let max = stds.iter().cloned().fold(f64::MIN, f64::max);
            let min = stds.iter().cloned().fold(f64::MAX, f64::min);
            spreads.push(max / min);
        }
        spreads.sort_by(f64::total_cmp);
        let median = (spreads[2] + spreads[3]) / 2.0;
        assert!(
            median < 4.0,
            "median max/min std over seeds {median}, spreads {spreads:?}"
        );
    }

    #[test]
    fn residual_bn_variance_grows_linearly() {
        let variances = activation_variances(Variant::ResidualBn, 64, 7);
        // Each branch is W ReLU(BN(h)) with He weights: variance 2 * E[ReLU(z)^2] = 1.
        let mean_increment = (variances[64] - variances[0]) / 64.0;
        assert!(
            (mean_increment - 1.0).abs() < 0.15,
            "mean increment {mean_increment}"
        );
        let first_half = (variances[32] - variances[0]) / 32.0;
        let second_half = (variances[64] - variances[32]) / 32.0;
        assert!(
            (second_half / first_half - 1.0).abs() < 0.3,
            "increments {first_half} then {second_half}: not linear"
        );
    }

    #[test]
    fn plain_bn_variance_stays_near_one() {
        let variances = activation_variances(Variant::PlainBn, 32, 7);
        for (k, variance) in variances.iter().enumerate().skip(1) {
            assert!(
                (variance - 1.0).abs() < 0.25,
                "variance {variance} at block {k}"
            );
        }
    }

    #[test]
    fn forward_returns_logits_and_activations() {
        let device = Device::flex();
        let mlp = config(Variant::ResidualBn, 3).init(0, &device);
        let inputs = normal_inputs(8, 0, &device);
        let logits = mlp.forward(inputs.clone(), Mode::Eval);
        let (logits_too, activations) = mlp.forward_with_activations(inputs, Mode::Eval);
        assert_eq!(logits.dims(), [8, 10]);
        assert_eq!(activations.len(), 4);
        assert_eq!(activations[3].dims(), [8, WIDTH]);
        logits.into_data().assert_eq(&logits_too.into_data(), true);
    }

    #[test]
    fn same_seed_same_network() {
        let device = Device::flex();
        let a = config(Variant::Plain, 2).init(5, &device);
        let b = config(Variant::Plain, 2).init(5, &device);
        let c = config(Variant::Plain, 2).init(6, &device);
        assert_eq!(
            a.head.weight.val().into_data(),
            b.head.weight.val().into_data()
        );
        assert_ne!(
            a.head.weight.val().into_data(),
            c.head.weight.val().into_data()
        );
    }
    /// Norm of the mean cross-entropy's gradient with respect to each activation `h_k`, for
    /// seeded random labels, read through zero offsets.
    fn activation_grad_norms(variant: Variant, depth: usize, seed: u64) -> Vec<f64> {
        let device = Device::flex().autodiff();
        let mlp = config(variant, depth).init(seed, &device);
        let batch = 1000;
        let inputs = normal_inputs(batch, seed + 100, &device);
        let offsets: Vec<Tensor<2>> = (0..=depth)
            .map(|_| Tensor::zeros([batch, WIDTH], &device).require_grad())
            .collect();
        let hooks = ForwardHooks {
            routes: None,
            offsets: Some(&offsets),
        };
        let (logits, _) = mlp.forward_with_hooks(inputs, Mode::Train, &hooks);
        let labels: Vec<i64> = (0..batch as i64).map(|i| (i * 7 + 3) % 10).collect();
        let targets =
            Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(labels, [batch]), &device);
        let log_probs = burn::tensor::activation::log_softmax(logits, 1);
        let loss = log_probs
            .gather(1, targets.reshape([batch, 1]))
            .mean()
            .neg();
        let grads = loss.backward();
        offsets
            .iter()
            .map(|offset| {
                let grad = offset.grad(&grads).expect("offset has a gradient");
                grad.powf_scalar(2.0).sum().into_scalar::<f64>().sqrt()
            })
            .collect()
    }

    #[test]
    fn plain_bn_gradients_grow_towards_input() {
        // Batch norm at initialisation makes backward gradients grow by about
        // sqrt(pi / (pi - 1)) = 1.21 per layer towards the input (Yang et al. 2019).
        let norms = activation_grad_norms(Variant::PlainBn, 32, 5);
        let ratio_per_layer = (norms[0] / norms[32]).powf(1.0 / 32.0);
        let expected = (std::f64::consts::PI / (std::f64::consts::PI - 1.0)).sqrt();
        assert!(
            (ratio_per_layer - expected).abs() < 0.05,
            "gradient ratio per layer {ratio_per_layer}, expected {expected}"
        );
    }

    #[test]
    fn plain_he_gradients_stay_flat() {
        let norms = activation_grad_norms(Variant::Plain, 32, 5);
        let ratio_per_layer = (norms[0] / norms[32]).powf(1.0 / 32.0);
        assert!(
            (ratio_per_layer - 1.0).abs() < 0.05,
            "ratio per layer {ratio_per_layer}"
        );
    }

    #[test]
    fn deleted_blocks_leave_stem_and_head() {
        let device = Device::flex();
        let mlp = config(Variant::Residual, 3).init(1, &device);
        let inputs = normal_inputs(4, 2, &device);
        let routes = [BlockRoute::Deleted; 3];
        let hooks = ForwardHooks {
            routes: Some(&routes),
            offsets: None,
        };
        let (logits, activations) = mlp.forward_with_hooks(inputs.clone(), Mode::Eval, &hooks);
        assert_eq!(activations.len(), 4);
        activations[3]
            .clone()
            .into_data()
            .assert_eq(&activations[0].clone().into_data(), true);
        let head_only = mlp.head.forward(relu(activations[0].clone()));
        logits.into_data().assert_eq(&head_only.into_data(), true);
    }

    #[test]
    fn gradient_routes_split_the_gradient() {
        // For one residual block, d logits / d h_0 through both paths is the sum of the branch
        // and shortcut paths.
        let device = Device::flex().autodiff();
        let mlp = config(Variant::Residual, 1).init(4, &device);
        let grad_at_stem = |route: BlockRoute| {
            let offsets: Vec<Tensor<2>> = (0..2)
                .map(|_| Tensor::zeros([6, WIDTH], &device).require_grad())
                .collect();
            let routes = [route];
            let hooks = ForwardHooks {
                routes: Some(&routes),
                offsets: Some(&offsets),
            };
            let inputs = normal_inputs(6, 9, &device);
            let (logits, _) = mlp.forward_with_hooks(inputs, Mode::Train, &hooks);
            let grads = logits.sum().backward();
            let grad = offsets[0].grad(&grads).unwrap();
            grad.into_data().try_to_vec::<f32>().unwrap()
        };
        let both = grad_at_stem(BlockRoute::Normal);
        let branch = grad_at_stem(BlockRoute::BranchGradientOnly);
        let shortcut = grad_at_stem(BlockRoute::ShortcutGradientOnly);
        for i in 0..both.len() {
            let sum = branch[i] + shortcut[i];
            assert!(
                (both[i] - sum).abs() < 1e-4,
                "element {i}: {} vs {sum}",
                both[i]
            );
        }
    }
}
