//! The binary version of CIFAR-10.
//!
//! The download `cifar-10-binary.tar.gz` extracts to a directory `cifar-10-batches-bin` with
//! five train batches `data_batch_1.bin` to `data_batch_5.bin` and one test batch
//! `test_batch.bin`, 10000 images each. A batch is a sequence of 3073-byte records: one label
//! byte in `0..10`, then the 1024 red, the 1024 green and the 1024 blue values of a 32x32
//! image, each channel row-major.

use std::path::{Path, PathBuf};

use crate::file::{find_file, read_bytes};
use crate::{DataError, Dataset, Split, check_labels, scale_pixels};

/// Name of the dataset in configs, results and error messages.
pub const NAME: &str = "cifar10";

/// Number of classes.
pub const NUM_CLASSES: usize = 10;

/// Shape of one image, `[channels, height, width]`.
pub const SAMPLE_SHAPE: [usize; 3] = [3, 32, 32];

/// Size in bytes of one record: the label byte and 3 x 32 x 32 pixel bytes.
pub const RECORD_BYTES: usize = 1 + 3 * 32 * 32;

/// Directory that the tarball extracts to.
pub const TARBALL_DIR: &str = "cifar-10-batches-bin";

/// Train batch files, in the order their samples are concatenated.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// Test batch file.
pub const TEST_FILE: &str = "test_batch.bin";

/// Loads CIFAR-10 from the batch files in `dir` or in `dir/cifar-10-batches-bin`.
///
/// The nested directory is used when `dir` has no `data_batch_1.bin` of its own. Pixels are
/// scaled from `0..=255` to `[0, 1]` as `x / 255` and the sample shape is `[3, 32, 32]`. Batch
/// files may hold any whole number of records and may be gzip-compressed.
///
/// Returns an error naming the file when one is missing or empty, when its size is not a
/// multiple of 3073 bytes, or when a label is not below 10.
pub fn load(dir: &Path) -> Result<Dataset, DataError> {
    let batches_dir = find_batches_dir(dir);

    let mut train = empty_split();
    for name in TRAIN_FILES {
        let path = find_file(NAME, &batches_dir, &[name.to_string()])?;
        read_batch(&path, &mut train)?;
    }
    let mut test = empty_split();
    let path = find_file(NAME, &batches_dir, &[TEST_FILE.to_string()])?;
    read_batch(&path, &mut test)?;

    Ok(Dataset {
        name: NAME.to_string(),
        num_classes: NUM_CLASSES,
        train,
        test,
    })
}

