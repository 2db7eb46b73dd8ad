//! Datasets for resdepth and the file formats they come in.
//!
//! Every dataset is held in memory as two [`Split`]s of row-major `f32` samples with integer
//! class labels. The sources are:
//!
//! - MNIST-1D, generated in-process by [`mnist1d`], bit-for-bit the same as the reference
//!   Python package. Samples have shape `[40]`.
//! - MNIST and Fashion-MNIST, read by [`load_idx_dataset`] from the four IDX files of the
//!   original downloads, plain or gzip-compressed. Debian's `dataset-fashion-mnist` package
//!   installs Fashion-MNIST under [`FASHION_MNIST_DEBIAN_DIR`]. Samples have shape
//!   `[1, 28, 28]` with pixels scaled to `[0, 1]`.
//! - CIFAR-10, read by [`cifar10::load`] from the six batch files of its binary version.
//!   Samples have shape `[3, 32, 32]` with pixels scaled to `[0, 1]`.
//!
//! Readers return a [`DataError`] that names the file and states what to do next. Before training,
//! [`Dataset::normalise`] standardises the inputs with statistics of the train split, and
//! [`Augmentation`] draws the random crops and flips of He et al. 2016.

mod augment;
pub mod cifar10;
mod error;
mod file;
pub mod idx;
pub mod mnist1d;
mod normalise;

pub use augment::Augmentation;
pub use error::DataError;
pub use idx::{FASHION_MNIST_DEBIAN_DIR, load_idx_dataset};
pub use normalise::{Normalisation, NormalisationStats};

use std::path::Path;

/// One split (train or test) of a classification dataset, stored row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Sample values, `len() == num_samples * sample_shape.iter().product()`.
    pub inputs: Vec<f32>,
    /// Class label of each sample, in `0..num_classes`.
    pub labels: Vec<u8>,
    /// Shape of one sample: `[40]` for MNIST-1D, `[channels, height, width]` for images.
    pub sample_shape: Vec<usize>,
}

impl Split {
    /// Returns the number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Returns true when the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Returns the number of values in one sample.
    pub fn sample_size(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Returns the values of sample `index`.
    pub fn sample(&self, index: usize) -> &[f32] {
        let size = self.sample_size();
        &self.inputs[index * size..(index + 1) * size]
    }

    /// Returns a copy of the first `min(n, len())` samples, for training on a subset.
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split {
            inputs: self.inputs[..n * self.sample_size()].to_vec(),
            labels: self.labels[..n].to_vec(),
            sample_shape: self.sample_shape.clone(),
        }
    }
}

/// A classification dataset with a train and a test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Name used in configs and results, for example `mnist1d`.
    pub name: String,
    /// Number of classes; labels are in `0..num_classes`.
    pub num_classes: usize,
    /// Training split.
    pub train: Split,
    /// Test split.
    pub test: Split,
}

/// Returns [`DataError::LabelOutOfRange`] for the first label in `labels`, read from `path`,
/// that is not below `num_classes`.
fn check_labels(path: &Path, labels: &[u8], num_classes: usize) -> Result<(), DataError> {
    let Some(index) = labels
        .iter()
        .position(|&label| usize::from(label) >= num_classes)
    else {
        return Ok(());
    };
    Err(DataError::LabelOutOfRange {
        path: path.to_path_buf(),
        index,
        label: labels[index],
        num_classes,
    })
}

/// Scales pixel values from `0..=255` to `[0, 1]` as `x / 255`.
fn scale_pixels(pixels: &[u8]) -> Vec<f32> {
    pixels
        .iter()
        .map(|&pixel| f32::from(pixel) / 255.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split() -> Split {
        Split {
            inputs: (0..12).map(|value| value as f32).collect(),
            labels: vec![3, 1, 4],
            sample_shape: vec![2, 2],
        }
    }

    #[test]
    fn take_keeps_first_samples() {
        let first_two = split().take(2);
        assert_eq!(first_two.labels, [3, 1]);
        assert_eq!(first_two.inputs, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(first_two.sample_shape, [2, 2]);
    }

    #[test]
    fn take_clamps_to_length() {
        assert_eq!(split().take(10), split());
        assert!(split().take(0).is_empty());
        assert!(split().take(0).inputs.is_empty());
    }

    #[test]
    fn scale_pixels_maps_to_unit_interval() {
        assert_eq!(scale_pixels(&[0, 51, 255]), [0.0, 0.2, 1.0]);
    }
}

/// Helpers shared by the unit tests of the file readers.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    use crate::DataError;

    /// Asserts that `error`'s message names `path`.
    pub(crate) fn assert_names_path(error: &DataError, path: &Path) {
        let message = error.to_string();
        let path = path.to_str().unwrap();
        assert!(
            message.contains(path),
            "message does not name {path}: {message}"
        );
    }
}
