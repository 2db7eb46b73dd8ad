//! Convolutional networks for small images, plain or residual (He et al. 2016, Sec. 4.2).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::{BatchNorm, InitScheme, Mode, ParamRng, Variant};

/// The shortcut of a residual block where a stage halves the maps and doubles the channels
/// (He et al. 2016, Sec. 3.3). Elsewhere the shortcut is the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shortcut {
    /// Option A: the input subsampled with stride 2, its extra channels filled with zeros. No
    /// parameters; the paper's choice for its CIFAR-10 networks.
    #[serde(rename = "a")]
    ZeroPad,
    /// Option B: a strided 1x1 convolution (with batch norm in the batch-norm variants).
    #[serde(rename = "b")]
    Projection,
}

/// Shape and variant of a [`Cnn`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Input channels (1 for MNIST and Fashion-MNIST, 3 for CIFAR-10).
    pub in_channels: usize,
    /// Input height and width in pixels.
    pub image_size: [usize; 2],
    /// Filters in the first stage (16 in the paper); the second and third stages have two and
    /// four times as many.
    pub base_width: usize,
    /// Blocks per stage, `n` in the paper; the network has `6n + 2` weighted layers.
    pub blocks_per_stage: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// The network to build, one of four.
    pub variant: Variant,
    /// Shortcut where the shape changes, in the residual variants.
    pub shortcut: Shortcut,
    /// Distribution of the initial weights, with `fan_in = in_channels * kernel area`.
    pub init: InitScheme,
}

/// A convolution with `padding` zeros on each side and an optional bias.
#[derive(Module, Debug)]
pub struct Conv {
    /// Kernel `[out_channels, in_channels, size, size]`.
    pub weight: Param<Tensor<4>>,
    /// Bias, present where no batch norm follows.
    pub bias: Option<Param<Tensor<1>>>,
    /// Stride in both directions.
    pub stride: usize,
    /// Zeros added on each side.
    pub padding: usize,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    fn init(
        init: InitScheme,
        in_channels: usize,
        out_channels: usize,
        size: usize,
        stride: usize,
        bias: bool,
        rng: &mut ParamRng,
        device: &Device,
    ) -> Self {
        let fan_in = in_channels * size * size;
        let bias_count = if bias { out_channels } else { 0 };
        let (weight, bias_values) = init.draw(fan_in, out_channels * fan_in, bias_count, rng);
        let shape = [out_channels, in_channels, size, size];
        let weight = Tensor::<4>::from_data(TensorData::new(weight, shape), device);
        let bias = bias.then(|| {
            let values = TensorData::new(bias_values, [out_channels]);
            Param::from_tensor(Tensor::<1>::from_data(values, device))
        });
        Self {
            weight: Param::from_tensor(weight),
            bias,
            stride,
            padding: size / 2,
        }
    }

    /// Applies the convolution to `input` `[batch, in_channels, height, width]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let options = ConvOptions::new(
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        );
        let bias = self.bias.as_ref().map(Param::val);
        conv2d(input, self.weight.val(), bias, options)
    }

    /// Returns the number of weights and biases.
    pub fn num_params(&self) -> usize {
        self.weight.shape().num_elements() + self.bias.as_ref().map_or(0, |b| b.dims()[0])
    }
}

/// A convolution followed by batch norm in the batch-norm variants.
#[derive(Module, Debug)]
pub struct ConvNorm {
    /// The convolution; it has a bias only when there is no batch norm.
    pub conv: Conv,
    /// Batch norm of the convolution's output.
    pub batch_norm: Option<BatchNorm>,
}

impl ConvNorm {
    #[allow(clippy::too_many_arguments)]
    fn init(
        config: &CnnConfig,
        in_channels: usize,
        out_channels: usize,
        size: usize,
        stride: usize,
        rng: &mut ParamRng,
        device: &Device,
    ) -> Self {
        let batch_norm = config.variant.has_batch_norm();
        let conv = Conv::init(
            config.init,
            in_channels,
            out_channels,
            size,
            stride,
            !batch_norm,
            rng,
            device,
        );
        Self {
            conv,
            batch_norm: batch_norm.then(|| BatchNorm::new(out_channels, device)),
        }
    }

