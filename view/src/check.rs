//! The rules a document must keep beyond its shape, checked by the host before a document
//! reaches the browser (and by the test kit): routes stay inside the module, names are
//! plain, sizes are bounded. A refusal says where in the document and why.

use std::fmt;

use crate::{Action, Block, Field, Form, Input, Link, Row, Screens, Target, View};

/// The largest document the host passes on.
pub const MAX_BYTES: usize = 256 * 1024;
/// Most blocks on one page.
pub const MAX_BLOCKS: usize = 100;
/// Most rows in one table page.
pub const MAX_ROWS: usize = 500;
/// Most columns, fields, stats, details, actions or links in one block.
pub const MAX_ITEMS: usize = 50;
/// Most choices in a select.
pub const MAX_CHOICES: usize = 500;
/// Longest text anywhere (titles, cells, help), in characters.
pub const MAX_TEXT: usize = 4_000;

/// Where a document breaks the rules, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `blocks[2].rows[0].link.view`, or empty for the whole document.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

impl std::error::Error for Problem {}

type Checked = Result<(), Problem>;

fn fail(at: impl Into<String>, message: impl Into<String>) -> Checked {
    Err(Problem {
        at: at.into(),
        message: message.into(),
    })
}

/// Parse and check a view document as a module sent it.
pub fn parse_view(bytes: &[u8]) -> Result<View, Problem> {
    let view: View = parse(bytes)?;
    self::view(&view)?;
    Ok(view)
}

/// Parse and check a module's screens (`GET /_views`).
pub fn parse_screens(bytes: &[u8]) -> Result<Screens, Problem> {
    let screens: Screens = parse(bytes)?;
    self::screens(&screens)?;
    Ok(screens)
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.len() > MAX_BYTES {
        return Err(Problem {
            at: String::new(),
            message: format!(
                "the document is {} bytes; at most {MAX_BYTES} are allowed",
                bytes.len()
            ),
        });
    }
    nova_input::json(bytes).map_err(|f| Problem {
        at: if f.field == "body" {
            String::new()
        } else {
            f.field
        },
        message: format!("not a nova.view/1 document: {}", f.message),
    })
}

/// Check a module's screens.
pub fn screens(s: &Screens) -> Checked {
    text("title", &s.title)?;
    view_name("home", &s.home)?;
    count("menu", s.menu.len(), MAX_ITEMS)?;
    for (i, l) in s.menu.iter().enumerate() {
        link(&format!("menu[{i}]"), l)?;
    }
    Ok(())
}

/// Check a view.
pub fn view(v: &View) -> Checked {
    text("title", &v.title)?;
    count("blocks", v.blocks.len(), MAX_BLOCKS)?;
    for (i, b) in v.blocks.iter().enumerate() {
        block(&format!("blocks[{i}]"), b)?;
    }
    Ok(())
}

fn block(at: &str, b: &Block) -> Checked {
    match b {
        Block::Heading { text: t } | Block::Text { text: t, .. } => text(&format!("{at}.text"), t),
        Block::Stats { items } => {
            count(&format!("{at}.items"), items.len(), MAX_ITEMS)?;
            for (i, s) in items.iter().enumerate() {
                text(&format!("{at}.items[{i}].label"), &s.label)?;
                value(&format!("{at}.items[{i}].value"), &s.value)?;
            }
            Ok(())
        }
        Block::Table {
            columns,
            rows,
            next,
            empty,
        } => {
            count(&format!("{at}.columns"), columns.len(), MAX_ITEMS)?;
            if columns.is_empty() {
                return fail(format!("{at}.columns"), "a table needs at least one column");
            }
            for (i, c) in columns.iter().enumerate() {
                key(&format!("{at}.columns[{i}].key"), &c.key)?;
                text(&format!("{at}.columns[{i}].label"), &c.label)?;
                if columns[..i].iter().any(|o| o.key == c.key) {
                    return fail(
                        format!("{at}.columns[{i}].key"),
                        format!("column {:?} appears twice", c.key),
                    );
                }
            }
            count(&format!("{at}.rows"), rows.len(), MAX_ROWS)?;
            for (i, r) in rows.iter().enumerate() {
                row(&format!("{at}.rows[{i}]"), r, columns)?;
            }
            if let Some(n) = next {
                target(&format!("{at}.next"), n)?;
            }
            if let Some(e) = empty {
                text(&format!("{at}.empty"), e)?;
            }
            Ok(())
        }
        Block::Details { items } => {
            count(&format!("{at}.items"), items.len(), MAX_ITEMS)?;
            for (i, d) in items.iter().enumerate() {
                text(&format!("{at}.items[{i}].label"), &d.label)?;
                if let Some(v) = &d.value {
                    value(&format!("{at}.items[{i}].value"), v)?;
                }
            }
            Ok(())
        }
        Block::Form(f) => form(at, f),
        Block::Actions { items } => {
            count(&format!("{at}.items"), items.len(), MAX_ITEMS)?;
            for (i, a) in items.iter().enumerate() {
                action(&format!("{at}.items[{i}]"), a)?;
            }
            Ok(())
        }
        Block::Links { items } => {
            count(&format!("{at}.items"), items.len(), MAX_ITEMS)?;
            for (i, l) in items.iter().enumerate() {
                link(&format!("{at}.items[{i}]"), l)?;
            }
            Ok(())
        }
    }
}

