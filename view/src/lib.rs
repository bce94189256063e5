//! # nova-view: how a module describes its screens
//!
//! A Nova module gives tenants screens in the portal without shipping any code to the
//! browser: it answers `GET /_views` with its [`Screens`] (a title, a home view and a menu)
//! and `GET /_views/{name}` with a [`View`], a JSON document of [`Block`]s — headings and
//! text, stat cards, tables, detail lists, forms, action buttons and links. The portal
//! draws them with its own components; nothing in a document is run or inserted as HTML,
//! and the host refuses a document that breaks the rules in [`check`] before it reaches
//! the browser.
//!
//! Module authors use the builders (re-exported as `nova_sdk::view`) and never write the
//! JSON by hand:
//!
//! ```
//! use nova_view::{Field, Form, Kind, Table, Target, View};
//!
//! let view = View::new("Members")
//!     .heading("Loyalty members")
//!     .table(
//!         Table::new()
//!             .column("name", "Name", Kind::Text)
//!             .column("points", "Points", Kind::Number)
//!             .row_linked(Target::view("member").param("id", "7"), [("name", "Ada".into()), ("points", 120.into())])
//!             .empty("No members yet."),
//!     )
//!     .form(
//!         Form::post("/members", "Add member")
//!             .field(Field::text("name", "Name").required())
//!             .then(Target::view("member").param("id", "{id}")),
//!     );
//! assert!(nova_view::check::view(&view).is_ok());
//! ```
//!
//! The format is versioned: every document names `"format": "nova.view/1"`. Fields may be
//! added in a later `nova.view/1` only where older portals can ignore them; anything else
//! is `nova.view/2`.
#![deny(missing_docs)]

mod build;
pub use build::Table;
pub mod check;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format this crate reads and writes.
pub const FORMAT: &str = "nova.view/1";

/// The version tag every document carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum Format {
    /// `nova.view/1`.
    #[default]
    #[serde(rename = "nova.view/1")]
    V1,
}

/// What a module shows in the portal's navigation: its title, the view opened first, and
/// the views its menu lists. Answered from `GET /_views`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Screens {
    /// Always `nova.view/1`.
    pub format: Format,
    /// The module's name as tenants see it ("Point of sale").
    pub title: String,
    /// The view opened from the navigation.
    pub home: String,
    /// Views listed under the module's entry, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub menu: Vec<Link>,
}

/// One screen. Answered from `GET /_views/{name}` (its query string carries the params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct View {
    /// Always `nova.view/1`.
    pub format: Format,
    /// The page's title (its main heading).
    pub title: String,
    /// What the page shows, top to bottom.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
}

/// A part of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Block {
    /// A section heading.
    Heading {
        /// Its text.
        text: String,
    },
    /// A paragraph.
    Text {
        /// Its text (shown as text: markup in it is shown, not interpreted).
        text: String,
        /// How it stands out.
        #[serde(default, skip_serializing_if = "is_default")]
        tone: Tone,
    },
    /// A row of figures (sales today, open tickets…).
    Stats {
        /// The figures, in order.
        items: Vec<Stat>,
    },
    /// Rows and columns, with a link per row and paging through the module's cursor.
    Table {
        /// The columns, in order.
        columns: Vec<Column>,
        /// The rows of this page.
        rows: Vec<Row>,
        /// The next page, when there is one (usually this view with a `cursor` param).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<Target>,
        /// Shown instead of the table when there are no rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        empty: Option<String>,
    },
    /// Labelled values, one per line.
    Details {
        /// The values, in order.
        items: Vec<Detail>,
    },
    /// Inputs sent as one JSON object to a route of this module.
    Form(Form),
    /// Buttons, each sending one request to a route of this module.
    Actions {
        /// The buttons, in order.
        items: Vec<Action>,
    },
    /// Links to other views of this module.
    Links {
        /// The links, in order.
        items: Vec<Link>,
    },
}

/// How a text stands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Tone {
    /// Ordinary text.
    #[default]
    Plain,
    /// Less important.
    Muted,
    /// Something went well.
    Success,
    /// Needs attention.
    Warning,
    /// Something is wrong, or cannot be undone.
    Danger,
}

/// How a value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// As it is.
    #[default]
    Text,
    /// A number, grouped by thousands.
    Number,
    /// Integer cents, shown as an amount (1250 → 12.50).
    Money,
    /// An RFC 3339 time or date, shown as a date.
    Date,
    /// An RFC 3339 time, shown as date and time.
    DateTime,
    /// A short status word, shown as a badge.
    Badge,
}

