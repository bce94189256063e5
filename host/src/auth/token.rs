//! Signed access tokens (JWT, HS256). The header's `kid` names the key that signed it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::{Db, keys};

/// How long a login token is valid.
pub(crate) const TOKEN_TTL_SECS: i64 = 12 * 3600;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the platform; belongs to no tenant.
    Superadmin,
    /// A tenant's administrator.
    Admin,
    /// A tenant's staff member.
    Staff,
    /// A tenant's service account (synthetic checks); authenticates with a service token.
    Service,
}

impl Role {
    /// Parse a role name as the API spells it.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "superadmin" => Some(Role::Superadmin),
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superadmin => "superadmin",
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Service => "service",
        }
    }
}

/// What a token says about its holder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    pub email: String,
    pub role: Role,
    /// The tenant of a tenant user; absent for superadmins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn new(kid: String, secret: &[u8]) -> Arc<Self> {
        Arc::new(Self {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Signed by a key this replica has not loaded (perhaps rotated in by another replica).
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// Signed by a key an operator retired (`nova keys retire`).
    #[error("token signed by a retired key")]
    Retired,
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// The signing keys, newest first: the newest signs, every one verifies. They live in the
/// database so that every replica accepts tokens issued by any other.
pub struct Keys {
    keys: RwLock<Vec<Arc<Key>>>,
    /// Ids of retired keys: their tokens are refused without another look at the database.
    retired: RwLock<std::collections::HashSet<String>>,
    /// When a request last re-read the keys for an unknown key id (Unix ms).
    last_reload: std::sync::atomic::AtomicI64,
    /// Held over a re-read of the keys, from the database read to putting them in place.
    reloading: tokio::sync::Mutex<()>,
    validation: Validation,
    /// Tokens that verified, with their claims: a client sends the same token with every
    /// request, and checking it afresh (two base64 decodes, two JSON parses, an HMAC) was
    /// about 4% of a portal call's CPU in a profile. Only successes are kept, expiry is
    /// checked on every use, and the whole memory is emptied when the keys change.
    verified: Mutex<Verified>,
}

/// What [`Keys::verify`] remembers; see the field.
#[derive(Default)]
struct Verified {
    /// Bumped whenever the keys change, so a check that began under the old keys does not
    /// store its result after the memory was emptied.
    generation: u64,
    tokens: HashMap<String, Claims>,
}

/// Tokens remembered at most; past it the memory starts empty again. A replica's active
/// tokens are its recent sign-ins, so this is a bound against growth, not a working size.
const VERIFIED_MAX: usize = 4096;

/// The key id of a secret.
pub(crate) fn kid_of(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..6])
}

impl Keys {
    fn from_list(list: Vec<keys::Stored>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        // A token that says it is not valid yet is refused, whoever minted it.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let (active, retired) = split(list);
        Self {
            keys: RwLock::new(active),
            retired: RwLock::new(retired),
            last_reload: std::sync::atomic::AtomicI64::new(0),
            reloading: tokio::sync::Mutex::new(()),
            validation,
            verified: Mutex::default(),
        }
    }

    /// One key from a shared secret (tests and tools).
    pub fn from_secret(secret: &[u8]) -> Self {
        Self::from_list(vec![keys::Stored {
            kid: kid_of(secret),
            secret: String::from_utf8_lossy(secret).into_owned(),
            retired: false,
        }])
    }

    /// The keys in the database. `NOVA_JWT_SECRET`, when set, is added if missing (and then
    /// signs); an empty table gets a random key.
    pub async fn load(db: &Db, secret: Option<&str>) -> anyhow::Result<Self> {
        if let Some(s) = secret {
            anyhow::ensure!(s.len() >= 32, "NOVA_JWT_SECRET must be at least 32 bytes");
            keys::insert(db, &kid_of(s.as_bytes()), s).await?;
        }
        let mut list = keys::list(db).await?;
        if !list.iter().any(|k| !k.retired) {
            rotate(db).await?;
            list = keys::list(db).await?;
        }
        Ok(Self::from_list(list))
    }

