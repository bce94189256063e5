//! # nova-sdk: write Nova modules
//!
//! A Nova module is a WebAssembly component that answers HTTP-like requests for one tenant
//! at a time. The host authenticates the caller, picks the tenant, checks the module is
//! switched on, and hands the module a [`Request`]; the module answers with a [`Response`].
//! Everything a module keeps goes through [`kv`], scoped by the host to the calling tenant
//! and module; domain events go through [`audit`].
//!
//! ```no_run
//! use nova_sdk::{Error, Module, Request, Response, Router, kv};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Note { text: String }
//!
//! fn add_note(req: &Request) -> Result<Response, Error> {
//!     let note: Note = req.json()?;
//!     if note.text.is_empty() {
//!         return Err(Error::validation("text", "text must not be empty"));
//!     }
//!     kv::set_json("note", &note)?;
//!     Response::json(201, &note)
//! }
//!
//! struct Notes;
//! impl Module for Notes {
//!     fn router() -> Router {
//!         Router::new().post("/notes", add_note)
//!     }
//! }
//! nova_sdk::export!(Notes, capabilities = ["kv"]);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` and install the `.wasm` with
//! `nova module install FILE --name NAME`.
#![deny(missing_docs)]

pub mod audit;
pub mod clock;
pub mod context;
pub mod entitlements;
mod error;
mod http;
pub mod id;
mod input;
pub mod kv;
pub mod log;
pub mod outbound;
mod router;

pub use error::Error;
pub use http::{Request, Response};
/// Screens for the tenant portal: a module answers `GET /_views` with its [`view::Screens`]
/// and `GET /_views/{name}` with a [`view::View`] built from these types; the portal draws
/// them, and nothing the module sends runs in the browser.
pub use nova_view as view;
pub use router::{Handler, Router};

/// Raw bindings generated from the `nova:module@0.2.0` WIT world. Use the typed API instead.
#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit/module-0.2.0",
        world: "module",
        pub_export_macro: true,
        export_macro_name: "__export_nova_world",
        default_bindings_module: "nova_sdk::wit",
    });
}

/// A Nova module: the routes it answers.
///
/// ```
/// use nova_sdk::{Module, Response, Router};
/// struct Hello;
/// impl Module for Hello {
///     fn router() -> Router {
///         Router::new().get("/hello", |_req| Response::text(200, "hello"))
///     }
/// }
/// ```
pub trait Module {
    /// The module's routes. Built once per instance, on its first call: for every call of
    /// a module with fresh instances (the default), and once for all the calls a reused
    /// instance serves (`instances = reuse`). So routes must not depend on the request,
    /// the tenant or stored data: decide those in the handlers. What a handler closure
    /// captures lives as long as the instance, like a static.
    fn router() -> Router;
}

