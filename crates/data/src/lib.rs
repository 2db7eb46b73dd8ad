//! Datasets for resdepth and the file formats they come in.
//!
//! Every dataset is held in memory as two [`Split`]s of row-major `f32` samples with integer
//! class labels. MNIST-1D is generated in-process by [`mnist1d`], bit-for-bit the same as the
//! reference Python package.

pub mod mnist1d;

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
