//! The table definition, read from `shared/table.json` — the one source of truth that the
//! tests, the local server, `template.yaml` and the CDK stacks all use — and the keys of
//! every item kind in the single table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;

/// The definition file, compiled in.
pub const TABLE_JSON: &str = include_str!("../../table.json");

pub const MEMBERSHIPS_BY_USER: &str = "memberships-by-user";
pub const EXPIRING_CONTACTS: &str = "expiring-contacts";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub key_schema: Vec<KeyDef>,
    pub attribute_definitions: Vec<AttrDefJson>,
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_attribute: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttrDefJson {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
}

pub fn definition() -> Result<TableDef, String> {
    serde_json::from_str(TABLE_JSON).map_err(|e| format!("shared/table.json: {e}"))
}

fn key_schema(keys: &[KeyDef]) -> Result<Vec<KeySchemaElement>, String> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Creates the table (and enables TTL) if it does not exist yet.
pub async fn ensure_table(client: &Client, name: &str) -> Result<(), String> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let def = definition()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&def.key_schema)?));
    for a in &def.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for g in &def.global_secondary_indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) => {
            let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e));
            // Two processes racing to create the same table is fine.
            if !text.contains("ResourceInUse") {
                return Err(format!("create table {name}: {text}"));
            }
        }
    }
    // TTL is best-effort: some emulators accept but ignore it.
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(&def.time_to_live_attribute)
        .enabled(true)
        .build()
        .map_err(|e| e.to_string())?;
    if let Err(e) = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        tracing::debug!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "TTL not enabled");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_parses_and_names_the_indexes_the_store_uses() {
        let def = definition().unwrap();
        let names: Vec<&str> = def
            .global_secondary_indexes
            .iter()
            .map(|g| g.index_name.as_str())
            .collect();
        assert!(names.contains(&MEMBERSHIPS_BY_USER));
        assert!(names.contains(&EXPIRING_CONTACTS));
        assert_eq!(def.time_to_live_attribute, "expiresAt");
    }
}
