//! The table definition, read from `shared/table.json` — the one source of truth that the
//! tests, the local server, `template.yaml` and the CDK stacks all use — and the keys of
//! every item kind in the single table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;

/// The definition file, compiled in.
pub const TABLE_JSON: &str = include_str!("../../table.json");

pub const MEMBERSHIPS_BY_USER: &str = "memberships-by-user";
pub const EXPIRING_CONTACTS: &str = "expiring-contacts";
/// The tenant's audit records, newest first (the application API's activity log).
pub const ACTIVITY: &str = "activity";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub key_schema: Vec<KeyDef>,
    pub attribute_definitions: Vec<AttrDefJson>,
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_attribute: String,
    /// The table's stream: it carries new audit records to the change-event publisher.
    #[serde(default)]
    pub stream_specification: Option<StreamDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    pub stream_enabled: bool,
    pub stream_view_type: String,
}

impl StreamDef {
    fn to_sdk(&self) -> Result<StreamSpecification, String> {
        StreamSpecification::builder()
            .stream_enabled(self.stream_enabled)
            .stream_view_type(StreamViewType::from(self.stream_view_type.as_str()))
            .build()
            .map_err(|e| e.to_string())
    }
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

/// Creates the table (with its stream, and enables TTL) if it does not exist yet. An
/// existing table without the stream (created before it was defined) gets it enabled.
pub async fn ensure_table(client: &Client, name: &str) -> Result<(), String> {
    let def = definition()?;
    if let Ok(out) = client.describe_table().table_name(name).send().await {
        let enabled = out
            .table()
            .and_then(|t| t.stream_specification())
            .is_some_and(|s| s.stream_enabled());
        if let Some(stream) = def
            .stream_specification
            .as_ref()
            .filter(|s| s.stream_enabled)
        {
            if !enabled {
                client
                    .update_table()
                    .table_name(name)
                    .stream_specification(stream.to_sdk()?)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "enable the stream of table {name}: {}",
                            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                        )
                    })?;
            }
        }
        return Ok(());
    }
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&def.key_schema)?))
        .set_stream_specification(
            def.stream_specification
                .as_ref()
                .map(StreamDef::to_sdk)
                .transpose()?,
        );
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
        assert!(names.contains(&ACTIVITY));
        assert_eq!(def.time_to_live_attribute, "expiresAt");
        let stream = def.stream_specification.unwrap();
        assert!(stream.stream_enabled);
        assert_eq!(stream.stream_view_type, "NEW_IMAGE");
    }
}
