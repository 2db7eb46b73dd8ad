//! The MLP's SGD training step on one CPU thread, with the backward pass written out by hand.
//!
//! [`Mlp`] trained through burn's autodiff spends about two thirds of a width-100 step outside
//! its matrix products: building the graph, allocating a tensor per operation, copying
//! transposes and running one kernel per element-wise operation. [`FusedMlp`] computes the same
//! step with buffers allocated once, `gemm` calls whose strides read transposed operands in
//! place, and one pass per layer for batch norm, ReLU and their gradients. It exists for the MLP
//! only, because its gradient is short enough to write down. The tests check that its results
//! agree with the autodiff path to float rounding.

use burn::module::{Param, RunningState};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::{BatchNorm, Mlp};

/// SGD with momentum and weight decay, as burn's `Sgd` applies them (no dampening, no Nesterov):
/// `g += weight_decay * w; v = momentum * v + g; w -= learning_rate * v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdSettings {
    /// Momentum; 0 is plain SGD.
    pub momentum: f32,
    /// L2 penalty added to every parameter's gradient; 0 turns it off.
    pub weight_decay: f32,
}

/// One trainable tensor with its gradient and momentum buffer, all row-major.
#[derive(Debug, Clone)]
struct Parameter {
    value: Vec<f32>,
    grad: Vec<f32>,
    velocity: Vec<f32>,
}

impl Parameter {
    fn new(value: Vec<f32>) -> Self {
        let len = value.len();
        Self {
            value,
            grad: vec![0.0; len],
            velocity: vec![0.0; len],
        }
    }

    fn update(&mut self, learning_rate: f32, sgd: SgdSettings) {
        for ((w, g), v) in self
            .value
            .iter_mut()
            .zip(&self.grad)
            .zip(&mut self.velocity)
        {
            let g = g + sgd.weight_decay * *w;
            *v = sgd.momentum * *v + g;
            *w -= learning_rate * *v;
        }
    }
}

/// A linear layer `y = x W + b` with `W` stored `[d_input, d_output]`, as burn stores it.
#[derive(Debug, Clone)]
struct Dense {
    d_input: usize,
    d_output: usize,
    weight: Parameter,
    bias: Option<Parameter>,
}

/// Batch norm's parameters and running statistics (PyTorch's conventions, as [`BatchNorm`]).
#[derive(Debug, Clone)]
struct Norm {
    gamma: Parameter,
    beta: Parameter,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    momentum: f32,
    epsilon: f32,
    /// Per-feature scratch, three vectors of `[width]`: the batch mean and variance in the
    /// forward pass, the backward pass's per-feature factors.
    scratch: [Vec<f32>; 3],
}

/// Activations kept from the forward pass for the backward pass. The buffers grow to the largest
/// batch seen and are reused for smaller ones.
#[derive(Debug, Clone, Default)]
struct Workspace {
    /// Rows (samples) the buffers hold.
    capacity: usize,
    /// The residual stream or plain hidden state, `[batch, width]`.
    stream: Vec<f32>,
    /// Per pre-activation (`depth` blocks, then the head): `ReLU(BN(h))`, `[batch, width]`.
    activations: Vec<Vec<f32>>,
    /// Per pre-activation, batch-norm variants only: the normalised input `x̂`.
    normalised: Vec<Vec<f32>>,
    /// Per pre-activation, batch-norm variants only: `1 / sqrt(var + epsilon)`, `[width]`.
    inv_std: Vec<Vec<f32>>,
    /// Logits, then their gradient, `[batch, classes]`.
    logits: Vec<f32>,
    /// Gradient with respect to the stream, `[batch, width]`.
    stream_grad: Vec<f32>,
    /// Gradient with respect to an activation, `[batch, width]`.
    activation_grad: Vec<f32>,
}

/// An [`Mlp`] copied into plain buffers, trained with [`FusedMlp::train_step`] and copied back
/// with [`FusedMlp::write_to`].
#[derive(Debug, Clone)]
pub struct FusedMlp {
    shortcut: bool,
    /// Stem, the blocks' layers, head.
    layers: Vec<Dense>,
    /// One per pre-activation (blocks, then head) in the batch-norm variants; empty otherwise.
    norms: Vec<Norm>,
    workspace: Workspace,
}

/// Summed loss and number of wrong predictions over a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EvalCounts {
    /// Sum of the per-sample cross-entropies.
    pub loss_sum: f64,
    /// Samples whose largest logit is not their label.
    pub wrong: usize,
}

fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32 values")
}