fn row(at: &str, r: &Row, columns: &[crate::Column]) -> Checked {
    for (k, v) in &r.cells {
        if !columns.iter().any(|c| &c.key == k) {
            return fail(
                format!("{at}.cells.{k}"),
                "a cell for a column the table does not have",
            );
        }
        value(&format!("{at}.cells.{k}"), v)?;
    }
    match &r.link {
        Some(t) => target(&format!("{at}.link"), t),
        None => Ok(()),
    }
}

fn form(at: &str, f: &Form) -> Checked {
    if let Some(t) = &f.title {
        text(&format!("{at}.title"), t)?;
    }
    path(&format!("{at}.path"), &f.path)?;
    text(&format!("{at}.submit"), &f.submit)?;
    if let Some(c) = &f.confirm {
        text(&format!("{at}.confirm"), c)?;
    }
    count(&format!("{at}.fields"), f.fields.len(), MAX_ITEMS)?;
    for (i, field) in f.fields.iter().enumerate() {
        let here = format!("{at}.fields[{i}]");
        input(&here, field)?;
        if f.fields[..i].iter().any(|o| o.name == field.name) {
            return fail(
                format!("{here}.name"),
                format!("field {:?} appears twice", field.name),
            );
        }
    }
    match &f.then {
        Some(t) => target(&format!("{at}.then"), t),
        None => Ok(()),
    }
}

fn input(at: &str, f: &Field) -> Checked {
    key(&format!("{at}.name"), &f.name)?;
    text(&format!("{at}.label"), &f.label)?;
    if let Some(h) = &f.help {
        text(&format!("{at}.help"), h)?;
    }
    if let Some(v) = &f.value {
        value(&format!("{at}.value"), v)?;
    }
    match (f.input, f.options.is_empty()) {
        (Input::Select, true) => fail(format!("{at}.options"), "a select needs options"),
        (Input::Select, false) => {
            count(&format!("{at}.options"), f.options.len(), MAX_CHOICES)?;
            for (i, c) in f.options.iter().enumerate() {
                value(&format!("{at}.options[{i}].value"), &c.value)?;
                text(&format!("{at}.options[{i}].label"), &c.label)?;
            }
            Ok(())
        }
        (_, false) => fail(format!("{at}.options"), "only a select has options"),
        (_, true) => Ok(()),
    }
}

fn action(at: &str, a: &Action) -> Checked {
    text(&format!("{at}.label"), &a.label)?;
    path(&format!("{at}.path"), &a.path)?;
    if let Some(c) = &a.confirm {
        text(&format!("{at}.confirm"), c)?;
    }
    if let Some(body) = &a.body {
        let size = serde_json::to_vec(body).map_or(usize::MAX, |b| b.len());
        if size > 16 * 1024 {
            return fail(format!("{at}.body"), "an action's body is at most 16 KiB");
        }
    }
    match &a.then {
        Some(t) => target(&format!("{at}.then"), t),
        None => Ok(()),
    }
}

