//! Builders, so a module author writes `View::new("Tickets").table(…)` and never the JSON.

use std::collections::BTreeMap;

use crate::{
    Action, Block, Choice, Column, Detail, Field, Form, Format, Input, Kind, Link, Method, Row,
    Screens, Stat, Target, Tone, Value,
};

impl Screens {
    /// A module's screens: its title and the view the navigation opens.
    pub fn new(title: impl Into<String>, home: impl Into<String>) -> Self {
        Self {
            format: Format::V1,
            title: title.into(),
            home: home.into(),
            menu: Vec::new(),
        }
    }

    /// List a view under the module's entry.
    pub fn menu(mut self, text: impl Into<String>, view: impl Into<String>) -> Self {
        self.menu.push(Link::new(text, Target::view(view)));
        self
    }
}

impl crate::View {
    /// An empty page titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            format: Format::V1,
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// Add any block.
    pub fn push(mut self, block: impl Into<Block>) -> Self {
        self.blocks.push(block.into());
        self
    }

    /// A section heading.
    pub fn heading(self, text: impl Into<String>) -> Self {
        self.push(Block::Heading { text: text.into() })
    }

    /// A paragraph.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.say(text, Tone::Plain)
    }

    /// A paragraph with a tone (muted, success, warning, danger).
    pub fn say(self, text: impl Into<String>, tone: Tone) -> Self {
        self.push(Block::Text {
            text: text.into(),
            tone,
        })
    }

    /// A row of figures.
    pub fn stats(self, items: impl IntoIterator<Item = Stat>) -> Self {
        self.push(Block::Stats {
            items: items.into_iter().collect(),
        })
    }

    /// A table.
    pub fn table(self, table: Table) -> Self {
        self.push(table)
    }

    /// Labelled values.
    pub fn details(self, items: impl IntoIterator<Item = Detail>) -> Self {
        self.push(Block::Details {
            items: items.into_iter().collect(),
        })
    }

    /// A form.
    pub fn form(self, form: Form) -> Self {
        self.push(Block::Form(form))
    }

    /// A row of buttons; nothing is added when `items` is empty.
    pub fn actions(self, items: impl IntoIterator<Item = Action>) -> Self {
        let items: Vec<Action> = items.into_iter().collect();
        if items.is_empty() {
            return self;
        }
        self.push(Block::Actions { items })
    }

    /// Links to other views.
    pub fn links(self, items: impl IntoIterator<Item = Link>) -> Self {
        self.push(Block::Links {
            items: items.into_iter().collect(),
        })
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n)
    }
}

impl From<u64> for Value {
    /// Saturates at `i64::MAX`.
    fn from(n: u64) -> Self {
        Value::Number(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(n.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl Stat {
    /// A figure shown as `kind`.
    pub fn new(label: impl Into<String>, value: impl Into<Value>, kind: Kind) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            kind,
        }
    }

    /// An amount of integer cents.
    pub fn money(label: impl Into<String>, cents: i64) -> Self {
        Self::new(label, cents, Kind::Money)
    }

    /// A count.
    pub fn number(label: impl Into<String>, n: i64) -> Self {
        Self::new(label, n, Kind::Number)
    }
}

impl Detail {
    /// A labelled value shown as `kind`; `None` shows a dash.
    pub fn new(label: impl Into<String>, value: Option<Value>, kind: Kind) -> Self {
        Self {
            label: label.into(),
            value,
            kind,
        }
    }

    /// A labelled text.
    pub fn text(label: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(label, Some(value.into()), Kind::Text)
    }
}

impl Target {
    /// The view `name` of this module.
    pub fn view(name: impl Into<String>) -> Self {
        Self {
            view: name.into(),
            params: BTreeMap::new(),
        }
    }

    /// Add a param (`{field}` takes a field of the answer, after a form or an action).
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }
}

impl Link {
    /// A link with `text` to `to`.
    pub fn new(text: impl Into<String>, to: Target) -> Self {
        Self {
            text: text.into(),
            view: to.view,
            params: to.params,
        }
    }
}

/// Builds a [`Block::Table`].
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Row>,
    next: Option<Target>,
    empty: Option<String>,
}

impl Table {
    /// A table without columns yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a column; rows give its cell under `key`.
    pub fn column(mut self, key: impl Into<String>, label: impl Into<String>, kind: Kind) -> Self {
        self.columns.push(Column {
            key: key.into(),
            label: label.into(),
            kind,
        });
        self
    }