    /// Re-read the keys (after another replica rotated them).
    pub(crate) async fn reload(&self, db: &Db) -> anyhow::Result<()> {
        // One re-read at a time (the periodic one, a change message and a request with an
        // unknown key id can meet): otherwise an older read could be put in place after a
        // newer one and bring a just-retired key back until the next re-read.
        let _one_at_a_time = self.reloading.lock().await;
        let (active, retired) = split(keys::list(db).await?);
        // Never left without a key that signs (retiring the last one is refused).
        if !active.is_empty() {
            self.install(active, retired);
        }
        Ok(())
    }

    /// Put `active` and `retired` in place of the keys held. If that changes which keys
    /// verify, every remembered token is forgotten: a retired or removed key's tokens must be
    /// refused from now on. (The periodic re-read changes nothing and keeps the memory.)
    fn install(&self, active: Vec<Arc<Key>>, retired: std::collections::HashSet<String>) {
        let changed = {
            let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
            let mut held = self.retired.write().unwrap_or_else(|p| p.into_inner());
            let same_kids = keys
                .iter()
                .map(|k| &k.kid)
                .eq(active.iter().map(|k| &k.kid));
            let changed = !same_kids || *held != retired;
            *keys = active;
            *held = retired;
            changed
        };
        if changed {
            let mut verified = self.verified();
            verified.generation += 1;
            verified.tokens.clear();
        }
    }

    /// True at most once a second: may a request with an unknown key id re-read the keys?
    /// (Another replica may have rotated them; but tokens with invented key ids must not turn
    /// every request into a database read.)
    pub(crate) fn may_reload(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = crate::storage::now_ms();
        let last = self.last_reload.load(Ordering::Relaxed);
        now - last >= 1_000
            && self
                .last_reload
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn newest(&self) -> Arc<Key> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())[0].clone()
    }

    /// The key id new tokens carry.
    pub fn kid(&self) -> String {
        self.newest().kid.clone()
    }

    /// Sign claims with the newest key.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let key = self.newest();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).context("signing token")
    }

    /// A fresh token for a user.
    pub fn issue(
        &self,
        sub: &str,
        email: &str,
        role: Role,
        tenant: Option<&str>,
    ) -> anyhow::Result<String> {
        let now = crate::storage::now_ms() / 1000;
        self.sign(&Claims {
            sub: sub.to_string(),
            email: email.to_string(),
            role,
            tenant: tenant.map(str::to_string),
            iat: now,
            exp: now + TOKEN_TTL_SECS,
        })
    }

    /// Check key, signature, algorithm and expiry; a token that passed before and has not
    /// expired is answered from memory.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let now = crate::storage::now_ms() / 1000;
        if let Some(claims) = self.remembered(token, now) {
            return Ok(claims);
        }
        let generation = self.verified().generation;
        let claims = self.check(token)?;
        self.remember(token, &claims, generation);
        Ok(claims)
    }

    /// Keep a token that passed a check begun under `generation` of the keys, unless they
    /// changed since.
    fn remember(&self, token: &str, claims: &Claims, generation: u64) {
        let mut verified = self.verified();
        if verified.generation != generation {
            return;
        }
        if verified.tokens.len() >= VERIFIED_MAX {
            verified.tokens.clear();
        }
        verified.tokens.insert(token.to_string(), claims.clone());
    }

    /// The claims of `token` if it verified before and has not expired by `now` (Unix
    /// seconds, with the same leeway as a full check). An expired token is forgotten and
    /// left to the full check, which says why it is refused.
    fn remembered(&self, token: &str, now: i64) -> Option<Claims> {
        let mut verified = self.verified();
        let claims = verified.tokens.get(token)?;
        if claims.exp < now - self.validation.leeway as i64 {
            verified.tokens.remove(token);
            return None;
        }
        Some(claims.clone())
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The full check, every time: key, signature, algorithm and expiry.
    fn check(&self, token: &str) -> Result<Claims, VerifyError> {
        let header = jsonwebtoken::decode_header(token)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        if self
            .retired
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&kid)
        {
            return Err(VerifyError::Retired);
        }
        let key = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .ok_or(VerifyError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)?;
        Ok(data.claims)
    }
}

/// Active keys (newest first) and the ids of retired ones.
fn split(list: Vec<keys::Stored>) -> (Vec<Arc<Key>>, std::collections::HashSet<String>) {
    let (retired, active): (Vec<_>, Vec<_>) = list.into_iter().partition(|k| k.retired);
    (
        active
            .into_iter()
            .map(|k| Key::new(k.kid, k.secret.as_bytes()))
            .collect(),
        retired.into_iter().map(|k| k.kid).collect(),
    )
}