/// Returns `dir/cifar-10-batches-bin` when it exists and `dir` has no first train batch,
/// otherwise `dir`.
fn find_batches_dir(dir: &Path) -> PathBuf {
    let nested = dir.join(TARBALL_DIR);
    if !dir.join(TRAIN_FILES[0]).is_file() && nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

fn empty_split() -> Split {
    Split {
        inputs: Vec::new(),
        labels: Vec::new(),
        sample_shape: SAMPLE_SHAPE.to_vec(),
    }
}

/// Appends the records of the batch file at `path` to `split`.
fn read_batch(path: &Path, split: &mut Split) -> Result<(), DataError> {
    let bytes = read_bytes(path)?;
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(DataError::CifarSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }

    let num_records = bytes.len() / RECORD_BYTES;
    let labels: Vec<u8> = bytes.iter().step_by(RECORD_BYTES).copied().collect();
    check_labels(path, &labels, NUM_CLASSES)?;

    split.inputs.reserve(num_records * (RECORD_BYTES - 1));
    for record in bytes.chunks_exact(RECORD_BYTES) {
        split.inputs.extend(scale_pixels(&record[1..]));
    }
    split.labels.extend(labels);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::file::tests::gzip;
    use crate::test_support::assert_names_path;

    /// Returns a record with `label` whose channel `c`, row `y`, column `x` contains
    /// `(seed + 3 * c + 5 * y + 7 * x) % 256`.
    fn record(label: u8, seed: usize) -> Vec<u8> {
        let mut bytes = vec![label];
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    bytes.push(((seed + 3 * c + 5 * y + 7 * x) % 256) as u8);
                }
            }
        }
        bytes
    }

    /// Writes the six batch files to `dir`, two records per train batch and three in the
    /// test batch. Record `i` of batch `b` has label `(b + i) % 10` and seed `10 * b + i`,
    /// with `b = 5` for the test batch.
    fn write_batches(dir: &Path) {
        let names = TRAIN_FILES.iter().chain([&TEST_FILE]).enumerate();
        for (batch, name) in names {
            let num_records = if batch == 5 { 3 } else { 2 };
            let bytes: Vec<u8> = (0..num_records)
                .flat_map(|index| record(((batch + index) % 10) as u8, 10 * batch + index))
                .collect();
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn load_reads_records_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path());
        let dataset = load(dir.path()).unwrap();
        assert_eq!(dataset.name, "cifar10");
        assert_eq!(dataset.num_classes, 10);
        assert_eq!(dataset.train.sample_shape, [3, 32, 32]);
        assert_eq!(dataset.test.sample_shape, [3, 32, 32]);
        assert_eq!(dataset.train.labels, [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]);
        assert_eq!(dataset.test.labels, [5, 6, 7]);
        assert_eq!(dataset.train.inputs.len(), 10 * 3072);

        // Sample 3 is record 1 of data_batch_2.bin, seed 11.
        let sample = dataset.train.sample(3);
        for (c, y, x) in [(0, 0, 0), (0, 0, 1), (1, 2, 3), (2, 31, 31)] {
            let expected = ((11 + 3 * c + 5 * y + 7 * x) % 256) as f32 / 255.0;
            assert_eq!(sample[c * 1024 + y * 32 + x], expected, "({c}, {y}, {x})");
        }
        let test_sample = dataset.test.sample(2);
        assert_eq!(test_sample[0], 52.0 / 255.0);
    }

    #[test]
    fn load_finds_tarball_directory() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("cifar-10-batches-bin");
        fs::create_dir(&nested).unwrap();
        write_batches(&nested);
        let from_parent = load(dir.path()).unwrap();
        let from_nested = load(&nested).unwrap();
        assert_eq!(from_parent, from_nested);
        assert_eq!(from_parent.train.len(), 10);
    }

    #[test]
    fn load_reads_gzip_batch() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path());
        let plain = load(dir.path()).unwrap();
        let path = dir.path().join(TEST_FILE);
        fs::write(&path, gzip(&fs::read(&path).unwrap())).unwrap();
        assert_eq!(load(dir.path()).unwrap(), plain);
    }

    #[test]
    fn load_names_missing_batch() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path());
        fs::remove_file(dir.path().join("data_batch_4.bin")).unwrap();
        let error = load(dir.path()).unwrap_err();
        let expected = format!(
            "missing cifar10 file in {}: looked for data_batch_4.bin. Download the binary \
             version of CIFAR-10 (cifar-10-binary.tar.gz) and extract it into that directory",
            dir.path().display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn load_rejects_partial_record() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path());
        let path = dir.path().join("data_batch_2.bin");
        let mut bytes = fs::read(&path).unwrap();
        bytes.pop();
        fs::write(&path, bytes).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(
            matches!(error, DataError::CifarSize { size: 6145, .. }),
            "{error:?}"
        );
        let expected = format!(
            "invalid CIFAR-10 file {}: its size 6145 bytes is not a multiple of the 3073 bytes \
             of one record (1 label byte and 3072 pixel bytes). Download the binary version of \
             CIFAR-10 again",
            path.display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn load_rejects_label_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path());
        let path = dir.path().join(TEST_FILE);
        let bytes: Vec<u8> = [record(3, 0), record(10, 0)].concat();
        fs::write(&path, bytes).unwrap();
        let error = load(dir.path()).unwrap_err();
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
        assert_names_path(&error, &path);
    }

    #[test]
    fn load_rejects_empty_batch() {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path());
        let path = dir.path().join("data_batch_5.bin");
        fs::write(&path, []).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(matches!(error, DataError::EmptyFile { .. }), "{error:?}");
        assert_names_path(&error, &path);
    }
}
