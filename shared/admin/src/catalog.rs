//! The admin command's catalog of entitlements and roles: the same check
//! (`scim_core::catalog::parse_entries`) and the same store call
//! (`scim_service::port::CatalogAdmin::replace_catalog`) as the application API's
//! `PUT /app/v1/entitlements` and `PUT /app/v1/roles`.

use crate::AdminError;
use scim_aws::DynamoStore;
use scim_core::catalog::{self, CatalogEntry};
use scim_core::schema::CatalogKind;
use scim_service::port::{CatalogAdmin, Store};
use serde_json::{Map, Value};

/// Sets the kinds `text` (a JSON object `{"entitlements": [...], "roles": [...]}`) gives;
/// every kind is checked before anything is written.
pub async fn set(store: &DynamoStore, tenant: &str, text: &str) -> Result<(), AdminError> {
    let file: Value = serde_json::from_str(text)
        .map_err(|e| AdminError::Usage(format!("the catalog file is not JSON: {e}")))?;
    let Some(obj) = file.as_object() else {
        return Err(AdminError::Usage(
            "the catalog file must be a JSON object: {\"entitlements\": [...], \"roles\": [...]}"
                .into(),
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !CatalogKind::ALL.iter().any(|c| c.plural() == k.as_str()))
    {
        return Err(AdminError::Usage(format!(
            "'{k}' is not a kind of the catalog (entitlements, roles)"
        )));
    }
    let mut kinds: Vec<(CatalogKind, Vec<CatalogEntry>)> = Vec::new();
    for kind in CatalogKind::ALL {
        if let Some(list) = obj.get(kind.plural()) {
            let entries =
                catalog::parse_entries(kind, list).map_err(|e| AdminError::Usage(e.detail))?;
            kinds.push((kind, entries));
        }
    }
    for (kind, entries) in kinds {
        store
            .replace_catalog(tenant, kind, &entries)
            .await
            .map_err(|e| AdminError::Failed(e.to_string()))?;
    }
    Ok(())
}

/// The tenant's catalog, as the file gives it (each kind in id order).
pub async fn show(store: &DynamoStore, tenant: &str) -> Result<Value, AdminError> {
    let mut out = Map::new();
    for kind in CatalogKind::ALL {
        let mut entries = store
            .catalog(tenant, kind)
            .await
            .map_err(|e| AdminError::Failed(e.to_string()))?;
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        out.insert(
            kind.plural().into(),
            Value::Array(entries.iter().map(CatalogEntry::to_json).collect()),
        );
    }
    Ok(Value::Object(out))
}