    fn forward(&self, input: Tensor<4>, mode: Mode) -> Tensor<4> {
        let output = self.conv.forward(input);
        match &self.batch_norm {
            Some(batch_norm) => batch_norm.forward(output, mode),
            None => output,
        }
    }

    fn num_params(&self) -> usize {
        let batch_norm = self
            .batch_norm
            .as_ref()
            .map_or(0, |b| 2 * b.gamma.dims()[0]);
        self.conv.num_params() + batch_norm
    }
}

/// The basic block of He et al. 2016: `ReLU(F(x) [+ shortcut(x)])`, with
/// `F(x) = BN(conv3x3(ReLU(BN(conv3x3(x)))))`; `BN` only in the batch-norm variants.
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// First 3x3 convolution; stride 2 in the first block of the second and third stages.
    pub first: ConvNorm,
    /// Second 3x3 convolution.
    pub second: ConvNorm,
    /// 1x1 projection shortcut (option B) where the shape changes.
    pub projection: Option<ConvNorm>,
    /// Channels added with zeros by an option-A shortcut (zero where the shape is unchanged).
    pub pad_channels: usize,
    /// Stride of the block (1 or 2).
    pub stride: usize,
}

impl ConvBlock {
    /// Returns the residual branch `F(x)`.
    pub fn branch(&self, input: Tensor<4>, mode: Mode) -> Tensor<4> {
        let h = relu(self.first.forward(input, mode));
        self.second.forward(h, mode)
    }

    /// Returns the shortcut: the identity, a projection, or subsampling with zero channels.
    pub fn shortcut(&self, input: Tensor<4>, mode: Mode) -> Tensor<4> {
        if let Some(projection) = &self.projection {
            return projection.forward(input, mode);
        }
        if self.stride == 1 && self.pad_channels == 0 {
            return input;
        }
        let options = AvgPoolOptions::new([1, 1]).with_stride([self.stride, self.stride]);
        let subsampled = avg_pool2d(input, options);
        if self.pad_channels == 0 {
            return subsampled;
        }
        let [batch, _, height, width] = subsampled.dims();
        let zeros = Tensor::zeros(
            [batch, self.pad_channels, height, width],
            &subsampled.device(),
        );
        Tensor::cat(vec![subsampled, zeros], 1)
    }
}

/// The CIFAR-10 network of He et al. 2016 (Sec. 4.2), for any small image:
///
/// ```text
/// stem:    conv3x3 (in_channels -> w), BN, ReLU
/// stage 1: n blocks, w filters, full resolution
/// stage 2: n blocks, 2w filters, half resolution (stride 2 in its first block)
/// stage 3: n blocks, 4w filters, quarter resolution
/// head:    global average pooling, linear (4w -> num_classes)
/// ```
///
/// Each block holds two 3x3 convolutions, so there are `6n + 2` weighted layers; with `w = 16`,
/// `n = 3` is ResNet-20. The plain variants have exactly the same layers without the shortcuts.
/// Convolutions followed by batch norm have no bias, those in the variants without batch norm
/// have one.
#[derive(Module, Debug)]
pub struct Cnn {
    /// First convolution.
    pub stem: ConvNorm,
    /// The `3n` blocks, stage by stage.
    pub blocks: Vec<ConvBlock>,
    /// Output layer, `4w -> num_classes`.
    pub head: Linear,
    /// Whether each block adds its shortcut.
    pub residual: bool,
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
}

impl CnnConfig {
    /// Returns the number of weighted layers, `6n + 2`.
    pub fn num_layers(&self) -> usize {
        6 * self.blocks_per_stage + 2
    }

    /// Returns the blocks per stage of a network with `layers` weighted layers, or `None` when
    /// `layers` is not `6n + 2` for a positive `n`.
    pub fn blocks_for_layers(layers: usize) -> Option<usize> {
        (layers >= 8 && (layers - 2).is_multiple_of(6)).then(|| (layers - 2) / 6)
    }

