//! The bundle: a gzipped tar of `manifest.json` and `tables/<name>.jsonl`, encrypted with age
//! to an X25519 recipient or a passphrase. Anyone can read it without Nova:
//! `age -d -i key.txt bundle.tar.gz.age | tar xz` (or `nova export decrypt`).

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::SecretString;
use anyhow::Context;
use serde_json::json;

/// The manifest's format name and version: readers check both.
pub const FORMAT: &str = "nova-tenant-export";
pub const VERSION: u32 = 1;
/// scrypt's work factor for passphrase bundles: 2^16 (64 MiB, a fraction of a second), so a
/// worker building one does not take the memory a login flood would need; the passphrase's
/// length makes up for it.
const SCRYPT_LOG_N: u8 = 16;

/// Who can open a bundle.
pub enum Recipient {
    /// An age X25519 public key (`age1…`).
    Key(age::x25519::Recipient),
    Passphrase(SecretString),
}

impl Recipient {
    /// An `age1…` public key.
    pub fn key(text: &str) -> Result<Self, String> {
        age::x25519::Recipient::from_str(text.trim())
            .map(Self::Key)
            .map_err(|e| format!("not an age X25519 public key (age1…): {e}"))
    }

    /// What is stored once the bundle is built: the kind, never the passphrase.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Key(_) => "x25519",
            Self::Passphrase(_) => "passphrase",
        }
    }
}

/// Pack `dir` (its manifest is written here from `counts`) and encrypt it to `to`.
pub fn seal(
    dir: &Path,
    tenant: &str,
    export_id: &str,
    counts: &[(&str, u64)],
    to: &Recipient,
) -> anyhow::Result<Vec<u8>> {
    let manifest = json!({
        "format": FORMAT,
        "version": VERSION,
        "exportId": export_id,
        "tenantId": tenant,
        "createdAt": crate::storage::rfc3339(crate::storage::now_ms()),
        "tables": counts.iter().map(|(name, rows)| json!({
            "name": name,
            "file": format!("tables/{name}.jsonl"),
            "rows": rows,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    let encryptor = match to {
        Recipient::Key(key) => {
            age::Encryptor::with_recipients(std::iter::once(key as &dyn age::Recipient))?
        }
        Recipient::Passphrase(pass) => {
            let mut scrypt = age::scrypt::Recipient::new(pass.clone());
            scrypt.set_work_factor(SCRYPT_LOG_N);
            age::Encryptor::with_recipients(std::iter::once(&scrypt as &dyn age::Recipient))?
        }
    };
    let mut sealed = Vec::new();
    let writer = encryptor.wrap_output(&mut sealed)?;
    let gz = flate2::write::GzEncoder::new(writer, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.append_path_with_name(dir.join("manifest.json"), "manifest.json")?;
    for (name, _) in counts {
        let file = format!("tables/{name}.jsonl");
        tar.append_path_with_name(dir.join(&file), &file)?;
    }
    let gz = tar.into_inner()?;
    let mut writer = gz.finish()?;
    writer.flush()?;
    writer.finish()?;
    Ok(sealed)
}

/// How to open a bundle.
pub enum Opener {
    /// The text of an age identity file (`AGE-SECRET-KEY-1…` lines; `#` comments allowed).
    Identity(String),
    Passphrase(String),
}

/// Decrypt a bundle and unpack it into `out`: the manifest.
pub fn open(bundle: &[u8], with: &Opener, out: &Path) -> anyhow::Result<serde_json::Value> {
    let decryptor = age::Decryptor::new(bundle).context("not an age-encrypted bundle")?;
    let reader: Box<dyn Read + '_> = match with {
        Opener::Identity(text) => {
            let keys: Vec<age::x25519::Identity> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| age::x25519::Identity::from_str(l).map_err(|e| anyhow::anyhow!(e)))
                .collect::<anyhow::Result<_>>()
                .context("the identity file holds no age X25519 secret key")?;
            anyhow::ensure!(!keys.is_empty(), "the identity file holds no key");
            Box::new(
                decryptor
                    .decrypt(keys.iter().map(|k| k as &dyn age::Identity))
                    .context("this key does not open the bundle")?,
            )
        }
        Opener::Passphrase(pass) => {
            let identity = age::scrypt::Identity::new(SecretString::from(pass.clone()));
            Box::new(
                decryptor
                    .decrypt(std::iter::once(&identity as &dyn age::Identity))
                    .context("this passphrase does not open the bundle")?,
            )
        }
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    std::fs::create_dir_all(out)?;
    // `unpack_in` refuses entries that would land outside `out`.
    for entry in archive.entries()? {
        entry?.unpack_in(out)?;
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json"))?)
            .context("the bundle has no readable manifest.json")?;
    anyhow::ensure!(
        manifest["format"] == FORMAT && manifest["version"] == VERSION,
        "not a {FORMAT} v{VERSION} bundle"
    );
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> Vec<(&'static str, u64)> {
        std::fs::create_dir_all(dir.join("tables")).unwrap();
        std::fs::write(dir.join("tables/tenants.jsonl"), "{\"id\":\"t1\"}\n").unwrap();
        vec![("tenants", 1)]
    }

    #[test]
    fn a_key_bundle_opens_with_its_key_only() {
        let work = tempfile::tempdir().unwrap();
        let counts = sample(work.path());
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let to = Recipient::key(&key.to_public().to_string()).unwrap();
        let sealed = seal(work.path(), "t1", "e1", &counts, &to).unwrap();
        use age::secrecy::ExposeSecret;
        let out = tempfile::tempdir().unwrap();
        let manifest = open(
            &sealed,
            &Opener::Identity(key.to_string().expose_secret().to_string()),
            out.path(),
        )
        .unwrap();
        assert_eq!(manifest["tenantId"], "t1");
        assert_eq!(manifest["tables"][0]["rows"], 1);
        assert_eq!(
            std::fs::read_to_string(out.path().join("tables/tenants.jsonl")).unwrap(),
            "{\"id\":\"t1\"}\n"
        );
        let wrong = Opener::Identity(other.to_string().expose_secret().to_string());
        assert!(open(&sealed, &wrong, tempfile::tempdir().unwrap().path()).is_err());
    }

    #[test]
    fn a_passphrase_bundle_opens_with_its_passphrase_only() {
        let work = tempfile::tempdir().unwrap();
        let counts = sample(work.path());
        let to = Recipient::Passphrase(SecretString::from("correct horse battery".to_string()));
        let sealed = seal(work.path(), "t1", "e1", &counts, &to).unwrap();
        let out = tempfile::tempdir().unwrap();
        let right = Opener::Passphrase("correct horse battery".into());
        assert_eq!(open(&sealed, &right, out.path()).unwrap()["exportId"], "e1");
        let wrong = Opener::Passphrase("incorrect horse battery".into());
        assert!(open(&sealed, &wrong, tempfile::tempdir().unwrap().path()).is_err());
    }

    #[test]
    fn public_keys_are_checked() {
        assert!(Recipient::key("age1notakey").is_err());
        let key = age::x25519::Identity::generate();
        assert!(Recipient::key(&key.to_public().to_string()).is_ok());
    }
}
