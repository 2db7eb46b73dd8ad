//! Reading dataset files that may be gzip-compressed.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// First two bytes of every gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads the whole file at `path` and decompresses it if it starts with the gzip magic bytes.
///
/// The content decides, not the name, so a `.gz` file that was already decompressed is read as
/// it is. Concatenated gzip members are decompressed one after the other. Returns
/// [`DataError::EmptyFile`] when the (decompressed) content is empty.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(path).map_err(|error| DataError::read(path, error))?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        let mut decompressed = Vec::new();
        MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut decompressed)
            .map_err(|error| DataError::Gzip {
                path: path.to_path_buf(),
                error,
            })?;
        decompressed
    } else {
        raw
    };
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Returns the first of `names` that exists in `dir`, or [`DataError::MissingFile`] listing
/// them all.
pub(crate) fn find_file(dataset: &str, dir: &Path, names: &[String]) -> Result<PathBuf, DataError> {
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dataset: dataset.to_string(),
            dir: dir.to_path_buf(),
            names: names.to_vec(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// Returns `bytes` compressed as one gzip member.
    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn read_bytes_returns_raw_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.gz");
        fs::write(&path, [1, 2, 3]).unwrap();
        assert_eq!(read_bytes(&path).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn read_bytes_decompresses_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-extension");
        fs::write(&path, gzip(&[4, 5, 6])).unwrap();
        assert_eq!(read_bytes(&path).unwrap(), [4, 5, 6]);
    }

    #[test]
    fn read_bytes_joins_gzip_members() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two-members.gz");
        let mut bytes = gzip(&[1, 2]);
        bytes.extend(gzip(&[3]));
        fs::write(&path, bytes).unwrap();
        assert_eq!(read_bytes(&path).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn read_bytes_rejects_truncated_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truncated.gz");
        let bytes = gzip(&[7; 1000]);
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let error = read_bytes(&path).unwrap_err();
        assert!(matches!(error, DataError::Gzip { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(path.to_str().unwrap()), "{message}");
        assert!(message.contains("failed to decompress"), "{message}");
    }

    #[test]
    fn read_bytes_rejects_corrupt_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.gz");
        let mut bytes = gzip(&(0..=255).collect::<Vec<u8>>());
        // The last 8 bytes are the CRC-32 and the size, so flipping one breaks the check.
        let crc_index = bytes.len() - 8;
        bytes[crc_index] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let error = read_bytes(&path).unwrap_err();
        assert!(matches!(error, DataError::Gzip { .. }), "{error:?}");
    }

    #[test]
    fn read_bytes_rejects_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let error = read_bytes(&path).unwrap_err();
        assert!(matches!(error, DataError::Read { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(path.to_str().unwrap()), "{message}");
        assert!(message.starts_with("failed to read"), "{message}");
    }

    #[test]
    fn read_bytes_rejects_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [("empty", Vec::new()), ("empty.gz", gzip(&[]))] {
            let path = dir.path().join(name);
            fs::write(&path, content).unwrap();
            let error = read_bytes(&path).unwrap_err();
            assert!(
                matches!(error, DataError::EmptyFile { .. }),
                "{name}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(path.to_str().unwrap()), "{message}");
        }
    }

    #[test]
    fn find_file_prefers_first_existing_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.gz"), [0]).unwrap();
        let names = ["b".to_string(), "b.gz".to_string()];
        assert_eq!(
            find_file("x", dir.path(), &names).unwrap(),
            dir.path().join("b.gz")
        );
        fs::write(dir.path().join("b"), [0]).unwrap();
        assert_eq!(
            find_file("x", dir.path(), &names).unwrap(),
            dir.path().join("b")
        );
    }

    #[test]
    fn find_file_lists_names_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["b".to_string(), "b.gz".to_string()];
        let error = find_file("mnist", dir.path(), &names).unwrap_err();
        let message = error.to_string();
        let expected = format!(
            "missing mnist file in {}: looked for b and b.gz. Copy the four MNIST IDX files, \
             plain or gzip-compressed, into that directory",
            dir.path().display()
        );
        assert_eq!(message, expected);
    }
}