impl Dense {
    fn from_linear(linear: &Linear) -> Self {
        let [d_input, d_output] = linear.weight.dims();
        Self {
            d_input,
            d_output,
            weight: Parameter::new(tensor_values(linear.weight.val())),
            bias: linear
                .bias
                .as_ref()
                .map(|bias| Parameter::new(tensor_values(bias.val()))),
        }
    }

    fn write_to(&self, linear: &mut Linear, device: &Device) {
        let weight = TensorData::new(self.weight.value.clone(), [self.d_input, self.d_output]);
        linear.weight = Param::from_tensor(Tensor::from_data(weight, device));
        if let Some(bias) = &self.bias {
            let data = TensorData::new(bias.value.clone(), [self.d_output]);
            linear.bias = Some(Param::from_tensor(Tensor::from_data(data, device)));
        }
    }

    /// Computes `out [rows, d_output] = input [rows, d_input] W + b`, or adds it to `out` when
    /// `accumulate`.
    fn forward(&self, input: &[f32], rows: usize, out: &mut [f32], accumulate: bool) {
        let out = &mut out[..rows * self.d_output];
        match &self.bias {
            Some(bias) => {
                for row in out.chunks_exact_mut(self.d_output) {
                    if accumulate {
                        row.iter_mut().zip(&bias.value).for_each(|(o, b)| *o += b);
                    } else {
                        row.copy_from_slice(&bias.value);
                    }
                }
            }
            None if !accumulate => out.fill(0.0),
            None => {}
        }
        let input = Operand::plain(input, rows, self.d_input);
        let weight = Operand::plain(&self.weight.value, self.d_input, self.d_output);
        matmul(out, input, weight, true);
    }

    /// Sets the weight and bias gradients from the layer's input and output gradient, and writes
    /// the input gradient into `input_grad` when given.
    fn backward(
        &mut self,
        input: &[f32],
        output_grad: &[f32],
        rows: usize,
        input_grad: Option<&mut [f32]>,
    ) {
        let output_grad = &output_grad[..rows * self.d_output];
        let input_t = Operand::transposed(input, self.d_input, rows);
        let output_g = Operand::plain(output_grad, rows, self.d_output);
        matmul(&mut self.weight.grad, input_t, output_g, false);
        if let Some(bias) = &mut self.bias {
            column_sums(output_grad, self.d_output, &mut bias.grad);
        }
        if let Some(input_grad) = input_grad {
            let weight_t = Operand::transposed(&self.weight.value, self.d_output, self.d_input);
            matmul(
                &mut input_grad[..rows * self.d_input],
                output_g,
                weight_t,
                false,
            );
        }
    }

    fn parameters_mut(&mut self) -> impl Iterator<Item = &mut Parameter> {
        std::iter::once(&mut self.weight).chain(self.bias.as_mut())
    }
}

impl Norm {
    fn from_batch_norm(batch_norm: &BatchNorm) -> Self {
        Self {
            gamma: Parameter::new(tensor_values(batch_norm.gamma.val())),
            beta: Parameter::new(tensor_values(batch_norm.beta.val())),
            running_mean: tensor_values(batch_norm.running_mean.value_sync()),
            running_var: tensor_values(batch_norm.running_var.value_sync()),
            momentum: batch_norm.momentum as f32,
            epsilon: batch_norm.epsilon as f32,
            scratch: std::array::from_fn(|_| vec![0.0; batch_norm.gamma.dims()[0]]),
        }
    }

    fn write_to(&self, batch_norm: &mut BatchNorm, device: &Device) {
        let vector = |values: &[f32]| {
            Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
        };
        batch_norm.gamma = Param::from_tensor(vector(&self.gamma.value));
        batch_norm.beta = Param::from_tensor(vector(&self.beta.value));
        batch_norm.running_mean = RunningState::new(vector(&self.running_mean));
        batch_norm.running_var = RunningState::new(vector(&self.running_var));
    }

