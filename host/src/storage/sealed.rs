//! Secrets at rest sealed with the master key (`NOVA_MASTER_KEY`): AES-256-GCM, a random nonce
//! per value, and the row's name as associated data, so a sealed value moved to another row
//! does not open. Stored as `enc:v1:<hex nonce><hex ciphertext and tag>`; values without the
//! prefix are plain (written before the master key was set; `nova keys encrypt` seals them).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "enc:v1:";

/// The master key.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key from 64 hex digits (32 bytes), e.g. `openssl rand -hex 32`.
    pub fn from_hex(hex_key: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(hex_key.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                anyhow::anyhow!("NOVA_MASTER_KEY must be 64 hex digits (openssl rand -hex 32)")
            })?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow::anyhow!("NOVA_MASTER_KEY is not an AES-256 key"))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Seal `plain`, bound to `name` (the row it is stored in).
    pub(crate) fn seal(&self, name: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = plain.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .expect("sealing fits in memory");
        format!("{PREFIX}{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// Open a value [`Self::seal`] made for `name`.
    pub(crate) fn open(&self, name: &str, stored: &str) -> anyhow::Result<String> {
        let body = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| anyhow::anyhow!("not a sealed value"))?;
        let bytes = hex::decode(body).map_err(|_| anyhow::anyhow!("a damaged sealed value"))?;
        anyhow::ensure!(bytes.len() > NONCE_LEN, "a damaged sealed value");
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let mut sealed = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("a damaged sealed value"))?;
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut sealed)
            .map_err(|_| {
                anyhow::anyhow!(
                    "{name} does not open with this NOVA_MASTER_KEY (another key, or damaged)"
                )
            })?;
        Ok(String::from_utf8(plain.to_vec())?)
    }
}

/// True when `stored` was sealed.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let key = MasterKey::from_hex(KEY).unwrap();
        let sealed = key.seal("kid-1", "the secret");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("the secret"));
        assert_ne!(
            sealed,
            key.seal("kid-1", "the secret"),
            "a fresh nonce each time"
        );
        assert_eq!(key.open("kid-1", &sealed).unwrap(), "the secret");
        assert!(key.open("kid-2", &sealed).is_err(), "bound to its row");
        let other = MasterKey::from_hex(&KEY.replace("00", "ff")).unwrap();
        assert!(other.open("kid-1", &sealed).is_err(), "another key");
        let mut damaged = sealed.clone();
        damaged.replace_range(sealed.len() - 2.., "00");
        assert!(key.open("kid-1", &damaged).is_err() || damaged == sealed);
    }

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(MasterKey::from_hex(KEY).is_ok());
    }
}
