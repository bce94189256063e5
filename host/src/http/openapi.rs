//! The OpenAPI 3.1 description of the API, served at `/openapi.json`, and a reference page
//! rendered from it at `/docs`. Each handler describes its own method, path, body and
//! success response; what every route shares (path parameters, the error shape, who may
//! call it) is added here, from the paths, so no route can forget it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};

/// The error shape every 4xx and 5xx answer has.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes JSON built by `error::error_body`; never constructed.
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ErrorDetail {
    /// Stable, machine-readable, e.g. `VALIDATION_FAILED`.
    code: String,
    /// For people.
    message: String,
    /// The same id as the `x-request-id` header, the logs and the invocation record.
    request_id: String,
    /// The request field at fault, when there is one.
    field: Option<String>,
}

/// Routes anyone may call: the rest need a bearer token.
const PUBLIC: &[&str] = &[
    "/health",
    "/readyz",
    "/auth/login",
    "/auth/password-reset",
    "/v1/registrations",
    // Signed by their senders (HMAC), not by a token.
    "/billing/webhooks/sandbox",
    "/v1/portal/pos/payments/{payment_id}/status",
];

/// Module routes: the module decides paths, bodies and answers.
#[derive(utoipa::OpenApi)]
#[openapi(paths(super::portal::call))]
struct ModuleRoutes;

/// Add to the handlers' description what all routes share.
pub(crate) fn finish(mut spec: OpenApi) -> OpenApi {
    spec.merge(ModuleRoutes::openapi());
    spec.info.title = "Nova API".into();
    spec.info.version = env!("CARGO_PKG_VERSION").into();
    spec.info.description = Some(
        "Multi-tenant host for restaurant modules. Errors always have the `Error` shape; \
         every answer carries `x-request-id`. Routes under `/v1/superadmin` need a \
         superadmin token, `/v1/portal` a tenant user's or service token."
            .into(),
    );
    let components = spec.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("Error".into(), ErrorBody::schema());
    components.schemas.insert(
        "ErrorDetail".into(),
        <ErrorDetail as PartialSchema>::schema(),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    for (path, item) in spec.paths.paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        for op in operations(item) {
            add_path_parameters(path, op);
            add_error_responses(op);
            if !public {
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
            }
            op.tags = Some(vec![tag(path).into()]);
        }
    }
    spec
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// `{name}` in a path is a required string parameter, unless the handler said more.
fn add_path_parameters(path: &str, op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    {
        if params
            .iter()
            .any(|p: &Parameter| p.name == name && p.parameter_in == ParameterIn::Path)
        {
            continue;
        }
        params.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(String::schema()))
                .build(),
        );
    }
}

fn add_error_responses(op: &mut Operation) {
    let error = ResponseBuilder::new()
        .description("The request was refused; nothing was written")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Error"))))
                .build(),
        )
        .build();
    op.responses
        .responses
        .entry("4XX".into())
        .or_insert_with(|| error.into());
}

fn tag(path: &str) -> &'static str {
    let rest = path.strip_prefix("/v1/superadmin").unwrap_or(path);
    if rest.starts_with("/billing") || path.starts_with("/ops") {
        "billing"
    } else if rest.starts_with("/support")
        || rest.starts_with("/maintenance")
        || rest.starts_with("/mail")
    {
        "support"
    } else if path.starts_with("/v1/superadmin") {
        "superadmin"
    } else if path.starts_with("/v1/portal") {
        "portal"
    } else if path.starts_with("/auth") || path.starts_with("/v1/registrations") {
        "auth"
    } else {
        "operations"
    }
}

/// `GET /openapi.json`.
pub(crate) async fn json(State(spec): State<Arc<OpenApi>>) -> Json<Arc<OpenApi>> {
    Json(spec)
}

/// `GET /docs`: the reference, rendered here so it needs nothing from the internet.
pub(crate) async fn page(State(spec): State<Arc<OpenApi>>) -> Html<String> {
    Html(render(&spec))
}

fn render(spec: &OpenApi) -> String {
    let mut by_tag: BTreeMap<String, Vec<(String, &str, &Operation)>> = BTreeMap::new();
    for (path, item) in &spec.paths.paths {
        let ops = [
            ("GET", item.get.as_ref()),
            ("POST", item.post.as_ref()),
            ("PUT", item.put.as_ref()),
            ("PATCH", item.patch.as_ref()),
            ("DELETE", item.delete.as_ref()),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                let tag = op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first().cloned())
                    .unwrap_or_default();
                by_tag
                    .entry(tag)
                    .or_default()
                    .push((path.clone(), method, op));
            }
        }
    }
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} {version}</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}\
         code{{background:#f3f3f3;padding:0 .3em}}table{{border-collapse:collapse;width:100%}}\
         td,th{{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}}\
         .m{{font-weight:bold;font-family:monospace}}</style></head><body>\
         <h1>{title} <small>{version}</small></h1><p>{description}</p>\
         <p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1).</p>",
        title = escape(&spec.info.title),
        version = escape(&spec.info.version),
        description = escape(spec.info.description.as_deref().unwrap_or_default()),
    );
    for (tag, ops) in by_tag {
        let _ = write!(
            html,
            "<h2>{}</h2><table><tr><th>Method</th><th>Path</th><th>What it does</th><th>Token</th><th>Answers</th></tr>",
            escape(&tag)
        );
        for (path, method, op) in ops {
            let what = op
                .description
                .as_deref()
                .or(op.summary.as_deref())
                .unwrap_or_default();
            let token = if op.security.is_some() {
                "bearer"
            } else {
                "none"
            };
            let answers: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
            let _ = write!(
                html,
                "<tr><td class=\"m\">{method}</td><td><code>{}</code></td><td>{}</td><td>{token}</td><td>{}</td></tr>",
                escape(&path),
                escape(what),
                escape(&answers.join(", ")),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>");
    html
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn tags_follow_the_path() {
        assert_eq!(tag("/v1/superadmin/billing/summary"), "billing");
        assert_eq!(tag("/v1/superadmin/tenants"), "superadmin");
        assert_eq!(tag("/v1/portal/me"), "portal");
        assert_eq!(tag("/auth/login"), "auth");
        assert_eq!(tag("/health"), "operations");
    }
}