    /// Normalises `input [rows, width]` with the batch's statistics: writes `x̂` to `normalised`,
    /// `ReLU(gamma x̂ + beta)` to `activation` and `1 / sqrt(var + epsilon)` to `inv_std`, and
    /// updates the running statistics.
    fn forward_train(
        &mut self,
        input: &[f32],
        rows: usize,
        normalised: &mut [f32],
        activation: &mut [f32],
        inv_std: &mut [f32],
    ) {
        let width = inv_std.len();
        let count = rows * width;
        let [mean, variance, _] = &mut self.scratch;
        let (mean, variance) = (&mut mean[..width], &mut variance[..width]);
        let (gamma, beta) = (&self.gamma.value[..width], &self.beta.value[..width]);
        column_sums(&input[..count], width, mean);
        mean.iter_mut().for_each(|m| *m /= rows as f32);
        variance.fill(0.0);
        for row in input[..count].chunks_exact(width) {
            for j in 0..width {
                let centred = row[j] - mean[j];
                variance[j] += centred * centred;
            }
        }
        variance.iter_mut().for_each(|v| *v /= rows as f32);
        for j in 0..width {
            inv_std[j] = 1.0 / (variance[j] + self.epsilon).sqrt();
        }
        let inv_std = &inv_std[..width];
        for ((row, x_hat), a) in input[..count]
            .chunks_exact(width)
            .zip(normalised[..count].chunks_exact_mut(width))
            .zip(activation[..count].chunks_exact_mut(width))
        {
            for j in 0..width {
                let n = (row[j] - mean[j]) * inv_std[j];
                x_hat[j] = n;
                a[j] = relu(gamma[j] * n + beta[j]);
            }
        }

        let unbiased = rows as f32 / (rows - 1) as f32;
        let keep = 1.0 - self.momentum;
        let running_mean = &mut self.running_mean[..width];
        let running_var = &mut self.running_var[..width];
        for j in 0..width {
            running_mean[j] = keep * running_mean[j] + self.momentum * mean[j];
            running_var[j] = keep * running_var[j] + self.momentum * unbiased * variance[j];
        }
    }

    /// Writes `ReLU(BN(input))` with the running statistics to `activation`.
    fn forward_eval(&self, input: &[f32], width: usize, activation: &mut [f32]) {
        let scale: Vec<f32> = self
            .gamma
            .value
            .iter()
            .zip(&self.running_var)
            .map(|(g, v)| g / (v + self.epsilon).sqrt())
            .collect();
        for (row, a) in input
            .chunks_exact(width)
            .zip(activation.chunks_exact_mut(width))
        {
            for j in 0..width {
                let y = (row[j] - self.running_mean[j]) * scale[j] + self.beta.value[j];
                a[j] = relu(y);
            }
        }
    }

    /// Back-propagates through `ReLU(gamma x̂ + beta)`: sets the gamma and beta gradients and
    /// writes the input gradient to `input_grad`, or adds it there when `accumulate`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        activation: &[f32],
        normalised: &[f32],
        inv_std: &[f32],
        activation_grad: &mut [f32],
        rows: usize,
        input_grad: &mut [f32],
        accumulate: bool,
    ) {
        let width = inv_std.len();
        let count = rows * width;
        let (activation, normalised) = (&activation[..count], &normalised[..count]);
        let (dy, input_grad) = (&mut activation_grad[..count], &mut input_grad[..count]);

        // The ReLU's gradient, in place: dy = d(activation) where the activation is positive.
        for i in 0..count {
            dy[i] = relu_grad(activation[i], dy[i]);
        }

        let gamma_grad = &mut self.gamma.grad[..width];
        let beta_grad = &mut self.beta.grad[..width];
        gamma_grad.fill(0.0);
        beta_grad.fill(0.0);
        for (dy_row, x_hat) in dy.chunks_exact(width).zip(normalised.chunks_exact(width)) {
            for j in 0..width {
                gamma_grad[j] += dy_row[j] * x_hat[j];
                beta_grad[j] += dy_row[j];
            }
        }

        // dx = gamma / sigma * (dy - mean(dy) - x̂ mean(dy x̂)), with mean(dy) = dbeta / n and
        // mean(dy x̂) = dgamma / n.
        let [scale, dy_mean, dy_x_hat_mean] = &mut self.scratch;
        let (scale, dy_mean) = (&mut scale[..width], &mut dy_mean[..width]);
        let dy_x_hat_mean = &mut dy_x_hat_mean[..width];
        let gamma = &self.gamma.value[..width];
        let n = rows as f32;
        for j in 0..width {
            scale[j] = gamma[j] * inv_std[j];
            dy_mean[j] = beta_grad[j] / n;
            dy_x_hat_mean[j] = gamma_grad[j] / n;
        }

        for ((dy_row, x_hat), dx) in dy
            .chunks_exact(width)
            .zip(normalised.chunks_exact(width))
            .zip(input_grad.chunks_exact_mut(width))
        {
            if accumulate {
                for j in 0..width {
                    dx[j] += scale[j] * (dy_row[j] - dy_mean[j] - x_hat[j] * dy_x_hat_mean[j]);
                }
            } else {
                for j in 0..width {
                    dx[j] = scale[j] * (dy_row[j] - dy_mean[j] - x_hat[j] * dy_x_hat_mean[j]);
                }
            }
        }
    }
}

