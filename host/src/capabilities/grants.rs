//! What a module may use: the host capabilities a superadmin grants (named in the names
//! crate the SDK shares) and the outbound hosts, as declared, granted and (their
//! intersection) allowed to a call.

use std::collections::BTreeSet;
use std::fmt;

use nova_capability_names as names;

macro_rules! capability_enum {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// A host capability a superadmin grants per module. `log` and `context` only concern
        /// the call itself and are always available.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            utoipa::ToSchema,
        )]
        // The names are kebab-case variant names; utoipa reads this, not each rename (the
        // test below holds the two together).
        #[serde(rename_all = "kebab-case")]
        pub enum Capability {
            $($(#[doc = $doc])* #[serde(rename = $name)] $variant,)*
        }

        impl Capability {
            /// Every capability, in a stable order.
            pub(crate) const ALL: &[Capability] = &[$(Capability::$variant,)*];

            /// The name used in manifests, grants and audit rows.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)*
                }
            }
        }
    };
}

// The list lives in the names crate the SDK shares.
names::with_grantable!(capability_enum);

impl Capability {
    /// Parse a capability name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The grantable names, for messages: `kv, audit, entitlements or outbound-http`.
    pub(crate) fn names_for_people() -> String {
        let (last, rest) = names::GRANTABLE.split_last().expect("capabilities exist");
        format!("{} or {last}", rest.join(", "))
    }
}

impl Capability {
    /// What every interface's `denied` case says to a module that uses this capability
    /// without a grant (the SDK answers it with 403 `CAPABILITY_DENIED`).
    pub(crate) fn not_granted(self) -> String {
        format!("capability {self} is not granted to this module")
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Capabilities and outbound hosts: what a manifest declares, what a superadmin grants, and
/// (their intersection) what a call may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Permissions {
    pub capabilities: BTreeSet<Capability>,
    /// Host names (`payments`, `api.example.com:8443`) for `outbound-http`.
    pub hosts: BTreeSet<String>,
}

/// Grants are stored one row per name: a capability, or `host:` and a host name.
const HOST_PREFIX: &str = "host:";

impl Permissions {
    /// What both allow.
    pub(crate) fn intersection(&self, other: &Permissions) -> Permissions {
        Permissions {
            capabilities: self
                .capabilities
                .intersection(&other.capabilities)
                .copied()
                .collect(),
            hosts: self.hosts.intersection(&other.hosts).cloned().collect(),
        }
    }

    /// What `self` has that `other` has not.
    pub(crate) fn difference(&self, other: &Permissions) -> Permissions {
        Permissions {
            capabilities: self
                .capabilities
                .difference(&other.capabilities)
                .copied()
                .collect(),
            hosts: self.hosts.difference(&other.hosts).cloned().collect(),
        }
    }

    /// From stored grant names; names this host does not know are skipped.
    pub(crate) fn from_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Permissions {
        let mut out = Permissions::default();
        for n in names {
            match n.strip_prefix(HOST_PREFIX) {
                Some(host) => {
                    out.hosts.insert(host.to_string());
                }
                None => out.capabilities.extend(Capability::parse(n)),
            }
        }
        out
    }

    /// As stored grant names.
    pub fn to_names(&self) -> BTreeSet<String> {
        let caps = self.capabilities.iter().map(|c| c.as_str().to_string());
        let hosts = self.hosts.iter().map(|h| format!("{HOST_PREFIX}{h}"));
        caps.chain(hosts).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_knows_exactly_the_shared_capability_names() {
        let ours: Vec<_> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ours, names::GRANTABLE);
        for &c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(c));
        }
        // The OpenAPI description names them as they are sent.
        let schema = serde_json::to_value(<Capability as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(names::GRANTABLE));
        assert_eq!(
            Capability::names_for_people(),
            "kv, audit, entitlements, outbound-http or clock"
        );
    }

    #[test]
    fn grant_names_round_trip() {
        let mut p = Permissions::default();
        p.capabilities.insert(Capability::OutboundHttp);
        p.hosts.insert("payments".into());
        assert_eq!(Permissions::from_names(&p.to_names()), p);
        assert!(p.to_names().contains("host:payments"));
    }

    #[test]
    fn names_round_trip() {
        for &c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(c));
        }
        assert_eq!(Capability::parse("http"), None);
    }
}