fn link(at: &str, l: &Link) -> Checked {
    text(&format!("{at}.text"), &l.text)?;
    view_name(&format!("{at}.view"), &l.view)?;
    params(at, &l.params)
}

fn target(at: &str, t: &Target) -> Checked {
    view_name(&format!("{at}.view"), &t.view)?;
    params(at, &t.params)
}

fn params(at: &str, p: &std::collections::BTreeMap<String, String>) -> Checked {
    count(&format!("{at}.params"), p.len(), 20)?;
    for (k, v) in p {
        key(&format!("{at}.params"), k)?;
        if v.chars().count() > 512 {
            return fail(
                format!("{at}.params.{k}"),
                "a param is at most 512 characters",
            );
        }
    }
    Ok(())
}

/// A view name: lower-case letters, digits and `-`, at most 64, starting with a letter.
/// Names are not URLs: `javascript:` or `https://…` never fit.
pub fn is_view_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

fn view_name(at: &str, name: &str) -> Checked {
    if is_view_name(name) {
        Ok(())
    } else {
        fail(
            at,
            format!(
                "{name:?} is not a view name (lower-case letters, digits and -, starting with a letter)"
            ),
        )
    }
}

/// Keys (columns, fields, params): letters, digits and `_`, at most 64, starting with a
/// letter, so they are never mistaken for anything else.
fn key(at: &str, k: &str) -> Checked {
    let mut chars = k.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && k.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        fail(
            at,
            format!("{k:?} is not a key (letters, digits and _, starting with a letter)"),
        )
    }
}

/// A route of the calling module: starts with `/`, has no `..` or `.` segment, no empty
/// segment, no scheme, no backslash and nothing percent-encoded that could hide one, so
/// the portal can only ever send it to `/v1/portal/{this module}{path}`.
pub fn is_module_path(p: &str) -> bool {
    let (route, query) = p.split_once('?').unwrap_or((p, ""));
    let Some(rest) = route.strip_prefix('/') else {
        return false;
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    };
    let query_ok = query
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '=' | '&'));
    p.len() <= 512 && (rest.is_empty() || rest.split('/').all(segment_ok)) && query_ok
}

fn path(at: &str, p: &str) -> Checked {
    if is_module_path(p) {
        Ok(())
    } else {
        fail(
            at,
            format!(
                "{p:?} is not a route of this module (it must start with / and hold only \
                 letters, digits, -, _, . and ~ between slashes)"
            ),
        )
    }
}

fn text(at: &str, t: &str) -> Checked {
    if t.chars().count() > MAX_TEXT {
        return fail(at, format!("a text is at most {MAX_TEXT} characters"));
    }
    if t.contains('\0') {
        return fail(at, "a text holds no NUL character");
    }
    Ok(())
}

fn value(at: &str, v: &crate::Value) -> Checked {
    match v {
        crate::Value::Text(t) => text(at, t),
        _ => Ok(()),
    }
}