impl FusedMlp {
    /// Copies the parameters and running statistics of `mlp`.
    pub fn from_mlp(mlp: &Mlp) -> Self {
        let layers: Vec<Dense> = mlp
            .linear_layers()
            .into_iter()
            .map(Dense::from_linear)
            .collect();
        let norms = mlp
            .blocks
            .iter()
            .filter_map(|block| block.batch_norm.as_ref())
            .chain(mlp.head_batch_norm.as_ref())
            .map(Norm::from_batch_norm)
            .collect();
        Self {
            shortcut: mlp.shortcut,
            layers,
            norms,
            workspace: Workspace::default(),
        }
    }

    /// Copies the parameters and running statistics back into `mlp`, which must have the shape
    /// this network was copied from.
    pub fn write_to(&self, mlp: &mut Mlp) {
        let device = mlp.stem.weight.device();
        self.layers[0].write_to(&mut mlp.stem, &device);
        let depth = self.depth();
        for (block, layer) in mlp.blocks.iter_mut().zip(&self.layers[1..=depth]) {
            layer.write_to(&mut block.linear, &device);
        }
        self.layers[depth + 1].write_to(&mut mlp.head, &device);
        let batch_norms = mlp
            .blocks
            .iter_mut()
            .filter_map(|block| block.batch_norm.as_mut())
            .chain(mlp.head_batch_norm.as_mut());
        for (batch_norm, norm) in batch_norms.zip(&self.norms) {
            norm.write_to(batch_norm, &device);
        }
    }

    /// Returns the number of blocks.
    pub fn depth(&self) -> usize {
        self.layers.len() - 2
    }

    fn input_size(&self) -> usize {
        self.layers[0].d_input
    }

    fn width(&self) -> usize {
        self.layers[0].d_output
    }

    fn num_classes(&self) -> usize {
        self.layers[self.layers.len() - 1].d_output
    }

    fn has_batch_norm(&self) -> bool {
        !self.norms.is_empty()
    }

    /// Runs one SGD step on a batch in train mode and returns the batch's mean cross-entropy
    /// before the update.
    ///
    /// `inputs` is `[batch, input_size]` row-major and `targets` contains one class per sample.
    /// A non-finite loss leaves the parameters unchanged (the running statistics have moved).
    ///
    /// # Panics
    ///
    /// If the sizes disagree, a target is not a class, or a batch-norm network gets fewer than
    /// two samples.
    pub fn train_step(
        &mut self,
        inputs: &[f32],
        targets: &[u8],
        learning_rate: f32,
        sgd: SgdSettings,
    ) -> f64 {
        let rows = targets.len();
        assert_eq!(inputs.len(), rows * self.input_size(), "inputs are [batch, input_size]");
        assert!(
            !self.has_batch_norm() || rows > 1,
            "batch norm in train mode needs at least 2 samples per batch"
        );
        self.prepare_workspace(rows);
        self.forward_train(inputs, rows);
        let classes = self.num_classes();
        let loss = softmax_cross_entropy_grad(&mut self.workspace.logits, targets, classes);
        if loss.is_finite() {
            self.backward(inputs, rows);
            for parameter in self.parameters_mut() {
                parameter.update(learning_rate, sgd);
            }
        }
        loss
    }

    /// Evaluates the network in eval mode on `inputs` `[n, input_size]`, `chunk` samples at a
    /// time, and returns the summed loss and the number of wrong predictions.
    ///
    /// # Panics
    ///
    /// If the sizes disagree or `chunk` is zero.
    pub fn evaluate(&self, inputs: &[f32], targets: &[u8], chunk: usize) -> EvalCounts {
        assert_eq!(
            inputs.len(),
            targets.len() * self.input_size(),
            "inputs are [n, input_size]"
        );
        assert!(chunk > 0, "chunk must be positive");
        let rows = chunk.min(targets.len());
        let mut stream = vec![0.0; rows * self.width()];
        let mut activation = vec![0.0; rows * self.width()];
        let mut logits = vec![0.0; rows * self.num_classes()];
        let mut counts = EvalCounts::default();
        for (inputs, targets) in inputs
            .chunks(chunk * self.input_size())
            .zip(targets.chunks(chunk))
        {
            let rows = targets.len();
            self.forward_eval(inputs, rows, &mut stream, &mut activation, &mut logits);
            let (loss_sum, wrong) =
                cross_entropy_counts(&logits[..rows * self.num_classes()], targets, self.num_classes());
            counts.loss_sum += loss_sum;
            counts.wrong += wrong;
        }
        counts
    }

