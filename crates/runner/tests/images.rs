//! End-to-end tests of convolutional sweeps on image files: Fashion-MNIST from Debian's
//! `dataset-fashion-mnist` package, and CIFAR-10 binary files written by the test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn resdepth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resdepth"))
        .args(args)
        .output()
        .expect("resdepth starts")
}

fn sweep(config: &Path, results: &Path) -> Output {
    resdepth(&[
        "sweep",
        config.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sweep.toml");
    fs::write(&path, text).unwrap();
    path
}

fn summaries(sweep_dir: &Path) -> Vec<Value> {
    let mut folders: Vec<PathBuf> = fs::read_dir(sweep_dir.join("runs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    folders.sort();
    folders
        .iter()
        .map(|folder| {
            serde_json::from_str(&fs::read_to_string(folder.join("summary.json")).unwrap()).unwrap()
        })
        .collect()
}

/// Fails with install instructions when Debian's Fashion-MNIST package is missing.
fn require_fashion_mnist() -> bool {
    if Path::new("/usr/share/datasets/fashion-mnist").is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("RESDEPTH_SKIP_FASHION_MNIST").is_some(),
        "Fashion-MNIST not found in /usr/share/datasets/fashion-mnist: install it with \
         `apt-get install dataset-fashion-mnist`, or set RESDEPTH_SKIP_FASHION_MNIST=1"
    );
    false
}

const FASHION: &str = r#"
name = "fashion"
[dataset]
name = "fashion-mnist"
train_samples = 1024
test_samples = 256
augmentation = { pad = 2, flip = true }
[model]
family = "cnn"
width = 4
[sweep]
variants = ["plain-bn", "residual-bn"]
depths = [8]
seeds = [0]
[training]
learning_rate = 0.05
weight_decay = 1e-4
batch_size = 32
num_epochs = 3
schedule = { milestones = [2], gamma = 0.5 }
[probe]
batch_size = 64
"#;

#[test]
fn fashion_cnn_sweep_learns() {
    if !require_fashion_mnist() {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let config = write_config(folder.path(), FASHION);
    let output = sweep(&config, folder.path());
    assert!(output.status.success(), "sweep failed: {}", stderr(&output));

    let sweep_dir = folder.path().join("fashion");
    let summaries = summaries(&sweep_dir);
    assert_eq!(summaries.len(), 2);
    for summary in &summaries {
        assert_eq!(summary["status"], "completed", "{summary}");
        // Chance is 90 %; 96 steps of 4-filter 8-layer networks reach 37 % (plain-bn) and 46 %
        // (residual-bn) training error on this subset.
        let train_error = summary["final_train_error"].as_f64().unwrap();
        assert!(train_error < 0.65, "{summary}");
    }
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(sweep_dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(manifest["sweep"]["family"], "cnn");
    assert!(sweep_dir.join("charts/degradation.png").is_file());

    // The probe records one activation per block plus the stem's: 3 blocks for n = 1.
    let run = fs::read_dir(sweep_dir.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let init: Value =
        serde_json::from_str(&fs::read_to_string(run.join("init.json")).unwrap()).unwrap();
    assert_eq!(init["activations"].as_array().unwrap().len(), 4);
    // Weights: the stem, two convolutions per block and the head.
    assert_eq!(init["weight_grads"].as_array().unwrap().len(), 8);

    // Learning-rate schedule: 0.05, then halved after epoch 2.
    let metrics = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let rates: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["learning_rate"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(rates, [0.05, 0.05, 0.025]);
}

/// Writes a CIFAR-10 binary batch of `count` records whose pixels encode the label, so that a
/// network can learn it.
fn write_cifar_batch(path: &Path, count: usize, seed: u8) {
    let mut bytes = Vec::with_capacity(count * 3073);
    for index in 0..count {
        let label = ((index + seed as usize) % 10) as u8;
        bytes.push(label);
        for pixel in 0..3072 {
            let noise = ((pixel * 31 + index * 17) % 23) as u8;
            bytes.push(label * 20 + noise);
        }
    }
    fs::write(path, bytes).unwrap();
}

fn cifar_folder(root: &Path) -> PathBuf {
    let folder = root.join("cifar-10-batches-bin");
    fs::create_dir_all(&folder).unwrap();
    for batch in 1..=5 {
        write_cifar_batch(&folder.join(format!("data_batch_{batch}.bin")), 20, batch);
    }
    write_cifar_batch(&folder.join("test_batch.bin"), 20, 0);
    folder
}

const CIFAR: &str = r#"
name = "cifar"
[dataset]
name = "cifar10"
path = "data"
augmentation = { pad = 4, flip = true }
[model]
family = "cnn"
width = 2
shortcut = "b"
[sweep]
variants = ["residual-bn"]
depths = [8]
seeds = [0]
[training]
learning_rate = 0.05
batch_size = 50
num_epochs = 1
[probe]
batch_size = 50
"#;

#[test]
fn cifar_path_relative_to_config() {
    let folder = tempfile::tempdir().unwrap();
    cifar_folder(&folder.path().join("data"));
    let config = write_config(folder.path(), CIFAR);
    let output = sweep(&config, &folder.path().join("results"));
    assert!(output.status.success(), "sweep failed: {}", stderr(&output));
    let summaries = summaries(&folder.path().join("results/cifar"));
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["status"], "completed");
}

#[test]
fn broken_data_file_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let data = cifar_folder(&folder.path().join("data"));
    let broken = data.join("data_batch_3.bin");
    let mut bytes = fs::read(&broken).unwrap();
    bytes.truncate(bytes.len() - 100);
    fs::write(&broken, bytes).unwrap();

    let config = write_config(folder.path(), CIFAR);
    let results = folder.path().join("results");
    let output = sweep(&config, &results);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("data_batch_3.bin"), "{message}");
    assert!(message.contains("3073"), "{message}");
    assert!(!results.join("cifar").exists());

    let missing = write_config(
        folder.path(),
        &CIFAR.replacen("path = \"data\"", "path = \"nowhere\"", 1),
    );
    let output = sweep(&missing, &results);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("nowhere"), "{message}");
    assert!(!results.join("cifar").exists());
}
