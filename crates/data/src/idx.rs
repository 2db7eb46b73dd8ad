//! The IDX format of MNIST and Fashion-MNIST.
//!
//! An IDX file starts with a big-endian magic number: two zero bytes, a data type byte (`0x08`
//! for unsigned bytes) and the number of dimensions. One big-endian `u32` per dimension
//! follows, then the values in row-major order. Images are `0x00000803` with dimensions
//! `[count, rows, columns]`, labels are `0x00000801` with dimensions `[count]`. Files may be
//! gzip-compressed, as the MNIST and Fashion-MNIST downloads and Debian's
//! `dataset-fashion-mnist` package ship them.

use std::path::{Path, PathBuf};

use crate::file::{find_file, read_bytes};
use crate::{DataError, Dataset, Split, check_labels, scale_pixels};

/// Directory where Debian's `dataset-fashion-mnist` package installs the four gzip-compressed
/// Fashion-MNIST IDX files.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Magic number of an IDX file of unsigned-byte images, `[count, rows, columns]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

/// Magic number of an IDX file of unsigned-byte labels, `[count]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Number of classes of MNIST and Fashion-MNIST.
pub const NUM_CLASSES: usize = 10;

/// Images read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Pixel values, row-major `[num_images, rows, cols]`.
    pub pixels: Vec<u8>,
    /// Number of images.
    pub num_images: usize,
    /// Height of an image in pixels.
    pub rows: usize,
    /// Width of an image in pixels.
    pub cols: usize,
}

/// Reads an IDX file of unsigned-byte images (magic number `0x00000803`), plain or
/// gzip-compressed.
///
/// Returns an error naming `path` when the file cannot be read, has another magic number, is
/// truncated, has trailing bytes, or declares zero images or zero-sized images.
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    let (dims, pixels) = read_idx(path, IMAGES_MAGIC)?;
    Ok(IdxImages {
        pixels,
        num_images: dims[0],
        rows: dims[1],
        cols: dims[2],
    })
}

/// Reads an IDX file of unsigned-byte labels (magic number `0x00000801`), plain or
/// gzip-compressed.
///
/// Returns the labels as stored, without checking their range, and the same errors as
/// [`read_images`].
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let (_, labels) = read_idx(path, LABELS_MAGIC)?;
    Ok(labels)
}

/// Reads an IDX file with the magic number `magic` and returns its dimensions and values.
fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes = read_bytes(path)?;
    let truncated = |expected: u64| DataError::Truncated {
        path: path.to_path_buf(),
        expected,
        actual: bytes.len() as u64,
    };
    if bytes.len() < 4 {
        return Err(truncated(4));
    }

    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    // The first three bytes fix the data type, the fourth is the number of dimensions.
    if found >> 8 != magic >> 8 {
        return Err(DataError::WrongMagic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    let num_dims = bytes[3];
    let expected_dims = (magic & 0xff) as u8;
    if num_dims != expected_dims {
        return Err(DataError::DimensionMismatch {
            path: path.to_path_buf(),
            expected: expected_dims,
            found: num_dims,
            magic: found,
        });
    }

    let header_len = 4 + 4 * usize::from(num_dims);
    if bytes.len() < header_len {
        return Err(truncated(header_len as u64));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|chunk| u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize)
        .collect();
    // Three dimensions of up to 2^32 - 1 each fit in a u128 but can overflow a u64.
    let num_values: u128 = dims.iter().map(|&dim| dim as u128).product();
    if num_values == 0 {
        return Err(DataError::NoData {
            path: path.to_path_buf(),
            dims,
        });
    }
    let expected_len = u64::try_from(header_len as u128 + num_values).unwrap_or(u64::MAX);
    let actual_len = bytes.len() as u64;
    if actual_len < expected_len {
        return Err(truncated(expected_len));
    }
    if actual_len > expected_len {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            expected: expected_len,
            actual: actual_len,
        });
    }

    let mut values = bytes;
    values.drain(..header_len);
    Ok((dims, values))
}

