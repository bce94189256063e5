//! Menu categories: `POST/GET /menu/categories`, `GET/PUT/DELETE /menu/categories/{id}`.

use nova_sdk::{Error, Request, Response, audit, kv};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{keys, store, validate};

const MAX_NAME: usize = 80;

/// A category as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub id: u64,
    pub name: String,
    pub created_at_ms: u64,
}

/// The name from a create or update body.
pub fn parse(body: &Value) -> Result<String, Error> {
    validate::object(body)?;
    validate::string(body, "name", "name", MAX_NAME)
}

/// True when category `id` exists.
pub fn exists(id: u64) -> Result<bool, Error> {
    Ok(kv::get(&keys::category(id))?.is_some())
}

fn load(id: u64) -> Result<Category, Error> {
    store::load(&keys::category(id), || format!("no category {id}"))
}

pub fn create(req: &Request) -> Result<Response, Error> {
    let name = parse(&req.json()?)?;
    crate::roles::managers_only("change the menu")?;
    let id = store::next_id(keys::CATEGORY_SEQ)?;
    let category = Category {
        id,
        name,
        created_at_ms: store::now_ms(),
    };
    kv::set_json(&keys::category(id), &category)?;
    audit::record("pos.menu.category_created", &category)?;
    Response::json(201, &category)
}

pub fn list(_req: &Request) -> Result<Response, Error> {
    let categories: Vec<Category> = store::list_all(keys::CATEGORIES)?;
    Response::json(200, &json!({ "categories": categories }))
}

pub fn get(req: &Request) -> Result<Response, Error> {
    Response::json(200, &load(validate::path_id(req, "id")?)?)
}

pub fn update(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let name = parse(&req.json()?)?;
    crate::roles::managers_only("change the menu")?;
    let mut category = load(id)?;
    category.name = name;
    kv::set_json(&keys::category(id), &category)?;
    audit::record("pos.menu.category_updated", &category)?;
    Response::json(200, &category)
}

pub fn delete(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    crate::roles::managers_only("change the menu")?;
    load(id)?;
    // The membership index answers "is it in use?" with one read instead of a menu scan.
    if !kv::list(&keys::category_items(id), 1, None)?
        .entries
        .is_empty()
    {
        return Err(Error::new(
            409,
            "CATEGORY_IN_USE",
            format!("category {id} still has items; move or delete them first"),
        ));
    }
    kv::delete(&keys::category(id))?;
    audit::record("pos.menu.category_deleted", &json!({ "id": id }))?;
    Ok(Response::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_required_and_bounded() {
        assert_eq!(parse(&json!({"name": " Drinks "})).unwrap(), "Drinks");
        for body in [json!({}), json!({"name": ""}), json!({"name": 3})] {
            assert_eq!(parse(&body).unwrap_err().field.as_deref(), Some("name"));
        }
        let long = "x".repeat(MAX_NAME + 1);
        assert!(parse(&json!({ "name": long })).is_err());
        assert_eq!(
            parse(&json!(["x"])).unwrap_err().field.as_deref(),
            Some("body")
        );
    }
}