/// Export a [`Module`] as the component's entry point, declaring the host capabilities it
/// needs. Use it once, at the crate root.
///
/// Capabilities are `"kv"`, `"audit"`, `"entitlements"`, `"outbound-http"` and `"clock"` (`log` and
/// `context` are always available). A module using `"outbound-http"` also lists the host
/// names it calls in `hosts`. Both are written into the component's `nova:manifest`
/// section; a superadmin grants them per module, and a call to a capability or host that is
/// not granted fails with an error the module sees. A type that does not implement
/// [`Module`], or an unknown capability name, is a compile error pointing at this line.
///
/// Every call gets a fresh instance unless the module says `instances = reuse`: then the
/// host may run a call in an instance that already answered an earlier call **of the same
/// tenant and module version**, skipping instantiation. Statics then survive between that
/// tenant's calls (a cache, say), so only opt in when the module keeps nothing in them that
/// one request must not see from another. An instance is never reused after a trap, a
/// limit, an answer of 500 or more, a refused capability, or a call whose writes were not
/// committed, and never for another tenant or version; docs/MODULE_AUTHORS.md lists when
/// it retires.
///
/// ```ignore
/// nova_sdk::export!(MyModule, capabilities = ["kv", "audit"]);
/// nova_sdk::export!(Pos, capabilities = ["kv", "outbound-http"], hosts = ["payments"]);
/// nova_sdk::export!(Menu, capabilities = ["kv"], instances = reuse);
/// ```
#[macro_export]
macro_rules! export {
    ($module:ty) => {
        $crate::export!($module, capabilities = []);
    };
    ($module:ty, instances = $instances:ident) => {
        $crate::export!($module, capabilities = [], hosts = [], instances = $instances);
    };
    ($module:ty, capabilities = [$($cap:literal),* $(,)?]) => {
        $crate::export!($module, capabilities = [$($cap),*], hosts = []);
    };
    ($module:ty, capabilities = [$($cap:literal),* $(,)?], instances = $instances:ident) => {
        $crate::export!($module, capabilities = [$($cap),*], hosts = [], instances = $instances);
    };
    ($module:ty, capabilities = [$($cap:literal),* $(,)?], hosts = [$($host:literal),* $(,)?]) => {
        $crate::export!($module, capabilities = [$($cap),*], hosts = [$($host),*], instances = fresh);
    };
    ($module:ty, capabilities = [$($cap:literal),* $(,)?], hosts = [$($host:literal),* $(,)?], instances = $instances:ident) => {
        $(const _: () = $crate::__check_capability($cap);)*
        $(const _: () = $crate::__check_host($host);)*
        const _: () = $crate::__check_instances(stringify!($instances));

        // Exports exist only in the component; a native build (for the module's own unit
        // tests) compiles the module without them.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[doc(hidden)]
            pub struct __NovaGuest;

            impl $crate::wit::exports::nova::module::handler::Guest for __NovaGuest {
                fn handle(
                    req: $crate::wit::exports::nova::module::handler::Request,
                ) -> $crate::wit::exports::nova::module::handler::Response {
                    // Built on an instance's first call and kept for its later ones: a
                    // module's routes do not change, and a reused instance need not pay
                    // for them again (docs/PERFORMANCE.md, "Inside the guest").
                    ::std::thread_local! {
                        static ROUTER: $crate::Router = <$module as $crate::Module>::router();
                    }
                    ROUTER.with(|router| $crate::__dispatch(router, req))
                }
            }

            $crate::wit::__export_nova_world!(__NovaGuest with_types_in $crate::wit);

            const MANIFEST_TEXT: &str =
                concat!(
                    "capabilities=", $($cap, ",",)*
                    "\nhosts=", $($host, ",",)*
                    "\ninstances=", stringify!($instances), ",",
                );
            #[used]
            #[unsafe(link_section = "nova:manifest")]
            static MANIFEST: [u8; MANIFEST_TEXT.len()] = $crate::__manifest(MANIFEST_TEXT);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            // Keep the compile-time check that the type is a Module on every target.
            fn assert_module<M: $crate::Module>() {}
            assert_module::<$module>();
        };
    };
}

/// Fails compilation for an `instances` choice other than `fresh` and `reuse`.
#[doc(hidden)]
pub const fn __check_instances(choice: &str) {
    if !matches!(choice.as_bytes(), b"fresh" | b"reuse") {
        panic!("instances is `fresh` (the default: a new instance for every call) or `reuse`");
    }
}

/// Fails compilation for a capability name the host does not know.
#[doc(hidden)]
pub const fn __check_capability(name: &str) {
    if !nova_capability_names::is_grantable(name) {
        panic!(
            "unknown capability: use \"kv\", \"audit\", \"entitlements\", \"outbound-http\" or \"clock\" (nova_capability_names::GRANTABLE)"
        );
    }
}

/// Fails compilation for a host name that is empty or has characters other than
/// `a-z`, `0-9`, `.`, `-` and a `:port` suffix.
#[doc(hidden)]
pub const fn __check_host(name: &str) {
    let n = name.as_bytes();
    if n.is_empty() || n.len() > 253 {
        panic!("a host name must be 1 to 253 characters");
    }
    let mut i = 0;
    while i < n.len() {
        let c = n[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-' || c == b':') {
            panic!("host names use a-z, 0-9, '.', '-' and an optional ':port'");
        }
        i += 1;
    }
}

/// The manifest text as a fixed-size array for the custom section.
#[doc(hidden)]
pub const fn __manifest<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Route one raw request through a module's router. Called by [`export!`].
#[doc(hidden)]
pub fn __dispatch(
    router: &Router,
    req: wit::exports::nova::module::handler::Request,
) -> wit::exports::nova::module::handler::Response {
    let request = Request::from_raw(req.method, req.path, req.query, req.headers, req.body);
    let response = router.handle_owned(request);
    wit::exports::nova::module::handler::Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
    }
}
