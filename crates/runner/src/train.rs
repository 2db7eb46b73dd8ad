//! Training one run: probe at initialisation, SGD epochs, evaluation in eval mode.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use data::{Dataset, Split};
use model::{FusedMlp, Mlp, MlpConfig, Mode, Network, SgdSettings};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::backend::Engine;
use crate::config::{RunConfig, TrainingConfig};
use crate::probe::probe_at_init;
use crate::results::{EpochMetrics, RunStatus, RunSummary, finite, write_atomic, write_json};

/// Samples per forward pass when evaluating a whole split.
const EVAL_BATCH_SIZE: usize = 1000;

/// File name of a completed run's trained network in its run folder (burnpack format).
pub const MODEL_FILE: &str = "model.bpk";

/// Mixed into the run seed for the stream that shuffles training batches, so that it differs
/// from the stream that draws the weights.
const SHUFFLE_STREAM: u64 = 0x5eed_0fba_7c4e;

/// Reports each finished epoch; the sweep's progress bar implements it.
pub trait EpochObserver: Sync {
    fn epoch_finished(&self, run_id: &str, metrics: &EpochMetrics);
}

/// Mixed into the run seed for the stream that draws augmentation crops and flips.
const AUGMENT_STREAM: u64 = 0xa06_3e47_c20f;

/// Builds the network a run config describes.
pub fn build_model(config: &RunConfig, dataset: &Dataset, device: &Device) -> Network {
    if let Some(cnn) = config.cnn_config(&dataset.train.sample_shape, dataset.num_classes) {
        return cnn.init(config.seed, device).into();
    }
    let mlp = MlpConfig {
        input_size: dataset.train.sample_size(),
        width: config.width,
        depth: config.depth,
        num_classes: dataset.num_classes,
        variant: config.variant,
        init: config.init,
    };
    mlp.init(config.seed, device).into()
}

/// Returns inputs `[n, sample_size]` and targets `[n]` for the samples at `indices`.
pub fn batch(split: &Split, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let mut inputs = Vec::with_capacity(indices.len() * split.sample_size());
    gather_samples(split, indices, None, &mut inputs);
    batch_tensors(split, indices, inputs, device)
}

/// Returns `inputs` (the samples at `indices`, row-major) as `[n, sample_size]` and their
/// labels as `[n]`.
fn batch_tensors(
    split: &Split,
    indices: &[usize],
    inputs: Vec<f32>,
    device: &Device,
) -> (Tensor<2>, Tensor<1, Int>) {
    let targets: Vec<i64> = indices.iter().map(|&i| split.labels[i] as i64).collect();
    let shape = [indices.len(), split.sample_size()];
    let inputs = Tensor::from_data(TensorData::new(inputs, shape), device);
    let targets = Tensor::from_data(TensorData::new(targets, [indices.len()]), device);
    (inputs, targets)
}

/// Returns [`batch`] with each image randomly cropped and flipped by `augmentation`.
fn augmented_batch(
    split: &Split,
    indices: &[usize],
    augmentation: &data::Augmentation,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> (Tensor<2>, Tensor<1, Int>) {
    let mut inputs = Vec::with_capacity(indices.len() * split.sample_size());
    gather_samples(split, indices, Some((augmentation, rng)), &mut inputs);
    batch_tensors(split, indices, inputs, device)
}

/// Returns the mean cross-entropy of `logits` `[batch, classes]` against class `targets`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch_size] = targets.dims();
    let targets = targets.reshape([batch_size, 1]);
    log_softmax(logits, 1).gather(1, targets).mean().neg()
}

/// Mean loss and error of a network over a whole split, in eval mode.
pub struct Evaluation {
    pub loss: f64,
    pub error: f64,
}