    /// Builds the network with parameters drawn from `seed`, in order: stem, blocks, head.
    ///
    /// # Panics
    ///
    /// If a size is zero.
    pub fn init(&self, seed: u64, device: &Device) -> Cnn {
        assert!(self.in_channels > 0, "in_channels must be positive");
        assert!(
            self.image_size.iter().all(|&s| s > 0),
            "image size must be positive"
        );
        assert!(self.base_width > 0, "base_width must be positive");
        assert!(self.num_classes > 0, "num_classes must be positive");

        let mut rng = ParamRng::new(seed);
        let width = self.base_width;
        let stem = ConvNorm::init(self, self.in_channels, width, 3, 1, &mut rng, device);
        let mut blocks = Vec::with_capacity(3 * self.blocks_per_stage);
        let mut channels = width;
        for stage in 0..3 {
            let out_channels = width << stage;
            for index in 0..self.blocks_per_stage {
                let stride = if stage > 0 && index == 0 { 2 } else { 1 };
                let first =
                    ConvNorm::init(self, channels, out_channels, 3, stride, &mut rng, device);
                let second =
                    ConvNorm::init(self, out_channels, out_channels, 3, 1, &mut rng, device);
                let reshapes = stride != 1 || channels != out_channels;
                let projection = (reshapes && self.shortcut == Shortcut::Projection).then(|| {
                    ConvNorm::init(self, channels, out_channels, 1, stride, &mut rng, device)
                });
                let pad_channels = if projection.is_none() {
                    out_channels - channels
                } else {
                    0
                };
                blocks.push(ConvBlock {
                    first,
                    second,
                    projection,
                    pad_channels,
                    stride,
                });
                channels = out_channels;
            }
        }
        let head = self
            .init
            .linear(channels, self.num_classes, &mut rng, device);
        Cnn {
            stem,
            blocks,
            head,
            residual: self.variant.has_shortcut(),
            in_channels: self.in_channels,
            height: self.image_size[0],
            width: self.image_size[1],
        }
    }
}

impl Cnn {
    /// Returns the logits `[batch, num_classes]` for images flattened row-major into
    /// `[batch, channels * height * width]`.
    pub fn forward(&self, inputs: Tensor<2>, mode: Mode) -> Tensor<2> {
        self.forward_with_offsets(inputs, mode, None).0
    }

    /// Returns the logits and the activations after the stem and after each block, each
    /// flattened to `[batch, channels * height * width]`. Offsets, when given, are added to
    /// those activations, one per activation in its flattened shape. Zero offsets that require
    /// a gradient make each activation's gradient readable.
    ///
    /// # Panics
    ///
    /// If `offsets` does not hold one tensor per activation.
    pub fn forward_with_offsets(
        &self,
        inputs: Tensor<2>,
        mode: Mode,
        offsets: Option<&[Tensor<2>]>,
    ) -> (Tensor<2>, Vec<Tensor<2>>) {
        if let Some(offsets) = offsets {
            assert_eq!(
                offsets.len(),
                self.blocks.len() + 1,
                "one offset per activation"
            );
        }
        let [batch, _] = inputs.dims();
        let record = |k: usize, h: Tensor<4>, activations: &mut Vec<Tensor<2>>| {
            let dims = h.dims();
            let flat = h.reshape([batch, dims[1] * dims[2] * dims[3]]);
            let flat = match offsets {
                Some(offsets) => flat + offsets[k].clone(),
                None => flat,
            };
            activations.push(flat.clone());
            flat.reshape(dims)
        };

        let images = inputs.reshape([batch, self.in_channels, self.height, self.width]);
        let mut activations = Vec::with_capacity(self.blocks.len() + 1);
        let mut h = relu(self.stem.forward(images, mode));
        h = record(0, h, &mut activations);
        for (k, block) in self.blocks.iter().enumerate() {
            let branch = block.branch(h.clone(), mode);
            let sum = if self.residual {
                branch + block.shortcut(h, mode)
            } else {
                branch
            };
            h = relu(sum);
            h = record(k + 1, h, &mut activations);
        }
        let [_, channels, _, _] = h.dims();
        let pooled = h.mean_dim(3).mean_dim(2).reshape([batch, channels]);
        (self.head.forward(pooled), activations)
    }