/// A value in a table cell, a stat or a detail: text, a whole number or a yes/no.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Value {
    /// Text.
    Text(String),
    /// A whole number (cents for [`Kind::Money`]).
    Number(i64),
    /// Yes or no.
    Bool(bool),
}

/// One figure of a [`Block::Stats`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Stat {
    /// What it counts.
    pub label: String,
    /// The figure.
    pub value: Value,
    /// How to show it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kind: Kind,
}

/// A table's column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Column {
    /// The key of this column's cell in each row.
    pub key: String,
    /// Its heading.
    pub label: String,
    /// How its cells are shown.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kind: Kind,
}

/// A table's row: a cell per column key (missing ones show empty) and where it leads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Row {
    /// Cells by column key.
    pub cells: BTreeMap<String, Value>,
    /// The view its first cell links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Target>,
}

/// One line of a [`Block::Details`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Detail {
    /// What it is.
    pub label: String,
    /// Its value; `null` shows as a dash.
    pub value: Option<Value>,
    /// How to show it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub kind: Kind,
}

/// A view of this module, with its params (sent as the query string of
/// `GET /_views/{view}`).
///
/// After a form or an action, a param written `{name}` takes the value of the answer's
/// top-level field `name` (so a created ticket's page can open with its new id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    /// The view's name.
    pub view: String,
    /// Its params.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// A link to a view of this module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Link {
    /// Its text.
    pub text: String,
    /// The view's name.
    pub view: String,
    /// Its params.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// An HTTP method a form or an action may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Create.
    Post,
    /// Replace.
    Put,
    /// Change part.
    Patch,
    /// Remove.
    Delete,
}

/// A form: its fields are sent as one JSON object to `path` of this module. A `400
/// VALIDATION` answer naming a `field` is shown next to that field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Form {
    /// A heading above the form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// How it is sent.
    pub method: Method,
    /// Where: a route of this module, starting with `/`.
    pub path: String,
    /// The inputs, in order.
    pub fields: Vec<Field>,
    /// The submit button's text.
    pub submit: String,
    /// Asked before sending ("Void this ticket?").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// Where to go once it succeeded; without it the page is drawn again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Target>,
}

/// What an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Input {
    /// One line of text.
    Text,
    /// A whole number.
    Number,
    /// An amount typed as `12.50`, sent as integer cents (`1250`).
    Money,
    /// One of `options`.
    Select,
    /// A date, sent as `YYYY-MM-DD`.
    Date,
    /// Several lines of text.
    Textarea,
}

/// A form input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Field {
    /// The key it is sent under (and the `field` a validation error names).
    pub name: String,
    /// Its label.
    pub label: String,
    /// What it takes.
    pub input: Input,
    /// Whether it must be filled in.
    #[serde(default, skip_serializing_if = "is_default")]
    pub required: bool,
    /// What it holds at first (cents for money).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The choices of a select.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Choice>,
    /// A hint under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// One choice of a select.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Choice {
    /// What is sent: text or a number, as given (an id stays a number).
    pub value: Value,
    /// What is shown.
    pub label: String,
}

/// A button that sends one request to a route of this module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Action {
    /// The button's text.
    pub label: String,
    /// How it is sent.
    pub method: Method,
    /// Where: a route of this module, starting with `/`.
    pub path: String,
    /// A JSON object sent as the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Asked before sending; say what will happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// How the button looks (`danger` for what cannot be undone).
    #[serde(default, skip_serializing_if = "is_default")]
    pub tone: Tone,
    /// Where to go once it succeeded; without it the page is drawn again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Target>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[cfg(test)]
mod schema_file {
    //! The JSON Schemas in `docs/view-format/` are generated from these types; this test
    //! fails when they are stale (`NOVA_BLESS=1 cargo test -p nova-view` rewrites them).

    use std::path::PathBuf;

    fn check(name: &str, schema: schemars::Schema) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/view-format")
            .join(name);
        let fresh = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if std::env::var_os("NOVA_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is stale: run NOVA_BLESS=1 cargo test -p nova-view and commit it",
            path.display()
        );
    }

    #[test]
    fn committed_schemas_match_the_types() {
        check("view.schema.json", schemars::schema_for!(crate::View));
        check("screens.schema.json", schemars::schema_for!(crate::Screens));
    }
}