fn count(at: &str, n: usize, max: usize) -> Checked {
    if n > max {
        fail(at, format!("{n} items; at most {max} are allowed"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Field, Form, Kind, Table, Target, Value};

    fn sample() -> View {
        View::new("Tickets")
            .heading("Open")
            .table(
                Table::new()
                    .column("number", "#", Kind::Text)
                    .column("total", "Total", Kind::Money)
                    .row_linked(
                        Target::view("ticket").param("id", "1"),
                        [("number", "1".into()), ("total", 1250.into())],
                    )
                    .next(Some(Target::view("tickets").param("cursor", "abc")))
                    .empty("No tickets."),
            )
            .form(
                Form::post("/tickets", "Open ticket")
                    .field(Field::text("table", "Table").required())
                    .field(Field::select("kind", "Kind", [("dine-in", "Dine in")]))
                    .then(Target::view("ticket").param("id", "{id}")),
            )
            .actions([Action::post("Close", "/tickets/1/close")
                .confirm("Close it?")
                .danger()])
    }

    #[test]
    fn a_built_view_passes_and_survives_json() {
        let v = sample();
        view(&v).unwrap();
        let json = serde_json::to_vec(&v).unwrap();
        assert_eq!(parse_view(&json).unwrap(), v);
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["format"], "nova.view/1");
        assert_eq!(doc["blocks"][1]["type"], "table");
        assert_eq!(doc["blocks"][2]["type"], "form");
        assert_eq!(doc["blocks"][2]["method"], "POST");
    }

    #[test]
    fn unknown_fields_types_and_formats_are_refused() {
        for bad in [
            r#"{"format":"nova.view/2","title":"x"}"#,
            r#"{"format":"nova.view/1","title":"x","html":"<b>"}"#,
            r#"{"format":"nova.view/1","title":"x","blocks":[{"type":"html","html":"<script>"}]}"#,
            r#"{"format":"nova.view/1","title":"x","blocks":[{"type":"text","text":"a","onclick":"x"}]}"#,
            r#"{"format":"nova.view/1","title":"x","blocks":[{"type":"form","method":"GET","path":"/a","fields":[],"submit":"s"}]}"#,
            r#"{"format":"nova.view/1","title":"x","blocks":[{"type":"form","method":"POST","path":"/a","fields":[],"submit":"s","href":"x"}]}"#,
            r#"{"format":"nova.view/1","title":"x","blocks":[{"type":"links","items":[{"text":"t","href":"javascript:alert(1)"}]}]}"#,
        ] {
            assert!(parse_view(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_and_routes_stay_inside_the_module() {
        for name in [
            "javascript:alert(1)",
            "https://evil.test",
            "Ticket",
            "",
            "a/b",
            "../pos",
        ] {
            assert!(!is_view_name(name), "{name}");
            let v = View::new("x").links([Link::new("t", Target::view(name))]);
            assert!(view(&v).is_err(), "{name}");
        }
        for p in [
            "tickets",
            "//evil.test/x",
            "/../pos/tickets",
            "/a/../../pos",
            "/a/./b",
            "/a//b",
            "/a%2F..%2Fpos",
            "/a\\..\\pos",
            "https://evil.test/x",
            "/a?x=<script>",
        ] {
            assert!(!is_module_path(p), "{p}");
            let v = View::new("x").actions([Action::post("Go", p)]);
            let e = view(&v).unwrap_err();
            assert_eq!(e.at, "blocks[0].items[0].path", "{p}");
        }
        for p in [
            "/",
            "/tickets",
            "/tickets/12/lines",
            "/report?day=2026-12-01",
            "/a.b~c_d-e",
        ] {
            assert!(is_module_path(p), "{p}");
        }
    }

    #[test]
    fn sizes_are_bounded() {
        let big = format!(
            r#"{{"format":"nova.view/1","title":"{}"}}"#,
            "x".repeat(MAX_BYTES)
        );
        let e = parse_view(big.as_bytes()).unwrap_err();
        assert!(e.message.contains("bytes"), "{e}");
        let long = View::new("x".repeat(MAX_TEXT + 1));
        assert_eq!(view(&long).unwrap_err().at, "title");
        let mut t = Table::new().column("a", "A", Kind::Text);
        for i in 0..=MAX_ROWS {
            t = t.row([("a", Value::from(i as i64))]);
        }
        assert_eq!(
            view(&View::new("x").table(t)).unwrap_err().at,
            "blocks[0].rows"
        );
    }

    #[test]
    fn tables_and_forms_must_make_sense() {
        let stray = View::new("x").table(
            Table::new()
                .column("a", "A", Kind::Text)
                .row([("b", Value::from("?"))]),
        );
        assert_eq!(view(&stray).unwrap_err().at, "blocks[0].rows[0].cells.b");
        let twice = View::new("x").form(
            Form::post("/a", "Go")
                .field(Field::text("n", "N"))
                .field(Field::number("n", "N")),
        );
        assert_eq!(view(&twice).unwrap_err().at, "blocks[0].fields[1].name");
        let no_options = View::new("x").form(Form::post("/a", "Go").field(Field::select(
            "s",
            "S",
            Vec::<(Value, String)>::new(),
        )));
        assert_eq!(
            view(&no_options).unwrap_err().at,
            "blocks[0].fields[0].options"
        );
        let screens = Screens::new("POS", "Tickets");
        assert_eq!(self::screens(&screens).unwrap_err().at, "home");
    }
}