    /// Returns the number of blocks (`3n`).
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Returns the number of weighted layers, `6n + 2`.
    pub fn num_layers(&self) -> usize {
        2 * self.blocks.len() + 2
    }

    /// Returns the number of trainable parameters: convolution weights and biases, batch-norm
    /// scale and shift, and the head's weight and bias.
    pub fn num_params(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|block| {
                let projection = block.projection.as_ref().map_or(0, ConvNorm::num_params);
                block.first.num_params() + block.second.num_params() + projection
            })
            .sum();
        let [d_input, d_output] = self.head.weight.dims();
        self.stem.num_params() + blocks + d_input * d_output + d_output
    }

    /// Returns every batch norm, in forward order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut norms: Vec<&BatchNorm> = self.stem.batch_norm.iter().collect();
        for block in &self.blocks {
            norms.extend(block.first.batch_norm.as_ref());
            norms.extend(block.second.batch_norm.as_ref());
            norms.extend(
                block
                    .projection
                    .as_ref()
                    .and_then(|p| p.batch_norm.as_ref()),
            );
        }
        norms
    }

    /// Folds pending batch-norm running statistics into the stored values; call before saving.
    pub fn sync_running_stats(&self) {
        for batch_norm in self.batch_norms() {
            batch_norm.sync_running_stats();
        }
    }

    /// Returns the weight of every convolution and of the head, with its name, in forward order.
    /// The names are `stem`, `block K conv 1`, `block K conv 2`, `block K projection` and `head`.
    pub fn named_weights(&self) -> Vec<(String, NamedWeight<'_>)> {
        let mut weights = vec![(
            "stem".to_string(),
            NamedWeight::Conv(&self.stem.conv.weight),
        )];
        for (k, block) in self.blocks.iter().enumerate() {
            let k = k + 1;
            weights.push((
                format!("block {k} conv 1"),
                NamedWeight::Conv(&block.first.conv.weight),
            ));
            weights.push((
                format!("block {k} conv 2"),
                NamedWeight::Conv(&block.second.conv.weight),
            ));
            if let Some(projection) = &block.projection {
                weights.push((
                    format!("block {k} projection"),
                    NamedWeight::Conv(&projection.conv.weight),
                ));
            }
        }
        weights.push(("head".to_string(), NamedWeight::Linear(&self.head.weight)));
        weights
    }
}