/// Evaluates `network` on every sample of `split`, in eval mode. `network` and `device` must not
/// track gradients (use `Module::valid` and `Device::inner`), so that no autodiff graph is built.
pub fn evaluate(network: &Network, split: &Split, device: &Device) -> Evaluation {
    let indices: Vec<usize> = (0..split.len()).collect();
    let mut loss_sum = 0.0;
    let mut wrong = 0usize;
    for chunk in indices.chunks(EVAL_BATCH_SIZE) {
        let (inputs, targets) = batch(split, chunk, device);
        let logits = network.forward(inputs, Mode::Eval);
        let loss = cross_entropy(logits.clone(), targets.clone());
        loss_sum += loss.into_scalar::<f64>() * chunk.len() as f64;
        let predictions = logits.argmax(1).reshape([chunk.len()]);
        let correct = predictions.equal(targets).int().sum().into_scalar::<i64>();
        wrong += chunk.len() - correct as usize;
    }
    Evaluation {
        loss: loss_sum / split.len() as f64,
        error: wrong as f64 / split.len() as f64,
    }
}

/// Computes the training step of one run: burn's autodiff, or the fused MLP step.
enum Stepper {
    Autodiff {
        /// `None` only while the optimizer, which takes the network by value, updates it.
        network: Option<Network>,
        optimizer: ModuleOptimizer,
        device: Device,
    },
    Fused {
        /// The network the fused copy came from; it receives the trained values at the end.
        mlp: Mlp,
        fused: Box<FusedMlp>,
        sgd: SgdSettings,
        inputs: Vec<f32>,
        targets: Vec<u8>,
    },
}

impl Stepper {
    /// Takes `network` for training with `training`'s optimizer. MLPs use the fused step when
    /// `engine` is [`Engine::Fused`].
    fn new(network: Network, training: &TrainingConfig, engine: Engine, device: &Device) -> Self {
        if engine == Engine::Fused
            && let Network::Mlp(mlp) = network
        {
            let fused = Box::new(FusedMlp::from_mlp(&mlp));
            let sgd = SgdSettings {
                momentum: training.momentum as f32,
                weight_decay: training.weight_decay as f32,
            };
            return Stepper::Fused {
                mlp,
                fused,
                sgd,
                inputs: Vec::new(),
                targets: Vec::new(),
            };
        }
        let momentum = (training.momentum > 0.0).then(|| {
            MomentumConfig::new()
                .with_momentum(training.momentum)
                .with_dampening(0.0)
        });
        let weight_decay = (training.weight_decay > 0.0)
            .then(|| WeightDecayConfig::new(training.weight_decay as f32));
        let optimizer = SgdConfig::new()
            .with_momentum(momentum)
            .with_weight_decay(weight_decay)
            .init();
        Stepper::Autodiff {
            network: Some(network),
            optimizer,
            device: device.clone(),
        }
    }

    /// Trains on the samples at `indices` for one step and returns the batch loss before the
    /// update. Images are cropped and flipped first when `augment` is given.
    fn step(
        &mut self,
        split: &Split,
        indices: &[usize],
        augment: Option<(&data::Augmentation, &mut ChaCha8Rng)>,
        learning_rate: f64,
    ) -> f64 {
        match self {
            Stepper::Autodiff {
                network,
                optimizer,
                device,
            } => {
                let (inputs, targets) = match augment {
                    Some((augmentation, rng)) => {
                        augmented_batch(split, indices, augmentation, rng, device)
                    }
                    None => batch(split, indices, device),
                };
                let trained = network.take().expect("the network is back after each step");
                let logits = trained.forward(inputs, Mode::Train);
                let loss = cross_entropy(logits, targets);
                let loss_value = loss.clone().into_scalar::<f64>();
                *network = Some(if loss_value.is_finite() {
                    let grads = GradientsParams::from_grads(loss.backward(), &trained);
                    optimizer.step(learning_rate, trained, grads)
                } else {
                    trained
                });
                loss_value
            }
            Stepper::Fused {
                fused,
                sgd,
                inputs,
                targets,
                ..
            } => {
                gather_samples(split, indices, augment, inputs);
                targets.clear();
                targets.extend(indices.iter().map(|&i| split.labels[i]));
                fused.train_step(inputs, targets, learning_rate as f32, *sgd)
            }
        }
    }