    /// Add a row from `(column key, value)` pairs.
    pub fn row<K: Into<String>>(self, cells: impl IntoIterator<Item = (K, Value)>) -> Self {
        self.push_row(None, cells)
    }

    /// Add a row whose first cell links to `to`.
    pub fn row_linked<K: Into<String>>(
        self,
        to: Target,
        cells: impl IntoIterator<Item = (K, Value)>,
    ) -> Self {
        self.push_row(Some(to), cells)
    }

    fn push_row<K: Into<String>>(
        mut self,
        link: Option<Target>,
        cells: impl IntoIterator<Item = (K, Value)>,
    ) -> Self {
        self.rows.push(Row {
            cells: cells.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            link,
        });
        self
    }

    /// The next page (usually this view with the module's `cursor`).
    pub fn next(mut self, to: Option<Target>) -> Self {
        self.next = to;
        self
    }

    /// What to say when there are no rows.
    pub fn empty(mut self, text: impl Into<String>) -> Self {
        self.empty = Some(text.into());
        self
    }
}

impl From<Table> for Block {
    fn from(t: Table) -> Self {
        Block::Table {
            columns: t.columns,
            rows: t.rows,
            next: t.next,
            empty: t.empty,
        }
    }
}

impl From<Form> for Block {
    fn from(f: Form) -> Self {
        Block::Form(f)
    }
}

impl Form {
    /// A form sent with `method` to `path` of this module, with a `submit` button.
    pub fn new(method: Method, path: impl Into<String>, submit: impl Into<String>) -> Self {
        Self {
            title: None,
            method,
            path: path.into(),
            fields: Vec::new(),
            submit: submit.into(),
            confirm: None,
            then: None,
        }
    }

    /// A form that POSTs to `path`.
    pub fn post(path: impl Into<String>, submit: impl Into<String>) -> Self {
        Self::new(Method::Post, path, submit)
    }

    /// A heading above it.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Add an input.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Ask before sending.
    pub fn confirm(mut self, question: impl Into<String>) -> Self {
        self.confirm = Some(question.into());
        self
    }

    /// Where to go once it succeeded.
    pub fn then(mut self, to: Target) -> Self {
        self.then = Some(to);
        self
    }
}

impl Field {
    /// An input of any kind.
    pub fn new(name: impl Into<String>, label: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            input,
            required: false,
            value: None,
            options: Vec::new(),
            help: None,
        }
    }

    /// One line of text.
    pub fn text(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Text)
    }

    /// A whole number.
    pub fn number(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Number)
    }

    /// An amount, sent as integer cents.
    pub fn money(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Money)
    }

    /// A date, sent as `YYYY-MM-DD`.
    pub fn date(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Date)
    }

    /// Several lines of text.
    pub fn textarea(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Input::Textarea)
    }

    /// One of `choices`: `(value sent, label shown)`; a number is sent as a number.
    pub fn select<V: Into<Value>, L: Into<String>>(
        name: impl Into<String>,
        label: impl Into<String>,
        choices: impl IntoIterator<Item = (V, L)>,
    ) -> Self {
        let mut f = Self::new(name, label, Input::Select);
        f.options = choices
            .into_iter()
            .map(|(value, label)| Choice {
                value: value.into(),
                label: label.into(),
            })
            .collect();
        f
    }

    /// It must be filled in.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// What it holds at first.
    pub fn value(mut self, value: impl Into<Value>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// A hint under it.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }
}

impl Action {
    /// A button that sends `method` to `path` of this module.
    pub fn new(label: impl Into<String>, method: Method, path: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            method,
            path: path.into(),
            body: None,
            confirm: None,
            tone: Tone::Plain,
            then: None,
        }
    }

    /// A button that POSTs to `path`.
    pub fn post(label: impl Into<String>, path: impl Into<String>) -> Self {
        Self::new(label, Method::Post, path)
    }

    /// Send this JSON object as the body.
    pub fn body(mut self, body: serde_json::Map<String, serde_json::Value>) -> Self {
        self.body = Some(body);
        self
    }

    /// Ask before sending; say what will happen.
    pub fn confirm(mut self, question: impl Into<String>) -> Self {
        self.confirm = Some(question.into());
        self
    }

    /// Shown as dangerous (for what cannot be undone).
    pub fn danger(mut self) -> Self {
        self.tone = Tone::Danger;
        self
    }

    /// Where to go once it succeeded.
    pub fn then(mut self, to: Target) -> Self {
        self.then = Some(to);
        self
    }
}
