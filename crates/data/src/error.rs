//! Errors of the dataset readers.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::idx::FASHION_MNIST_DEBIAN_DIR;

/// A dataset file that is missing, unreadable or not in the expected format.
///
/// Every message names the file or directory and states what to do next.
#[derive(Debug, Error)]
pub enum DataError {
    /// None of the accepted names of a file exists in the directory.
    #[error(
        "missing {dataset} file in {}: looked for {}. {}",
        dir.display(),
        names.join(" and "),
        missing_file_hint(dataset)
    )]
    MissingFile {
        /// Dataset name, for example `fashion-mnist`.
        dataset: String,
        /// Directory that was searched.
        dir: PathBuf,
        /// File names that were looked for.
        names: Vec<String>,
    },
    /// The file could not be opened or read.
    #[error("failed to read {}: {error}. Check that the file exists and is readable", path.display())]
    Read {
        /// File that failed.
        path: PathBuf,
        /// Error of the operating system, shown in the message rather than as the source.
        error: io::Error,
    },
    /// The file starts with the gzip magic bytes but does not decompress.
    #[error(
        "failed to decompress {} as gzip: {error}. The file is corrupt or truncated, so \
         download it again",
        path.display()
    )]
    Gzip {
        /// Compressed file.
        path: PathBuf,
        /// Error of the decoder, shown in the message rather than as the source.
        error: io::Error,
    },
    /// The file contains no bytes, after decompression if it is gzip-compressed.
    #[error("empty file {}: it contains 0 bytes. Download it again", path.display())]
    EmptyFile {
        /// Empty file.
        path: PathBuf,
    },
    /// The IDX magic number has the wrong data type or non-zero leading bytes.
    #[error(
        "invalid IDX file {}: magic number {found:#010x}, expected {expected:#010x}. Check that \
         the file is an uncompressed or gzip-compressed IDX file of unsigned bytes",
        path.display()
    )]
    WrongMagic {
        /// IDX file.
        path: PathBuf,
        /// Magic number for the expected type and number of dimensions.
        expected: u32,
        /// Magic number in the file, the first 4 bytes read as big-endian.
        found: u32,
    },
    /// The IDX file has a different number of dimensions than expected.
    #[error(
        "invalid IDX file {}: the number of dimensions is {found} (magic number {magic:#010x}), \
         expected {expected} for {kind}. Check that the images and labels files are not swapped",
        path.display(),
        kind = idx_dimensions(*expected)
    )]
    DimensionMismatch {
        /// IDX file.
        path: PathBuf,
        /// Expected number of dimensions: 3 for images, 1 for labels.
        expected: u8,
        /// Number of dimensions in the file, the fourth byte of the magic number.
        found: u8,
        /// Magic number in the file.
        magic: u32,
    },
    /// The IDX header declares zero items or zero-sized images.
    #[error(
        "invalid IDX file {}: its dimensions {dims:?} give no data. Download it again",
        path.display()
    )]
    NoData {
        /// IDX file.
        path: PathBuf,
        /// Dimensions in the header.
        dims: Vec<usize>,
    },
    /// The file is shorter than its header or its format requires.
    #[error(
        "truncated file {}: expected {expected} bytes, found {actual}. Download it again",
        path.display()
    )]
    Truncated {
        /// Truncated file, after decompression if it is gzip-compressed.
        path: PathBuf,
        /// Size in bytes that the header requires.
        expected: u64,
        /// Size in bytes of the file.
        actual: u64,
    },
    /// The file is longer than its header declares.
    #[error(
        "invalid file {}: expected {expected} bytes from its header, found {actual}, so the \
         header or the data is corrupt. Download it again",
        path.display()
    )]
    TrailingData {
        /// File with trailing bytes, after decompression if it is gzip-compressed.
        path: PathBuf,
        /// Size in bytes that the header declares.
        expected: u64,
        /// Size in bytes of the file.
        actual: u64,
    },
    /// The images file and the labels file of a split hold different numbers of samples.
    #[error(
        "{num_images} images in {} but {num_labels} labels in {}. Both files must come from \
         the same split of the same dataset",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// Images file.
        images_path: PathBuf,
        /// Number of images.
        num_images: usize,
        /// Labels file.
        labels_path: PathBuf,
        /// Number of labels.
        num_labels: usize,
    },
    /// The train and test images have different sizes.
    #[error(
        "train images in {} are {train_rows}x{train_cols} but test images in {} are \
         {test_rows}x{test_cols}. Both splits must come from the same dataset",
        train_path.display(),
        test_path.display()
    )]
    ImageSizeMismatch {
        /// Train images file.
        train_path: PathBuf,
        /// Rows of a train image.
        train_rows: usize,
        /// Columns of a train image.
        train_cols: usize,
        /// Test images file.
        test_path: PathBuf,
        /// Rows of a test image.
        test_rows: usize,
        /// Columns of a test image.
        test_cols: usize,
    },
    /// A label is not below the number of classes.
    #[error(
        "invalid label {label} of sample {index} in {}: labels must be below {num_classes}. The \
         file is corrupt or belongs to another dataset",
        path.display()
    )]
    LabelOutOfRange {
        /// Labels file, or the CIFAR-10 batch file.
        path: PathBuf,
        /// Index of the sample in the file.
        index: usize,
        /// Label found.
        label: u8,
        /// Number of classes of the dataset.
        num_classes: usize,
    },
    /// The size of a CIFAR-10 batch file is not a whole number of records.
    #[error(
        "invalid CIFAR-10 file {}: its size {size} bytes is not a multiple of the {} bytes of \
         one record (1 label byte and 3072 pixel bytes). Download the binary version of \
         CIFAR-10 again",
        path.display(),
        crate::cifar10::RECORD_BYTES
    )]
    CifarSize {
        /// Batch file.
        path: PathBuf,
        /// Size in bytes of the file.
        size: u64,
    },
}

impl DataError {
    /// Returns a [`DataError::Read`] for `path`.
    pub(crate) fn read(path: &Path, error: io::Error) -> Self {
        Self::Read {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// Returns what to do when a file of `dataset` is missing.
fn missing_file_hint(dataset: &str) -> String {
    match dataset {
        "fashion-mnist" => format!(
            "Run `apt-get install dataset-fashion-mnist` to install Debian's package with the \
             four gzip-compressed IDX files under {FASHION_MNIST_DEBIAN_DIR}, or copy the files \
             into that directory"
        ),
        "mnist" => "Copy the four MNIST IDX files, plain or gzip-compressed, into that directory"
            .to_string(),
        "cifar10" => "Download the binary version of CIFAR-10 (cifar-10-binary.tar.gz) and \
                      extract it into that directory"
            .to_string(),
        _ => "Copy the dataset files into that directory".to_string(),
    }
}

/// Describes the dimensions of an IDX file with `num_dims` dimensions.
fn idx_dimensions(num_dims: u8) -> &'static str {
    match num_dims {
        1 => "labels (count)",
        3 => "images (count, rows, columns)",
        _ => "this file",
    }
}