    /// Evaluates the network on both splits in eval mode and returns the epoch's metrics.
    fn evaluate_epoch(
        &self,
        dataset: &Dataset,
        epoch: usize,
        learning_rate: f64,
        batch_loss: Option<f64>,
        started: Instant,
    ) -> EpochMetrics {
        let (train, test) = match self {
            Stepper::Autodiff {
                network, device, ..
            } => {
                let network = network.as_ref().expect("the network is back after each step");
                network.sync_running_stats();
                let eval_network = network.valid();
                let eval_device = device.clone().inner();
                (
                    evaluate(&eval_network, &dataset.train, &eval_device),
                    evaluate(&eval_network, &dataset.test, &eval_device),
                )
            }
            Stepper::Fused { fused, .. } => {
                let evaluate = |split: &Split| {
                    let counts = fused.evaluate(&split.inputs, &split.labels, EVAL_BATCH_SIZE);
                    Evaluation {
                        loss: counts.loss_sum / split.len() as f64,
                        error: counts.wrong as f64 / split.len() as f64,
                    }
                };
                (evaluate(&dataset.train), evaluate(&dataset.test))
            }
        };
        EpochMetrics {
            epoch,
            learning_rate,
            batch_loss,
            train_loss: finite(train.loss),
            train_error: train.error,
            test_loss: finite(test.loss),
            test_error: test.error,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// Returns the engine that computes the steps.
    fn engine(&self) -> Engine {
        match self {
            Stepper::Autodiff { .. } => Engine::Autodiff,
            Stepper::Fused { .. } => Engine::Fused,
        }
    }

    /// Returns the trained network.
    fn into_network(self) -> Network {
        match self {
            Stepper::Autodiff { network, .. } => {
                network.expect("the network is back after each step")
            }
            Stepper::Fused { mut mlp, fused, .. } => {
                fused.write_to(&mut mlp);
                mlp.into()
            }
        }
    }
}

/// Writes the samples at `indices` into `inputs`, row-major, cropped and flipped when `augment`
/// is given.
fn gather_samples(
    split: &Split,
    indices: &[usize],
    augment: Option<(&data::Augmentation, &mut ChaCha8Rng)>,
    inputs: &mut Vec<f32>,
) {
    let size = split.sample_size();
    inputs.clear();
    match augment {
        Some((augmentation, rng)) => {
            inputs.resize(indices.len() * size, 0.0);
            for (&index, out) in indices.iter().zip(inputs.chunks_mut(size)) {
                augmentation.apply(split.sample(index), &split.sample_shape, out, rng);
            }
        }
        None => {
            for &index in indices {
                inputs.extend_from_slice(split.sample(index));
            }
        }
    }
}

/// Saves the network's parameters and batch-norm running statistics to `path` in burn's
/// burnpack format, atomically.
///
/// The pending running statistics are folded in first: burn 0.22 keeps the newest update aside
/// until it is read, and a record taken without [`Network::sync_running_stats`] stores the
/// previous one.
pub fn save_model(network: &Network, path: &Path) -> Result<()> {
    network.sync_running_stats();
    let bytes = network
        .valid()
        .into_record()
        .into_bytes()
        .with_context(|| format!("failed to encode the network for {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Rebuilds the network of a completed run from its config and loads the trained parameters
/// from `path` (the run folder's [`MODEL_FILE`]). The network lives on `device`.
///
/// Fails with a message naming the file when it is missing (a run trained before weights were
/// stored) or cannot be read as this run's network.
pub fn load_model(
    config: &RunConfig,
    path: &Path,
    dataset: &Dataset,
    device: &Device,
) -> Result<Network> {
    if !path.is_file() {
        bail!(
            "{} not found: the run was trained before weights were stored. Delete its run \
             folder and rerun the sweep, or rerun the sweep into a new results folder, to \
             retrain it",
            path.display()
        );
    }
    build_model(config, dataset, device)
        .try_load_file(path)
        .map_err(|error| {
            anyhow!(
                "failed to load {}: {error}. The file is damaged or belongs to another \
                 network: delete its run folder and rerun the sweep to retrain the run",
                path.display()
            )
        })
}

/// Loads the trained network of a completed MLP run, as [`load_model`] does.
pub fn load_mlp(
    config: &RunConfig,
    path: &Path,
    dataset: &Dataset,
    device: &Device,
) -> Result<Mlp> {
    load_model(config, path, dataset, device)?
        .into_mlp()
        .with_context(|| format!("{} holds a CNN, not an MLP", path.display()))
}

/// Builds the MLP of an MLP run config, as [`build_model`] does.
///
/// # Panics
///
/// If the run is not an MLP run.
pub fn build_mlp(config: &RunConfig, dataset: &Dataset, device: &Device) -> Mlp {
    build_model(config, dataset, device)
        .into_mlp()
        .expect("the run config describes an MLP")
}

fn append_line(path: &Path, metrics: &EpochMetrics) -> Result<()> {
    let mut line = serde_json::to_string(metrics)?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))
}

/// Trains one run and writes its files into `folder`: `config.json`, `init.json`,
/// `metrics.jsonl` (appended after each epoch), the trained network ([`MODEL_FILE`], completed
/// runs only) and, last, `summary.json`.
///
/// `device` must be an autodiff device. A non-finite training or evaluation loss stops the run
/// and records it as diverged.
pub fn train_run(
    config: &RunConfig,
    dataset: &Dataset,
    device: &Device,
    folder: &Path,
    observer: &dyn EpochObserver,
    engine: Engine,
) -> Result<RunSummary> {
    let started = Instant::now();
    let run_id = config.id();
    fs::create_dir_all(folder).with_context(|| format!("failed to create {}", folder.display()))?;
    write_json(&folder.join("config.json"), config)?;

    // The probe's forward pass updates batch-norm running statistics, so it gets its own copy of
    // the network. The same seed rebuilds the identical network for training.
    let probe_model = build_model(config, dataset, device);
    let init = probe_at_init(
        &probe_model,
        &dataset.train,
        config.probe_batch_size,
        device,
    );
    drop(probe_model);
    write_json(&folder.join("init.json"), &init)?;

    let metrics_path = folder.join("metrics.jsonl");
    let training = &config.training;
    let mut stepper = Stepper::new(build_model(config, dataset, device), training, engine, device);

    let initial = stepper.evaluate_epoch(dataset, 0, 0.0, None, started);
    append_line(&metrics_path, &initial)?;
    observer.epoch_finished(&run_id, &initial);
    let mut last = initial;
    let mut diverged_epoch = last.train_loss.is_none().then_some(0);

    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(config.seed ^ SHUFFLE_STREAM);
    let mut augment_rng = ChaCha8Rng::seed_from_u64(config.seed ^ AUGMENT_STREAM);
    let augmentation = config.data.augmentation.map(|a| data::Augmentation {
        pad: a.pad,
        flip: a.flip,
    });
    let mut order: Vec<usize> = (0..dataset.train.len()).collect();
    let min_batch = if config.variant.has_batch_norm() {
        2
    } else {
        1
    };
    let mut epoch = 1;
    while diverged_epoch.is_none() && epoch <= training.num_epochs {
        let learning_rate = training.learning_rate_at(epoch);
        order.shuffle(&mut shuffle_rng);
        let mut loss_sum = 0.0;
        let mut steps = 0usize;
        // A last batch too small for batch norm is skipped.
        for indices in order
            .chunks(training.batch_size)
            .filter(|c| c.len() >= min_batch)
        {
            let augment = augmentation.as_ref().map(|a| (a, &mut augment_rng));
            let loss_value = stepper.step(&dataset.train, indices, augment, learning_rate);
            if !loss_value.is_finite() {
                diverged_epoch = Some(epoch);
                break;
            }
            loss_sum += loss_value;
            steps += 1;
        }
        if diverged_epoch.is_some() {
            break;
        }

        let batch_loss = Some(loss_sum / steps.max(1) as f64);
        let metrics = stepper.evaluate_epoch(dataset, epoch, learning_rate, batch_loss, started);
        append_line(&metrics_path, &metrics)?;
        observer.epoch_finished(&run_id, &metrics);
        if metrics.train_loss.is_none() || metrics.test_loss.is_none() {
            diverged_epoch = Some(epoch);
        }
        last = metrics;
        epoch += 1;
    }

    let engine = stepper.engine();
    if diverged_epoch.is_none() {
        save_model(&stepper.into_network(), &folder.join(MODEL_FILE))?;
    }

    let summary = match diverged_epoch {
        Some(epoch) => RunSummary {
            run_id,
            status: RunStatus::Diverged,
            diverged_epoch: Some(epoch),
            epochs_completed: epoch.saturating_sub(1),
            final_train_loss: None,
            final_train_error: None,
            final_test_loss: None,
            final_test_error: None,
            wall_seconds: started.elapsed().as_secs_f64(),
            engine: Some(engine),
        },
        None => RunSummary {
            run_id,
            status: RunStatus::Completed,
            diverged_epoch: None,
            epochs_completed: training.num_epochs,
            final_train_loss: last.train_loss,
            final_train_error: Some(last.train_error),
            final_test_loss: last.test_loss,
            final_test_error: Some(last.test_error),
            wall_seconds: started.elapsed().as_secs_f64(),
            engine: Some(engine),
        },
    };
    write_json(&folder.join("summary.json"), &summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use model::{InitScheme, Variant};

    use super::*;
    use crate::config::{DataOptions, DatasetName, Family, TrainingConfig};
    use crate::sweep::mnist1d_dataset;

    struct NoObserver;

    impl EpochObserver for NoObserver {
        fn epoch_finished(&self, _run_id: &str, _metrics: &EpochMetrics) {}
    }

    fn run_config(variant: Variant, depth: usize, num_epochs: usize) -> RunConfig {
        RunConfig {
            dataset: DatasetName::Mnist1d,
            data: DataOptions::default(),
            shortcut: None,
            family: Family::Mlp,
            variant,
            depth,
            width: 16,
            init: InitScheme::KaimingNormal,
            seed: 3,
            training: TrainingConfig {
                learning_rate: 0.05,
                momentum: 0.9,
                weight_decay: 0.0,
                batch_size: 100,
                num_epochs,
                schedule: None,
                warmup: None,
            },
            probe_batch_size: 50,
        }
    }

    fn eval_logits(network: &Network, split: &Split, device: &Device) -> Vec<f32> {
        let indices: Vec<usize> = (0..200).collect();
        let (inputs, _) = batch(split, &indices, device);
        let logits = network.forward(inputs, Mode::Eval);
        logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn model_round_trip_after_training_steps() {
        let dataset = mnist1d_dataset().unwrap();
        let config = run_config(Variant::ResidualBn, 3, 1);
        let device = Device::flex().autodiff();
        let mut mlp = build_model(&config, &dataset, &device);
        let mut optimizer = SgdConfig::new().init();
        let indices: Vec<usize> = (0..dataset.train.len()).collect();
        for chunk in indices.chunks(100).take(12) {
            let (inputs, targets) = batch(&dataset.train, chunk, &device);
            let loss = cross_entropy(mlp.forward(inputs, Mode::Train), targets);
            let grads = GradientsParams::from_grads(loss.backward(), &mlp);
            mlp = optimizer.step(0.05, mlp, grads);
        }
        // The last step's running statistics are still pending here: saving must fold them in.
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(MODEL_FILE);
        save_model(&mlp, &path).unwrap();

        let eval_device = Device::flex();
        let loaded = load_model(&config, &path, &dataset, &eval_device).unwrap();
        let trained = mlp.valid();
        let expected = eval_logits(&trained, &dataset.test, &eval_device);
        let actual = eval_logits(&loaded, &dataset.test, &eval_device);
        let max_difference = expected
            .iter()
            .zip(&actual)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_difference <= 1e-6, "logits differ by {max_difference}");

        let expected_error = evaluate(&trained, &dataset.test, &eval_device).error;
        let loaded_error = evaluate(&loaded, &dataset.test, &eval_device).error;
        assert_eq!(loaded_error, expected_error);

        // Running statistics moved away from their initial 0, so the check above covers them.
        let batch_norm = loaded.as_mlp().unwrap().blocks[0]
            .batch_norm
            .as_ref()
            .unwrap();
        let running_mean = batch_norm.running_mean.value().abs().max();
        assert!(running_mean.into_scalar::<f64>() > 1e-3);
    }

    #[test]
    fn completed_run_stores_its_weights() {
        let dataset = mnist1d_dataset().unwrap();
        let config = run_config(Variant::PlainBn, 2, 1);
        for engine in [Engine::Fused, Engine::Autodiff] {
            let folder = tempfile::tempdir().unwrap();
            let run = folder.path().join("run");
            let device = Device::flex().autodiff();
            let summary = train_run(&config, &dataset, &device, &run, &NoObserver, engine).unwrap();
            assert_eq!(summary.status, RunStatus::Completed);
            assert_eq!(summary.engine, Some(engine));

            let eval_device = Device::flex();
            let path = run.join(MODEL_FILE);
            let loaded = load_model(&config, &path, &dataset, &eval_device).unwrap();
            let error = evaluate(&loaded, &dataset.test, &eval_device).error;
            assert_eq!(Some(error), summary.final_test_error, "{engine:?}");
        }
    }

    #[test]
    fn fused_and_autodiff_runs_agree() {
        let dataset = mnist1d_dataset().unwrap();
        // Residual at depth 8 and width 100 starts with a loss near 24, where a target's
        // probability underflows in float.
        let cases = [
            (Variant::Plain, 4, 16),
            (Variant::Residual, 8, 100),
            (Variant::ResidualBn, 4, 16),
        ];
        for (variant, depth, width) in cases {
            let mut config = run_config(variant, depth, 2);
            config.width = width;
            config.seed = 1;
            config.training.weight_decay = 1e-4;
            let metrics = [Engine::Fused, Engine::Autodiff].map(|engine| {
                let folder = tempfile::tempdir().unwrap();
                let run = folder.path().join("run");
                let device = Device::flex().autodiff();
                train_run(&config, &dataset, &device, &run, &NoObserver, engine).unwrap();
                fs::read_to_string(run.join("metrics.jsonl"))
                    .unwrap()
                    .lines()
                    .map(|line| serde_json::from_str::<EpochMetrics>(line).unwrap())
                    .collect::<Vec<_>>()
            });
            let [fused, autodiff] = &metrics;
            assert_eq!(fused.len(), 3);
            assert_eq!(autodiff.len(), 3);
            for (f, a) in fused.iter().zip(autodiff) {
                let close = |x: f64, y: f64| (x - y).abs() <= 1e-4 * y.abs().max(1.0);
                let (f_batch, a_batch) = (f.batch_loss.unwrap_or(0.0), a.batch_loss.unwrap_or(0.0));
                assert!(close(f_batch, a_batch), "{variant}: {f:?} {a:?}");
                let train = close(f.train_loss.unwrap(), a.train_loss.unwrap());
                assert!(train, "{variant}: {f:?} {a:?}");
                let test = close(f.test_loss.unwrap(), a.test_loss.unwrap());
                assert!(test, "{variant}: {f:?} {a:?}");
                // A rounding difference may flip the prediction of a sample on the boundary.
                assert!((f.train_error - a.train_error).abs() <= 2.0 / 4000.0);
                assert!((f.test_error - a.test_error).abs() <= 2.0 / 1000.0);
            }
        }
    }

    #[test]
    fn diverged_run_stores_no_weights() {
        let dataset = mnist1d_dataset().unwrap();
        let mut config = run_config(Variant::Residual, 64, 1);
        config.width = 32;
        for engine in [Engine::Fused, Engine::Autodiff] {
            let folder = tempfile::tempdir().unwrap();
            let run = folder.path().join("run");
            let device = Device::flex().autodiff();
            let summary = train_run(&config, &dataset, &device, &run, &NoObserver, engine).unwrap();
            assert_eq!(summary.status, RunStatus::Diverged, "{engine:?}");
            assert!(run.join("summary.json").is_file());
            assert!(!run.join(MODEL_FILE).exists());
        }
    }

    #[test]
    fn load_errors_name_the_file() {
        let dataset = mnist1d_dataset().unwrap();
        let config = run_config(Variant::PlainBn, 2, 1);
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(MODEL_FILE);
        let device = Device::flex();

        let missing = load_model(&config, &path, &dataset, &device).unwrap_err();
        let message = format!("{missing:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("before weights were stored"), "{message}");

        fs::write(&path, b"not a burnpack file").unwrap();
        let corrupt = load_model(&config, &path, &dataset, &device).unwrap_err();
        let message = format!("{corrupt:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("damaged"), "{message}");

        // A network of another depth has other tensors.
        let deeper = run_config(Variant::PlainBn, 3, 1);
        save_model(&build_model(&deeper, &dataset, &device), &path).unwrap();
        let mismatch = load_model(&config, &path, &dataset, &device).unwrap_err();
        let message = format!("{mismatch:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
}
