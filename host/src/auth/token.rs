//! Signed access tokens (JWT, HS256). The header's `kid` names the key that signed it.

use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a login token is valid.
pub const TOKEN_TTL_SECS: i64 = 12 * 3600;

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
    pub fn parse(s: &str) -> Option<Self> {
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

/// The signing key.
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    /// Keys from a shared secret.
    pub fn from_secret(secret: &[u8]) -> Self {
        let kid = hex::encode(&Sha256::digest(secret)[..6]);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// `NOVA_JWT_SECRET` if set, else a secret generated once and kept in the data directory.
    pub fn load(secret: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(s) = secret {
            anyhow::ensure!(s.len() >= 32, "NOVA_JWT_SECRET must be at least 32 bytes");
            return Ok(Self::from_secret(s.as_bytes()));
        }
        let path = data_dir.join("jwt-secret");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(Self::from_secret(existing.trim().as_bytes()));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let secret = hex::encode(rand::random::<[u8; 32]>());
        write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self::from_secret(secret.as_bytes()))
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Sign claims.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing token")
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

    /// Check signature, algorithm and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        Ok(data.claims)
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(contents.as_bytes())
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