    /// Returns the eval-mode logits `[n, num_classes]` of `inputs` `[n, input_size]`.
    pub fn logits(&self, inputs: &[f32]) -> Vec<f32> {
        let rows = inputs.len() / self.input_size();
        let mut stream = vec![0.0; rows * self.width()];
        let mut activation = vec![0.0; rows * self.width()];
        let mut logits = vec![0.0; rows * self.num_classes()];
        self.forward_eval(inputs, rows, &mut stream, &mut activation, &mut logits);
        logits
    }

    fn parameters_mut(&mut self) -> impl Iterator<Item = &mut Parameter> {
        let layers = self.layers.iter_mut().flat_map(Dense::parameters_mut);
        let norms = self
            .norms
            .iter_mut()
            .flat_map(|norm| [&mut norm.gamma, &mut norm.beta]);
        layers.chain(norms)
    }

    fn prepare_workspace(&mut self, rows: usize) {
        if self.workspace.capacity >= rows {
            return;
        }
        let (width, classes) = (self.width(), self.num_classes());
        let pre_activations = self.layers.len() - 1;
        let normalised = if self.norms.is_empty() { 0 } else { pre_activations };
        let workspace = &mut self.workspace;
        let hidden = rows * width;
        workspace.capacity = rows;
        workspace.stream = vec![0.0; hidden];
        workspace.activations = vec![vec![0.0; hidden]; pre_activations];
        workspace.normalised = vec![vec![0.0; hidden]; normalised];
        workspace.inv_std = vec![vec![0.0; width]; normalised];
        workspace.logits = vec![0.0; rows * classes];
        workspace.stream_grad = vec![0.0; hidden];
        workspace.activation_grad = vec![0.0; hidden];
    }

    /// Writes the pre-activation `p` of the stream into the workspace, in train mode.
    fn pre_activation_train(&mut self, p: usize, rows: usize) {
        let count = rows * self.width();
        let workspace = &mut self.workspace;
        match self.norms.get_mut(p) {
            Some(norm) => norm.forward_train(
                &workspace.stream,
                rows,
                &mut workspace.normalised[p],
                &mut workspace.activations[p],
                &mut workspace.inv_std[p],
            ),
            None => {
                let activation = &mut workspace.activations[p][..count];
                for (a, h) in activation.iter_mut().zip(&workspace.stream[..count]) {
                    *a = relu(*h);
                }
            }
        }
    }

    fn forward_train(&mut self, inputs: &[f32], rows: usize) {
        let depth = self.depth();
        self.layers[0].forward(inputs, rows, &mut self.workspace.stream, false);
        for k in 1..=depth {
            self.pre_activation_train(k - 1, rows);
            let workspace = &mut self.workspace;
            self.layers[k].forward(
                &workspace.activations[k - 1],
                rows,
                &mut workspace.stream,
                self.shortcut,
            );
        }
        self.pre_activation_train(depth, rows);
        let workspace = &mut self.workspace;
        self.layers[depth + 1].forward(
            &workspace.activations[depth],
            rows,
            &mut workspace.logits,
            false,
        );
    }

    /// Back-propagates through pre-activation `p`, from the workspace's activation gradient into
    /// the stream gradient (added to it when `accumulate`).
    fn pre_activation_backward(&mut self, p: usize, rows: usize, accumulate: bool) {
        let count = rows * self.width();
        let workspace = &mut self.workspace;
        match self.norms.get_mut(p) {
            Some(norm) => norm.backward(
                &workspace.activations[p],
                &workspace.normalised[p],
                &workspace.inv_std[p],
                &mut workspace.activation_grad,
                rows,
                &mut workspace.stream_grad,
                accumulate,
            ),
            None => {
                let stream_grad = &mut workspace.stream_grad[..count];
                let activation_grad = &workspace.activation_grad[..count];
                let activation = &workspace.activations[p][..count];
                // Separate loops for the two cases keep each one branch-free and vectorised.
                if accumulate {
                    for i in 0..count {
                        stream_grad[i] += relu_grad(activation[i], activation_grad[i]);
                    }
                } else {
                    for i in 0..count {
                        stream_grad[i] = relu_grad(activation[i], activation_grad[i]);
                    }
                }
            }
        }
    }