/// Add a new random signing key; it signs from now on, and older keys still verify.
pub async fn rotate(db: &Db) -> anyhow::Result<String> {
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let kid = kid_of(secret.as_bytes());
    keys::insert(db, &kid, &secret).await?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_other_keys() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = keys.issue("u1", "a@b.c", Role::Admin, Some("t1")).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.tenant.as_deref(), Some("t1"));
        assert_eq!(claims.role, Role::Admin);
        let other = Keys::from_secret(b"another secret that is long enough!!");
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn a_remembered_token_keeps_its_claims_until_it_expires() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = keys.issue("u1", "a@b.c", Role::Staff, Some("t1")).unwrap();
        let first = keys.verify(&token).unwrap();
        let now = crate::storage::now_ms() / 1000;
        let again = keys
            .remembered(&token, now)
            .expect("remembered after a success");
        assert_eq!(
            (again.sub, again.role, again.tenant),
            (first.sub, first.role, first.tenant)
        );
        // One second past the leeway after its expiry it is forgotten, and the full check
        // (not the memory) decides.
        let leeway = keys.validation.leeway as i64;
        assert!(keys.remembered(&token, first.exp + leeway).is_some());
        assert!(keys.remembered(&token, first.exp + leeway + 1).is_none());
        assert!(keys.verified().tokens.is_empty());
        // A refusal is never remembered.
        let mut forged = token.clone();
        forged.pop();
        assert!(keys.verify(&forged).is_err());
        assert!(keys.verified().tokens.is_empty());
    }

    #[test]
    fn retiring_a_key_forgets_its_remembered_tokens_and_a_re_read_keeps_them() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let keys = Keys::from_secret(secret);
        let token = keys.issue("u1", "a@b.c", Role::Admin, Some("t1")).unwrap();
        keys.verify(&token).unwrap();
        let stored = |retired: bool| keys::Stored {
            kid: kid_of(secret),
            secret: String::from_utf8_lossy(secret).into_owned(),
            retired,
        };
        let other = b"another secret that is long enough!!";
        let newer = keys::Stored {
            kid: kid_of(other),
            secret: String::from_utf8_lossy(other).into_owned(),
            retired: false,
        };
        // The same keys read again: still remembered.
        let (active, retired) = split(vec![stored(false)]);
        keys.install(active, retired);
        assert!(keys.remembered(&token, 0).is_some());
        // Its key retired: forgotten, and refused by the full check.
        let (active, retired) = split(vec![newer, stored(true)]);
        keys.install(active, retired);
        assert!(keys.remembered(&token, 0).is_none());
        assert!(matches!(keys.verify(&token), Err(VerifyError::Retired)));
    }

    #[test]
    fn a_check_that_began_before_the_keys_changed_is_not_remembered() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let token = keys.issue("u1", "a@b.c", Role::Admin, Some("t1")).unwrap();
        let began = keys.verified().generation;
        let claims = keys.check(&token).unwrap();
        // The keys change (what `reload` does) while the check runs.
        keys.verified().generation += 1;
        keys.remember(&token, &claims, began);
        assert!(keys.remembered(&token, 0).is_none());
        // A check under the current keys is kept.
        keys.verify(&token).unwrap();
        assert!(keys.remembered(&token, 0).is_some());
    }

    #[test]
    fn the_memory_is_bounded() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        for i in 0..=VERIFIED_MAX {
            let token = keys
                .issue(&format!("u{i}"), "a@b.c", Role::Staff, Some("t1"))
                .unwrap();
            keys.verify(&token).unwrap();
        }
        assert!(keys.verified().tokens.len() <= VERIFIED_MAX);
    }

    #[test]
    fn expired_and_unsigned_tokens_fail() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = crate::storage::now_ms() / 1000;
        let expired = keys
            .sign(&Claims {
                sub: "u".into(),
                email: "e".into(),
                role: Role::Superadmin,
                tenant: None,
                iat: now - 100,
                exp: now - 60,
            })
            .unwrap();
        assert!(keys.verify(&expired).is_err());
        // alg "none": header {"alg":"none"} with no signature.
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            expired.split('.').nth(1).unwrap()
        );
        assert!(keys.verify(&none).is_err());
    }
}
