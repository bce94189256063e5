//! What a module declares it needs: a `nova:manifest` custom section (written by the SDK's
//! `export!` macro) with one `key=value,value,` line per kind, such as
//! `capabilities=kv,audit,outbound-http,`, `hosts=payments,` and, for a module that opts
//! in to warm instances, `instances=reuse,`.

use crate::capabilities::grants::{Capability, Permissions};

/// The name of the custom section.
pub(crate) const SECTION: &str = "nova:manifest";

/// A host name a module may declare or be granted: lower-case letters, digits, `.` and `-`,
/// with an optional `:port`.
pub(crate) fn valid_host(name: &str) -> bool {
    let (host, port) = match name.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (name, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// What a component's manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The capabilities and hosts it needs.
    pub(crate) permissions: Permissions,
    /// It may be called again in an instance that answered an earlier call of the same
    /// tenant (`instances=reuse`); otherwise every call gets a fresh instance.
    pub(crate) reuse_instances: bool,
}

/// What a component declares (nothing when it has no manifest).
pub(crate) fn declared(component: &[u8]) -> Result<Manifest, String> {
    let mut out = Manifest::default();
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| {
            format!(
                "unreadable component: {}",
                super::engine::for_people(&e.to_string())
            )
        })?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == SECTION
        {
            let text = std::str::from_utf8(section.data())
                .map_err(|_| "the manifest is not UTF-8".to_string())?;
            parse_into(text, &mut out)?;
        }
    }
    Ok(out)
}

fn parse_into(text: &str, out: &mut Manifest) -> Result<(), String> {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, list) = line
            .split_once('=')
            .ok_or_else(|| format!("manifest lines are key=value, got {line:?}"))?;
        let names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
        match key.trim() {
            "capabilities" => {
                for name in names {
                    out.permissions.capabilities.insert(
                        Capability::parse(name).ok_or_else(|| {
                            format!("unknown capability {name:?} in the manifest")
                        })?,
                    );
                }
            }
            "hosts" => {
                for name in names {
                    if !valid_host(name) {
                        return Err(format!("invalid host {name:?} in the manifest"));
                    }
                    out.permissions.hosts.insert(name.to_string());
                }
            }
            "instances" => {
                for name in names {
                    match name {
                        "reuse" => out.reuse_instances = true,
                        "fresh" => {}
                        other => {
                            return Err(format!(
                                "unknown instances value {other:?} in the manifest: use reuse or fresh"
                            ));
                        }
                    }
                }
            }
            other => return Err(format!("unknown manifest key {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn bundled_modules_declare_what_they_use() {
        let pos = nova_artifacts::BUNDLED_MODULES
            .iter()
            .find(|(n, _)| *n == "pos")
            .unwrap()
            .1;
        let pos = declared(pos).unwrap();
        assert!(pos.reuse_instances, "POS opts in to warm instances");
        for other in ["billing", "support"] {
            let (_, bytes) = nova_artifacts::BUNDLED_MODULES
                .iter()
                .find(|(n, _)| *n == other)
                .unwrap();
            assert!(!declared(bytes).unwrap().reuse_instances, "{other}");
        }
        let pos = pos.permissions;
        assert_eq!(
            pos.capabilities,
            BTreeSet::from([
                Capability::Kv,
                Capability::Audit,
                Capability::OutboundHttp,
                Capability::Clock
            ])
        );
        assert_eq!(pos.hosts, BTreeSet::from(["payments".to_string()]));
        let trivial = declared(nova_artifacts::guests::TRIVIAL).unwrap();
        assert_eq!(trivial.permissions, Permissions::default());
        assert!(
            trivial.reuse_instances,
            "the trivial guest opts in to warm instances"
        );
        assert!(
            !declared(nova_artifacts::guests::HOSTILE)
                .unwrap()
                .reuse_instances
        );
    }

    #[test]
    fn manifest_lines() {
        let mut m = Manifest::default();
        parse_into(
            "capabilities=kv,outbound-http,\nhosts=payments,api.x.com:8443,\ninstances=reuse,",
            &mut m,
        )
        .unwrap();
        assert!(m.reuse_instances);
        let p = m.permissions;
        assert_eq!(
            p.capabilities,
            BTreeSet::from([Capability::Kv, Capability::OutboundHttp])
        );
        assert_eq!(p.hosts.len(), 2);
        for bad in [
            "capabilities=http,",
            "hosts=Bad_Host,",
            "hosts=x:0,",
            "colour=red",
            "instances=shared,",
            "nonsense",
        ] {
            assert!(parse_into(bad, &mut Manifest::default()).is_err(), "{bad}");
        }
    }
}
