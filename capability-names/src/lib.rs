//! The names of Nova's host capabilities, in one place for the host (manifests, grants,
//! audit rows, API errors) and the SDK (the `export!` macro's compile-time check). A new
//! capability adds its name here once.
#![no_std]

/// Calls `$callback! { … }` with every grantable capability, as `Variant => "name",` lines
/// with their docs, in a stable order. This is the one list a new capability is added to:
/// the host builds its `Capability` enum from it, and [`GRANTABLE`] comes from it.
#[macro_export]
macro_rules! with_grantable {
    ($callback:ident) => {
        $callback! {
            /// Tenant-scoped key-value storage.
            Kv => "kv",
            /// Domain audit records.
            Audit => "audit",
            /// The calling tenant's feature flags and modules.
            Entitlements => "entitlements",
            /// HTTP requests to hosts the module declares and a superadmin grants.
            OutboundHttp => "outbound-http",
            /// The tenant's local date and time, from its timezone setting.
            Clock => "clock",
        }
    };
}

macro_rules! grantable_names {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// Capabilities a module declares and a superadmin grants, in a stable order.
        pub const GRANTABLE: &[&str] = &[$($name),*];
    };
}

with_grantable!(grantable_names);

/// Capabilities every module has: they concern only the call itself.
pub const ALWAYS: [&str; 2] = ["log", "context"];

/// Whether `name` is a grantable capability; usable in constants (the SDK checks the
/// names a module declares while it compiles).
pub const fn is_grantable(name: &str) -> bool {
    let mut i = 0;
    while i < GRANTABLE.len() {
        if eq(GRANTABLE[i].as_bytes(), name.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grantable_names_are_known_and_others_are_not() {
        for name in GRANTABLE {
            assert!(is_grantable(name), "{name}");
        }
        for name in ["", "log", "context", "KV", "kv ", "outbound_http"] {
            assert!(!is_grantable(name), "{name:?}");
        }
    }
}
