//! What a module declares it needs: a `nova:manifest` custom section (written by the SDK's
//! `export!` macro) listing host capabilities, such as `capabilities=kv,audit,`.

use std::collections::BTreeSet;
use std::fmt;

/// A host capability a superadmin grants per module. `log` and `context` only concern the
/// call itself and are always available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// Tenant-scoped storage.
    Kv,
    /// Domain audit records.
    Audit,
    /// The tenant's flags and modules.
    Entitlements,
}

impl Capability {
    /// Every capability, in a stable order.
    pub const ALL: [Capability; 3] = [Capability::Kv, Capability::Audit, Capability::Entitlements];

    /// Parse a capability name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kv" => Some(Capability::Kv),
            "audit" => Some(Capability::Audit),
            "entitlements" => Some(Capability::Entitlements),
            _ => None,
        }
    }

    /// The name used in manifests, grants and audit rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Kv => "kv",
            Capability::Audit => "audit",
            Capability::Entitlements => "entitlements",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of the custom section.
pub const SECTION: &str = "nova:manifest";

/// The capabilities a component declares (none when it has no manifest).
pub fn declared(component: &[u8]) -> Result<BTreeSet<Capability>, String> {
    let mut out = BTreeSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| format!("unreadable component: {e}"))?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == SECTION
        {
            let text = std::str::from_utf8(section.data())
                .map_err(|_| "the manifest is not UTF-8".to_string())?;
            let list = text.strip_prefix("capabilities=").ok_or_else(|| {
                format!("the manifest must start with 'capabilities=', got {text:?}")
            })?;
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                out.insert(
                    Capability::parse(name)
                        .ok_or_else(|| format!("unknown capability {name:?} in the manifest"))?,
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_modules_declare_what_they_use() {
        let pos = nova_artifacts::BUNDLED_MODULES
            .iter()
            .find(|(n, _)| *n == "pos")
            .unwrap()
            .1;
        assert_eq!(
            declared(pos).unwrap(),
            BTreeSet::from([Capability::Kv, Capability::Audit])
        );
        assert!(
            declared(nova_artifacts::guests::TRIVIAL)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(c));
        }
        assert_eq!(Capability::parse("http"), None);
    }
}