    /// Computes every parameter's gradient. `workspace.logits` must contain the logits' gradient.
    fn backward(&mut self, inputs: &[f32], rows: usize) {
        let depth = self.depth();
        {
            let workspace = &mut self.workspace;
            self.layers[depth + 1].backward(
                &workspace.activations[depth],
                &workspace.logits,
                rows,
                Some(&mut workspace.activation_grad),
            );
        }
        self.pre_activation_backward(depth, rows, false);
        for k in (1..=depth).rev() {
            let workspace = &mut self.workspace;
            self.layers[k].backward(
                &workspace.activations[k - 1],
                &workspace.stream_grad,
                rows,
                Some(&mut workspace.activation_grad),
            );
            // In a residual block the stream gradient flows on through the shortcut, so the
            // branch adds to it. In a plain block the branch replaces it.
            self.pre_activation_backward(k - 1, rows, self.shortcut);
        }
        self.layers[0].backward(inputs, &self.workspace.stream_grad, rows, None);
    }

    fn forward_eval(
        &self,
        inputs: &[f32],
        rows: usize,
        stream: &mut [f32],
        activation: &mut [f32],
        logits: &mut [f32],
    ) {
        let depth = self.depth();
        let hidden = rows * self.width();
        let (stream, activation) = (&mut stream[..hidden], &mut activation[..hidden]);
        let pre_activation = |p: usize, stream: &[f32], activation: &mut [f32]| match self
            .norms
            .get(p)
        {
            Some(norm) => norm.forward_eval(stream, self.width(), activation),
            None => {
                for (a, h) in activation.iter_mut().zip(stream) {
                    *a = relu(*h);
                }
            }
        };
        self.layers[0].forward(inputs, rows, stream, false);
        for k in 1..=depth {
            pre_activation(k - 1, stream, activation);
            self.layers[k].forward(activation, rows, stream, self.shortcut);
        }
        pre_activation(depth, stream, activation);
        self.layers[depth + 1].forward(activation, rows, logits, false);
    }
}

/// `max(x, 0)`, keeping NaN so that a diverged network's loss is NaN, as burn's `relu` does.
fn relu(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

/// Returns the gradient through a ReLU whose output is `activation`.
fn relu_grad(activation: f32, activation_grad: f32) -> f32 {
    if activation > 0.0 { activation_grad } else { 0.0 }
}

/// Sums the rows of `matrix [rows, width]` into `sums [width]`.
fn column_sums(matrix: &[f32], width: usize, sums: &mut [f32]) {
    sums.fill(0.0);
    for row in matrix.chunks_exact(width) {
        sums.iter_mut().zip(row).for_each(|(s, x)| *s += x);
    }
}

/// Returns the mean cross-entropy of `logits [batch, classes]` against `targets` and replaces
/// the logits with the loss's gradient, `(softmax - one_hot) / batch`.
fn softmax_cross_entropy_grad(logits: &mut [f32], targets: &[u8], classes: usize) -> f64 {
    let batch = targets.len();
    let mut loss = 0.0f64;
    for (row, &target) in logits.chunks_exact_mut(classes).zip(targets) {
        let target = usize::from(target);
        assert!(target < classes, "target {target} is not one of {classes} classes");
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // In log space, so that a target probability that underflows still gives a finite loss.
        let target_logit = row[target];
        let mut sum = 0.0f32;
        for x in row.iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        loss += f64::from(sum.ln() + max - target_logit);
        for x in row.iter_mut() {
            *x /= sum * batch as f32;
        }
        row[target] -= 1.0 / batch as f32;
    }
    loss / batch as f64
}

/// Returns the summed cross-entropy of `logits [n, classes]` and the number of rows whose
/// first largest logit is not the target.
fn cross_entropy_counts(logits: &[f32], targets: &[u8], classes: usize) -> (f64, usize) {
    let mut loss = 0.0f64;
    let mut wrong = 0;
    for (row, &target) in logits.chunks_exact(classes).zip(targets) {
        let target = usize::from(target);
        let (argmax, max) = row
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, x)| {
                if x > best.1 { (i, x) } else { best }
            });
        let sum: f32 = row.iter().map(|x| (x - max).exp()).sum();
        loss += f64::from(sum.ln() + max - row[target]);
        if argmax != target {
            wrong += 1;
        }
    }
    (loss, wrong)
}