/// Base names of the four files of MNIST and Fashion-MNIST, in the order train images, train
/// labels, test images, test labels.
const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Loads MNIST or Fashion-MNIST from the four IDX files in `dir` as a [`Dataset`] named
/// `name`.
///
/// Each file may be plain (`train-images-idx3-ubyte`) or gzip-compressed
/// (`train-images-idx3-ubyte.gz`). When both exist, the plain file is read. Pixels are scaled
/// from `0..=255` to `[0, 1]` as `x / 255`, the sample shape is `[1, rows, cols]`, and
/// labels must be below 10. `name` selects the installation hint of a missing file:
/// `fashion-mnist` points to [`FASHION_MNIST_DEBIAN_DIR`].
///
/// Returns an error naming the file when one is missing or invalid, when an images file and
/// its labels file hold different numbers of samples, or when train and test images differ
/// in size.
pub fn load_idx_dataset(name: &str, dir: &Path) -> Result<Dataset, DataError> {
    let [train_images, train_labels, test_images, test_labels] = FILE_NAMES.map(|base| {
        let names = [base.to_string(), format!("{base}.gz")];
        find_file(name, dir, &names)
    });
    let (train, train_images_path) = load_split(train_images?, train_labels?)?;
    let (test, test_images_path) = load_split(test_images?, test_labels?)?;

    if train.sample_shape != test.sample_shape {
        return Err(DataError::ImageSizeMismatch {
            train_path: train_images_path,
            train_rows: train.sample_shape[1],
            train_cols: train.sample_shape[2],
            test_path: test_images_path,
            test_rows: test.sample_shape[1],
            test_cols: test.sample_shape[2],
        });
    }
    Ok(Dataset {
        name: name.to_string(),
        num_classes: NUM_CLASSES,
        train,
        test,
    })
}

