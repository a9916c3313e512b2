//! Secrets in settings: a file (a Docker secret, preferred) or a value, the file winning.

use std::path::Path;

/// A secret file that could not be read; the path only, never the contents.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the secret file {path}: {source}")]
pub struct SecretFileError {
    pub path: String,
    pub source: std::io::Error,
}

/// The secret, trimmed, from `file` or else `value`; None when neither is set.
pub fn read_secret(file: Option<&Path>, value: Option<&str>) -> Result<Option<String>, SecretFileError> {
    let text = match (file, value) {
        (Some(path), _) => std::fs::read_to_string(path).map_err(|source| SecretFileError { path: path.display().to_string(), source })?,
        (None, Some(value)) => value.to_string(),
        (None, None) => return Ok(None),
    };
    Ok(Some(text.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_and_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("ande-secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        assert_eq!(read_secret(Some(&file), Some("value")).unwrap().as_deref(), Some("from-file"));
        assert_eq!(read_secret(None, Some(" value ")).unwrap().as_deref(), Some("value"));
        assert_eq!(read_secret(None, None).unwrap(), None);
        let missing = read_secret(Some(&dir.join("missing")), None).unwrap_err();
        assert!(missing.to_string().contains("missing"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
