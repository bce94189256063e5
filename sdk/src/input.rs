//! Reading request input into a type: the host's wording (`nova-input`) as a 400.

use serde::de::DeserializeOwned;

use crate::Error;

/// Parse a JSON body as a `T`, or a 400 `VALIDATION` error naming the field by its path.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    nova_input::json(body).map_err(|f| Error::validation(&f.field, f.message))
}

/// Parse a query string as a `T`, or a 400 `VALIDATION` error naming the parameter.
pub(crate) fn query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    nova_input::query(query).map_err(|f| Error::validation(&f.field, f.message))
}