/// A row-major matrix `[rows, cols]`, or the transpose of the row-major matrix stored in
/// `values`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Operand<'a> {
    /// Views `values` as a row-major `[rows, cols]` matrix.
    fn plain(values: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(values.len() >= rows * cols, "matrix buffer too small");
        Self {
            values,
            rows,
            cols,
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// Views the transpose of `values`, read as a row-major `[cols, rows]` matrix, as a
    /// `[rows, cols]` matrix without a copy.
    fn transposed(values: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(values.len() >= rows * cols, "matrix buffer too small");
        Self {
            values,
            rows,
            cols,
            row_stride: 1,
            col_stride: rows as isize,
        }
    }
}

/// Computes `out [m, n] = lhs [m, k] rhs [k, n]`, or `out += lhs rhs` when `accumulate`, on
/// this thread.
fn matmul(out: &mut [f32], lhs: Operand, rhs: Operand, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert!(out.len() >= m * n, "output buffer too small");
    // SAFETY: the asserts above and in `Operand`'s constructors keep every element that gemm
    // reads or writes inside its slice, and `out` cannot alias the shared `lhs` and `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs.col_stride,
            lhs.row_stride,
            rhs.values.as_ptr(),
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::activation::log_softmax;
    use burn::tensor::{Int, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    use super::*;
    use crate::{InitScheme, MlpConfig, Mode, Variant};

    const INPUT_SIZE: usize = 40;
    const CLASSES: usize = 10;
    const BATCH: usize = 16;
    const SGD: SgdSettings = SgdSettings {
        momentum: 0.9,
        weight_decay: 1e-3,
    };

    fn config(variant: Variant, depth: usize) -> MlpConfig {
        MlpConfig {
            input_size: INPUT_SIZE,
            width: 24,
            depth,
            num_classes: CLASSES,
            variant,
            init: InitScheme::KaimingNormal,
        }
    }

    /// Returns seeded standard normal inputs `[BATCH, INPUT_SIZE]` and class targets.
    fn batch(seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let inputs = (0..BATCH * INPUT_SIZE)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        let targets = (0..BATCH).map(|_| rng.random_range(0..CLASSES as u8)).collect();
        (inputs, targets)
    }

    fn tensors(inputs: &[f32], targets: &[u8], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let rows = targets.len();
        let inputs = TensorData::new(inputs.to_vec(), [rows, inputs.len() / rows]);
        let targets: Vec<i64> = targets.iter().map(|&t| i64::from(t)).collect();
        (
            Tensor::from_data(inputs, device),
            Tensor::from_data(TensorData::new(targets, [rows]), device),
        )
    }

    /// Trains `mlp` with burn's autodiff and `Sgd` on `batches` and returns it with its losses.
    fn train_with_autodiff(
        mut mlp: Mlp,
        batches: &[(Vec<f32>, Vec<u8>)],
        learning_rate: f64,
        device: &Device,
    ) -> (Mlp, Vec<f64>) {
        let mut optimizer = SgdConfig::new()
            .with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(f64::from(SGD.momentum))
                    .with_dampening(0.0),
            ))
            .with_weight_decay(Some(WeightDecayConfig::new(SGD.weight_decay)))
            .init();
        let mut losses = Vec::new();
        for (inputs, targets) in batches {
            let (inputs, targets) = tensors(inputs, targets, device);
            let logits = mlp.forward(inputs, Mode::Train);
            let loss = log_softmax(logits, 1)
                .gather(1, targets.reshape([BATCH, 1]))
                .mean()
                .neg();
            losses.push(loss.clone().into_scalar::<f64>());
            let grads = GradientsParams::from_grads(loss.backward(), &mlp);
            mlp = optimizer.step(learning_rate, mlp, grads);
        }
        (mlp, losses)
    }

    /// Returns every parameter and running statistic, in a fixed order.
    fn snapshot(fused: &FusedMlp) -> Vec<Vec<f32>> {
        let mut values = Vec::new();
        for layer in &fused.layers {
            values.push(layer.weight.value.clone());
            values.extend(layer.bias.as_ref().map(|bias| bias.value.clone()));
        }
        for norm in &fused.norms {
            values.push(norm.gamma.value.clone());
            values.push(norm.beta.value.clone());
            values.push(norm.running_mean.clone());
            values.push(norm.running_var.clone());
        }
        values
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn training_matches_autodiff_in_every_variant() {
        let device = Device::flex().autodiff();
        let batches: Vec<_> = (0..5).map(batch).collect();
        for variant in Variant::ALL {
            let mlp = config(variant, 4).init(7, &device);
            let mut fused = FusedMlp::from_mlp(&mlp);
            let (trained, expected_losses) = train_with_autodiff(mlp, &batches, 0.05, &device);

            for ((inputs, targets), expected) in batches.iter().zip(&expected_losses) {
                let loss = fused.train_step(inputs, targets, 0.05, SGD);
                assert!(
                    (loss - expected).abs() < 1e-5 * expected.max(1.0),
                    "{variant}: loss {loss} against {expected}"
                );
            }
            let expected = snapshot(&FusedMlp::from_mlp(&trained));
            let actual = snapshot(&fused);
            assert_eq!(actual.len(), expected.len());
            for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
                let difference = max_difference(a, e);
                assert!(difference < 2e-5, "{variant}: tensor {i} differs by {difference}");
            }
        }
    }

    #[test]
    fn eval_matches_burn_eval_mode() {
        let device = Device::flex().autodiff();
        let batches: Vec<_> = (0..3).map(batch).collect();
        for variant in [Variant::PlainBn, Variant::ResidualBn, Variant::Residual] {
            let mut fused = FusedMlp::from_mlp(&config(variant, 3).init(11, &device));
            for (inputs, targets) in &batches {
                fused.train_step(inputs, targets, 0.05, SGD);
            }
            let mut mlp = config(variant, 3).init(0, &device);
            fused.write_to(&mut mlp);
            let mlp = mlp.valid();

            let (inputs, targets) = batch(99);
            let (input_tensor, _) = tensors(&inputs, &targets, &device.clone().inner());
            let expected = tensor_values(mlp.forward(input_tensor, Mode::Eval));
            let logits = fused.logits(&inputs);
            let difference = max_difference(&logits, &expected);
            assert!(difference < 1e-5, "{variant}: logits differ by {difference}");

            // Chunks of 5 give the same sums as one pass.
            let whole = fused.evaluate(&inputs, &targets, BATCH);
            let chunked = fused.evaluate(&inputs, &targets, 5);
            assert_eq!(whole.wrong, chunked.wrong);
            assert!((whole.loss_sum - chunked.loss_sum).abs() < 1e-4);
            let (loss, wrong) = cross_entropy_counts(&expected, &targets, CLASSES);
            assert_eq!(whole.wrong, wrong);
            assert!((whole.loss_sum - loss).abs() < 1e-3 * loss);
        }
    }

    #[test]
    fn write_to_round_trips_every_value() {
        let device = Device::flex();
        let mut fused = FusedMlp::from_mlp(&config(Variant::ResidualBn, 2).init(1, &device));
        let (inputs, targets) = batch(5);
        fused.train_step(&inputs, &targets, 0.1, SGD);
        let mut mlp = config(Variant::ResidualBn, 2).init(2, &device);
        fused.write_to(&mut mlp);
        assert_eq!(snapshot(&FusedMlp::from_mlp(&mlp)), snapshot(&fused));
    }

    #[test]
    fn non_finite_loss_leaves_parameters_unchanged() {
        let device = Device::flex();
        let mut fused = FusedMlp::from_mlp(&config(Variant::Residual, 2).init(3, &device));
        let before = snapshot(&fused);
        let (mut inputs, targets) = batch(8);
        inputs[3] = f32::NAN;
        let loss = fused.train_step(&inputs, &targets, 0.1, SGD);
        assert!(loss.is_nan(), "a NaN input gives a NaN loss, got {loss}");
        assert_eq!(snapshot(&fused), before);
    }

    #[test]
    fn loss_stays_finite_when_the_target_probability_underflows() {
        let mut logits = vec![0.0, 200.0, -200.0];
        let loss = softmax_cross_entropy_grad(&mut logits, &[2], 3);
        assert!((loss - 400.0).abs() < 1e-3, "loss {loss}");
        let expected = [0.0, 1.0, -1.0];
        assert!(max_difference(&logits, &expected) < 1e-6, "{logits:?}");
    }

    #[test]
    fn batch_size_may_change_between_steps() {
        let device = Device::flex();
        let mut fused = FusedMlp::from_mlp(&config(Variant::PlainBn, 2).init(4, &device));
        let (inputs, targets) = batch(6);
        let first = fused.train_step(&inputs, &targets, 0.05, SGD);
        let half = BATCH / 2;
        let second = fused.train_step(&inputs[..half * INPUT_SIZE], &targets[..half], 0.05, SGD);
        assert!(first.is_finite(), "{first}");
        assert!(second.is_finite(), "{second}");
        assert_eq!(fused.workspace.capacity, BATCH);
    }
}
