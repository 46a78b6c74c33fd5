//! Files the process reads and writes, safely: customer data kept in folders and files of
//! their owner's only, and files of lines read with a cap, so that a device or a binary file
//! never grows memory with its size. A leaf: it knows nothing of the crate.

use std::io::{BufRead, Read};
use std::path::Path;

/// Creates `dir` (and its parents) readable by the owner only, like `mkdir -m 0700`; a folder
/// that already exists is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes folder `dir` its owner's only (0700), whatever mode it was made with.
pub fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes `path` readable and writable by the owner only (0600); SQLite gives its WAL and
/// shared-memory files the database file's mode.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The longest line read from a file of lines (a history export, a training or question
/// file), in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The largest text file read whole (a training or question file), in bytes.
pub const MAX_TEXT_FILE_BYTES: usize = 256 * 1024 * 1024;

/// Reads one line (its newline included) into `line`, holding at most `max` bytes of it: a
/// longer line is an `InvalidData` error, not an allocation that grows with the input.
/// Returns the bytes read, 0 at the end.
pub fn read_line_capped(reader: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> std::io::Result<usize> {
    line.clear();
    let read = reader.take(max as u64 + 1).read_until(b'\n', line)?;
    if line.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a line is longer than {} MiB", max / (1024 * 1024)),
        ));
    }
    Ok(read)
}

/// Reads a UTF-8 text file line by line, each line at most [`MAX_LINE_BYTES`] and the whole
/// at most [`MAX_TEXT_FILE_BYTES`]: `/dev/zero` or a binary file stops at the first cap with
/// an `InvalidData` error, instead of being read whole first.
pub fn read_text_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let (mut text, mut line) = (Vec::new(), Vec::new());
    while read_line_capped(&mut reader, &mut line, MAX_LINE_BYTES)? > 0 {
        if text.len() + line.len() > MAX_TEXT_FILE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("larger than {} MiB", MAX_TEXT_FILE_BYTES / (1024 * 1024)),
            ));
        }
        text.extend_from_slice(&line);
    }
    String::from_utf8(text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that never ends a line stops at the line cap, as it is read.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_endless_line_stops_at_the_cap() {
        let error = read_text_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("longer than 16 MiB"), "{error}");
    }

    #[test]
    fn a_text_file_is_read_whole() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "one\ntwo\nthree").unwrap();
        assert_eq!(read_text_file(file.path()).unwrap(), "one\ntwo\nthree");
    }
}