/// A weight tensor of a [`Cnn`]: a convolution kernel or the head's matrix.
pub enum NamedWeight<'a> {
    /// `[out_channels, in_channels, size, size]`.
    Conv(&'a Param<Tensor<4>>),
    /// `[d_input, d_output]`.
    Linear(&'a Param<Tensor<2>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cifar(variant: Variant, blocks_per_stage: usize, shortcut: Shortcut) -> CnnConfig {
        CnnConfig {
            in_channels: 3,
            image_size: [32, 32],
            base_width: 16,
            blocks_per_stage,
            num_classes: 10,
            variant,
            shortcut,
            init: InitScheme::KaimingNormal,
        }
    }

    /// burn's own count of the module's tensors, less the batch-norm running mean and variance
    /// (which burn counts and which are not trained).
    fn counted_by_burn(network: &Cnn) -> usize {
        let running: usize = network
            .batch_norms()
            .iter()
            .map(|b| 2 * b.gamma.dims()[0])
            .sum();
        Module::num_params(network) - running
    }

    #[test]
    fn resnet20_has_the_papers_parameter_count() {
        let device = Device::flex();
        let network = cifar(Variant::ResidualBn, 3, Shortcut::ZeroPad).init(0, &device);
        assert_eq!(network.num_params(), 269_722);
        assert_eq!(network.num_layers(), 20);
        assert_eq!(network.num_params(), counted_by_burn(&network));
    }

    #[test]
    fn resnet_sizes_match_table_6() {
        // He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M and 1.7M parameters.
        let device = Device::flex();
        let expected = [
            (3, 0.27e6),
            (5, 0.46e6),
            (7, 0.66e6),
            (9, 0.85e6),
            (18, 1.7e6),
        ];
        for (n, millions) in expected {
            let count = cifar(Variant::ResidualBn, n, Shortcut::ZeroPad)
                .init(0, &device)
                .num_params() as f64;
            let relative = (count - millions).abs() / millions;
            assert!(
                relative < 0.02,
                "n = {n}: {count} parameters, paper {millions}"
            );
        }
    }

    #[test]
    fn plain_twin_has_the_same_parameters() {
        let device = Device::flex();
        let plain = cifar(Variant::PlainBn, 3, Shortcut::ZeroPad).init(0, &device);
        assert_eq!(plain.num_params(), 269_722);
        let residual = cifar(Variant::ResidualBn, 3, Shortcut::ZeroPad).init(0, &device);
        let first = |network: &Cnn| -> Vec<f32> {
            network.blocks[4]
                .first
                .conv
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(first(&plain), first(&residual));
    }

    #[test]
    fn projection_shortcuts_add_two_strided_convolutions() {
        let device = Device::flex();
        let network = cifar(Variant::ResidualBn, 3, Shortcut::Projection).init(0, &device);
        // 1x1 projections 16 -> 32 and 32 -> 64, each with batch-norm scale and shift.
        let extra = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64;
        assert_eq!(network.num_params(), 269_722 + extra);
        assert_eq!(network.num_params(), counted_by_burn(&network));
    }

    #[test]
    fn variants_without_batch_norm_have_conv_biases() {
        let device = Device::flex();
        let network = cifar(Variant::Plain, 3, Shortcut::ZeroPad).init(0, &device);
        // Batch norm's 2 values per channel are replaced by 1 bias per channel.
        let channels = 16 + 6 * 16 + 6 * 32 + 6 * 64;
        assert_eq!(network.num_params(), 269_722 - channels);
        assert_eq!(network.num_params(), counted_by_burn(&network));
    }

    #[test]
    fn output_shapes_for_cifar_and_fashion_mnist() {
        let device = Device::flex();
        for (channels, size) in [(3, 32), (1, 28)] {
            let config = CnnConfig {
                in_channels: channels,
                image_size: [size, size],
                ..cifar(Variant::ResidualBn, 1, Shortcut::ZeroPad)
            };
            let network = config.init(1, &device);
            let inputs = Tensor::<2>::ones([4, channels * size * size], &device);
            let (logits, activations) = network.forward_with_offsets(inputs, Mode::Train, None);
            assert_eq!(logits.dims(), [4, 10]);
            let quarter = size.div_ceil(4);
            let sizes: Vec<usize> = activations.iter().map(|a| a.dims()[1]).collect();
            let expected = vec![
                16 * size * size,
                16 * size * size,
                32 * size.div_ceil(2).pow(2),
                64 * quarter * quarter,
            ];
            assert_eq!(sizes, expected);
        }
    }

    #[test]
    fn zero_pad_shortcut_subsamples_and_pads() {
        let device = Device::flex();
        let network = cifar(Variant::Residual, 1, Shortcut::ZeroPad).init(0, &device);
        let block = &network.blocks[1];
        let values: Vec<f32> = (0..2 * 16 * 4 * 4).map(|v| v as f32).collect();
        let input = Tensor::<4>::from_data(TensorData::new(values, [2, 16, 4, 4]), &device);
        let output = block.shortcut(input, Mode::Eval);
        assert_eq!(output.dims(), [2, 32, 2, 2]);
        let output: Vec<f32> = output.into_data().try_to_vec::<f32>().unwrap();
        // Sample 0, channel 0: positions (0,0), (0,2), (2,0), (2,2) of a 4x4 map.
        assert_eq!(&output[..4], &[0.0, 2.0, 8.0, 10.0]);
        // Channels 16..32 are zero.
        assert!(output[16 * 4..32 * 4].iter().all(|&v| v == 0.0));
        // Sample 1, channel 0 starts at 16 * 16 in the input.
        assert_eq!(output[32 * 4], 256.0);
    }
}