/// Reads one split from its images and labels files and returns it with the images path.
fn load_split(images_path: PathBuf, labels_path: PathBuf) -> Result<(Split, PathBuf), DataError> {
    let images = read_images(&images_path)?;
    let labels = read_labels(&labels_path)?;
    if images.num_images != labels.len() {
        return Err(DataError::CountMismatch {
            images_path,
            num_images: images.num_images,
            labels_path,
            num_labels: labels.len(),
        });
    }
    check_labels(&labels_path, &labels, NUM_CLASSES)?;

    let split = Split {
        inputs: scale_pixels(&images.pixels),
        labels,
        sample_shape: vec![1, images.rows, images.cols],
    };
    Ok((split, images_path))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::file::tests::gzip;
    use crate::test_support::assert_names_path;

    /// Returns an IDX file with magic number `magic`, dimensions `dims` and `values`.
    fn idx_bytes(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for dim in dims {
            bytes.extend(dim.to_be_bytes());
        }
        bytes.extend(values);
        bytes
    }

    /// Writes a dataset of `num_train` and `num_test` images of 2x3 pixels to `dir`, the train
    /// files gzip-compressed and the test files plain. Pixel `j` of image `i` is
    /// `(7 * i + j) % 256` and label `i` is `i % 10`.
    fn write_dataset(dir: &Path, num_train: usize, num_test: usize) {
        let files = [("train", num_train, true), ("t10k", num_test, false)];
        for (prefix, count, compressed) in files {
            let pixels: Vec<u8> = (0..count * 6)
                .map(|index| ((7 * (index / 6) + index % 6) % 256) as u8)
                .collect();
            let labels: Vec<u8> = (0..count).map(|index| (index % 10) as u8).collect();
            let images = idx_bytes(IMAGES_MAGIC, &[count as u32, 2, 3], &pixels);
            let labels = idx_bytes(LABELS_MAGIC, &[count as u32], &labels);
            let (images, labels, suffix) = if compressed {
                (gzip(&images), gzip(&labels), ".gz")
            } else {
                (images, labels, "")
            };
            fs::write(
                dir.join(format!("{prefix}-images-idx3-ubyte{suffix}")),
                images,
            )
            .unwrap();
            fs::write(
                dir.join(format!("{prefix}-labels-idx1-ubyte{suffix}")),
                labels,
            )
            .unwrap();
        }
    }

    #[test]
    fn read_images_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..12).collect();
        let bytes = idx_bytes(IMAGES_MAGIC, &[2, 3, 2], &pixels);
        let plain = dir.path().join("images");
        let compressed = dir.path().join("images.gz");
        fs::write(&plain, &bytes).unwrap();
        fs::write(&compressed, gzip(&bytes)).unwrap();
        let expected = IdxImages {
            pixels,
            num_images: 2,
            rows: 3,
            cols: 2,
        };
        assert_eq!(read_images(&plain).unwrap(), expected);
        assert_eq!(read_images(&compressed).unwrap(), expected);
    }

    #[test]
    fn read_labels_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_bytes(LABELS_MAGIC, &[4], &[3, 1, 4, 1]);
        let plain = dir.path().join("labels");
        let compressed = dir.path().join("labels.gz");
        fs::write(&plain, &bytes).unwrap();
        fs::write(&compressed, gzip(&bytes)).unwrap();
        assert_eq!(read_labels(&plain).unwrap(), [3, 1, 4, 1]);
        assert_eq!(read_labels(&compressed).unwrap(), [3, 1, 4, 1]);
    }

    #[test]
    fn read_images_rejects_wrong_magic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floats");
        // Data type 0x0d is float32, which the reader does not accept.
        fs::write(&path, idx_bytes(0x0000_0d03, &[1, 1, 1], &[0; 4])).unwrap();
        let error = read_images(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::WrongMagic {
                    expected: 0x0000_0803,
                    found: 0x0000_0d03,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_names_path(&error, &path);
        let message = error.to_string();
        assert!(message.contains("magic number 0x00000d03"), "{message}");
        assert!(message.contains("expected 0x00000803"), "{message}");
    }

    #[test]
    fn read_images_rejects_text_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte.gz");
        fs::write(&path, b"<html>Not Found</html>").unwrap();
        let error = read_images(&path).unwrap_err();
        let expected = format!(
            "invalid IDX file {}: magic number 0x3c68746d, expected 0x00000803. Check that the \
             file is an uncompressed or gzip-compressed IDX file of unsigned bytes",
            path.display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn read_images_rejects_labels_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels");
        fs::write(&path, idx_bytes(LABELS_MAGIC, &[2], &[0, 1])).unwrap();
        let error = read_images(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::DimensionMismatch {
                    expected: 3,
                    found: 1,
                    magic: 0x0000_0801,
                    ..
                }
            ),
            "{error:?}"
        );
        let expected = format!(
            "invalid IDX file {}: the number of dimensions is 1 (magic number 0x00000801), \
             expected 3 for images (count, rows, columns). Check that the images and labels \
             files are not swapped",
            path.display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn read_labels_rejects_images_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images");
        fs::write(&path, idx_bytes(IMAGES_MAGIC, &[1, 1, 1], &[0])).unwrap();
        let error = read_labels(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::DimensionMismatch {
                    expected: 1,
                    found: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_names_path(&error, &path);
    }

    #[test]
    fn read_images_rejects_truncated_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.gz");
        let bytes = idx_bytes(IMAGES_MAGIC, &[2, 2, 2], &[0; 7]);
        fs::write(&path, gzip(&bytes)).unwrap();
        let error = read_images(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::Truncated {
                    expected: 24,
                    actual: 23,
                    ..
                }
            ),
            "{error:?}"
        );
        let expected = format!(
            "truncated file {}: expected 24 bytes, found 23. Download it again",
            path.display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn read_images_rejects_truncated_header() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], u64); 2] = [(&[0, 0, 8], 4), (&[0, 0, 8, 3, 0, 0, 0, 1], 16)];
        for (bytes, expected_len) in cases {
            let path = dir.path().join("images");
            fs::write(&path, bytes).unwrap();
            let error = read_images(&path).unwrap_err();
            let DataError::Truncated {
                expected, actual, ..
            } = error
            else {
                panic!("{} bytes: {error:?}", bytes.len());
            };
            assert_eq!(expected, expected_len);
            assert_eq!(actual, bytes.len() as u64);
        }
    }

    #[test]
    fn read_labels_rejects_trailing_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels");
        fs::write(&path, idx_bytes(LABELS_MAGIC, &[2], &[0, 1, 2])).unwrap();
        let error = read_labels(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::TrailingData {
                    expected: 10,
                    actual: 11,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_names_path(&error, &path);
    }

    #[test]
    fn read_images_rejects_zero_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for dims in [[0, 28, 28], [5, 0, 28], [5, 28, 0]] {
            let path = dir.path().join("images");
            fs::write(&path, idx_bytes(IMAGES_MAGIC, &dims, &[])).unwrap();
            let error = read_images(&path).unwrap_err();
            assert!(
                matches!(error, DataError::NoData { .. }),
                "{dims:?}: {error:?}"
            );
            assert_names_path(&error, &path);
        }
    }

    #[test]
    fn read_images_rejects_huge_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images");
        fs::write(&path, idx_bytes(IMAGES_MAGIC, &[u32::MAX; 3], &[0; 8])).unwrap();
        let error = read_images(&path).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::Truncated {
                    expected: u64::MAX,
                    actual: 24,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn read_images_rejects_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images");
        fs::write(&path, []).unwrap();
        let error = read_images(&path).unwrap_err();
        assert!(matches!(error, DataError::EmptyFile { .. }), "{error:?}");
        assert_names_path(&error, &path);
    }

    #[test]
    fn load_idx_dataset_reads_both_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 12, 5);
        let dataset = load_idx_dataset("mnist", dir.path()).unwrap();
        assert_eq!(dataset.name, "mnist");
        assert_eq!(dataset.num_classes, 10);
        assert_eq!(dataset.train.len(), 12);
        assert_eq!(dataset.test.len(), 5);
        assert_eq!(dataset.train.sample_shape, [1, 2, 3]);
        assert_eq!(dataset.test.sample_shape, [1, 2, 3]);
        assert_eq!(
            dataset.train.labels[..],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
        );
        assert_eq!(dataset.test.labels[..], [0, 1, 2, 3, 4]);

        // Image 3 has pixels 21..=26, scaled by 1/255.
        let expected: Vec<f32> = (21..27).map(|pixel| pixel as f32 / 255.0).collect();
        assert_eq!(dataset.train.sample(3), &expected[..]);
        assert_eq!(dataset.test.sample(3), &expected[..]);
    }

    #[test]
    fn load_idx_dataset_scales_to_unit_interval() {
        let dir = tempfile::tempdir().unwrap();
        // 37 images of 6 pixels cover all values 0..=255 (255 is pixel 3 of image 36).
        write_dataset(dir.path(), 37, 1);
        let dataset = load_idx_dataset("mnist", dir.path()).unwrap();
        let min = dataset
            .train
            .inputs
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min);
        let max = dataset
            .train
            .inputs
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(min, 0.0);
        assert_eq!(max, 1.0);
    }

    #[test]
    fn load_idx_dataset_prefers_plain_file() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 2);
        // A plain train labels file next to the .gz one takes precedence.
        let labels = idx_bytes(LABELS_MAGIC, &[3], &[9, 9, 9]);
        fs::write(dir.path().join("train-labels-idx1-ubyte"), labels).unwrap();
        let dataset = load_idx_dataset("mnist", dir.path()).unwrap();
        assert_eq!(dataset.train.labels, [9, 9, 9]);
    }

    #[test]
    fn load_idx_dataset_names_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 2);
        fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let error = load_idx_dataset("fashion-mnist", dir.path()).unwrap_err();
        assert!(matches!(error, DataError::MissingFile { .. }), "{error:?}");
        let expected = format!(
            "missing fashion-mnist file in {}: looked for t10k-labels-idx1-ubyte and \
             t10k-labels-idx1-ubyte.gz. Run `apt-get install dataset-fashion-mnist` to install \
             Debian's package with the four gzip-compressed IDX files under \
             /usr/share/datasets/fashion-mnist, or copy the files into that directory",
            dir.path().display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn load_idx_dataset_rejects_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        let error = load_idx_dataset("mnist", &absent).unwrap_err();
        let DataError::MissingFile { names, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(
            names[..],
            ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
        );
        assert_names_path(&error, &absent);
    }

    #[test]
    fn load_idx_dataset_rejects_count_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 2);
        let labels_path = dir.path().join("t10k-labels-idx1-ubyte");
        fs::write(&labels_path, idx_bytes(LABELS_MAGIC, &[3], &[0, 1, 2])).unwrap();
        let error = load_idx_dataset("mnist", dir.path()).unwrap_err();
        let images_path = dir.path().join("t10k-images-idx3-ubyte");
        assert!(
            matches!(
                error,
                DataError::CountMismatch {
                    num_images: 2,
                    num_labels: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        let expected = format!(
            "2 images in {} but 3 labels in {}. Both files must come from the same split of \
             the same dataset",
            images_path.display(),
            labels_path.display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn load_idx_dataset_rejects_label_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 2);
        let labels_path = dir.path().join("train-labels-idx1-ubyte.gz");
        let labels = idx_bytes(LABELS_MAGIC, &[3], &[0, 10, 255]);
        fs::write(&labels_path, gzip(&labels)).unwrap();
        let error = load_idx_dataset("mnist", dir.path()).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::LabelOutOfRange {
                    index: 1,
                    label: 10,
                    num_classes: 10,
                    ..
                }
            ),
            "{error:?}"
        );
        let expected = format!(
            "invalid label 10 of sample 1 in {}: labels must be below 10. The file is corrupt \
             or belongs to another dataset",
            labels_path.display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn load_idx_dataset_rejects_image_size_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 2);
        let test_path = dir.path().join("t10k-images-idx3-ubyte");
        fs::write(&test_path, idx_bytes(IMAGES_MAGIC, &[2, 3, 2], &[0; 12])).unwrap();
        let error = load_idx_dataset("mnist", dir.path()).unwrap_err();
        let train_path = dir.path().join("train-images-idx3-ubyte.gz");
        let expected = format!(
            "train images in {} are 2x3 but test images in {} are 3x2. Both splits must come \
             from the same dataset",
            train_path.display(),
            test_path.display()
        );
        assert_eq!(error.to_string(), expected);
    }
}
