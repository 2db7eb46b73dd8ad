//! Loads the real Fashion-MNIST from Debian's `dataset-fashion-mnist` package and checks it
//! against facts of the published dataset.
//!
//! The expected pixel statistics of `x / 255` come from the package's files, version
//! 0.0~git20200523.55506a9-1. A Python script read them with the gzip and struct modules and
//! summed the integer pixel values exactly. The train split has mean 0.286041 and population
//! standard deviation 0.353024, the test split 0.286849 and 0.352444.
//!
//! The test fails when the package is missing, unless `RESDEPTH_SKIP_FASHION_MNIST=1` is set.

use std::env;
use std::path::Path;

use data::{Dataset, FASHION_MNIST_DEBIAN_DIR, Normalisation, NormalisationStats, Split};

/// Returns the mean and population standard deviation of all values of `split`.
fn mean_std(split: &Split) -> (f64, f64) {
    let count = split.inputs.len() as f64;
    let mean = split
        .inputs
        .iter()
        .map(|&value| f64::from(value))
        .sum::<f64>()
        / count;
    let variance = split
        .inputs
        .iter()
        .map(|&value| (f64::from(value) - mean).powi(2))
        .sum::<f64>()
        / count;
    (mean, variance.sqrt())
}

fn class_counts(split: &Split) -> [usize; 10] {
    let mut counts = [0; 10];
    for &label in &split.labels {
        counts[usize::from(label)] += 1;
    }
    counts
}

/// Loads the package's dataset, or returns `None` when it is absent and the test may be
/// skipped.
fn load_debian_fashion_mnist() -> Option<Dataset> {
    let dir = Path::new(FASHION_MNIST_DEBIAN_DIR);
    if !dir.is_dir() {
        if env::var("RESDEPTH_SKIP_FASHION_MNIST").as_deref() == Ok("1") {
            eprintln!("skipping: {FASHION_MNIST_DEBIAN_DIR} does not exist");
            return None;
        }
        panic!(
            "{FASHION_MNIST_DEBIAN_DIR} does not exist. Install Fashion-MNIST with \
             `sudo apt-get install dataset-fashion-mnist`, or set \
             RESDEPTH_SKIP_FASHION_MNIST=1 to skip this test"
        );
    }
    Some(data::load_idx_dataset("fashion-mnist", dir).unwrap())
}

#[test]
fn debian_fashion_mnist_matches_reference() {
    let Some(mut dataset) = load_debian_fashion_mnist() else {
        return;
    };
    assert_eq!(dataset.name, "fashion-mnist");
    assert_eq!(dataset.num_classes, 10);
    assert_eq!(dataset.train.len(), 60000);
    assert_eq!(dataset.test.len(), 10000);
    assert_eq!(dataset.train.sample_shape, [1, 28, 28]);
    assert_eq!(dataset.test.sample_shape, [1, 28, 28]);
    assert_eq!(dataset.train.inputs.len(), 60000 * 784);
    assert_eq!(class_counts(&dataset.train), [6000; 10]);
    assert_eq!(class_counts(&dataset.test), [1000; 10]);
    // Class 9 is "ankle boot".
    assert_eq!(dataset.train.labels[0], 9);
    assert_eq!(dataset.test.labels[0], 9);

    let (train_mean, train_std) = mean_std(&dataset.train);
    assert!(
        (train_mean - 0.2860).abs() <= 1e-3,
        "train mean {train_mean}"
    );
    assert!((train_std - 0.3530).abs() <= 1e-3, "train std {train_std}");
    assert!(
        (train_mean - 0.286041).abs() <= 1e-6,
        "train mean {train_mean}"
    );
    assert!(
        (train_std - 0.353024).abs() <= 1e-6,
        "train std {train_std}"
    );
    let (test_mean, test_std) = mean_std(&dataset.test);
    assert!(
        (test_mean - 0.286849).abs() <= 1e-6,
        "test mean {test_mean}"
    );
    assert!((test_std - 0.352444).abs() <= 1e-6, "test std {test_std}");

    let stats = dataset.normalise(Normalisation::PerChannel);
    let NormalisationStats::PerChannel { mean, std } = &stats else {
        panic!("{stats:?}");
    };
    assert!(
        (mean[0] - train_mean).abs() <= 1e-9,
        "normalisation mean {mean:?}"
    );
    assert!(
        (std[0] - train_std).abs() <= 1e-9,
        "normalisation std {std:?}"
    );
    let (normalised_mean, normalised_std) = mean_std(&dataset.train);
    assert!(
        normalised_mean.abs() <= 1e-6,
        "normalised mean {normalised_mean}"
    );
    assert!(
        (normalised_std - 1.0).abs() <= 1e-6,
        "normalised std {normalised_std}"
    );
}
