//! Discovery documents (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`,
//! `/Schemas`, all generated from the registry and the service's limits.

use crate::list::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::schema::{
    find_attr, AttrDef, ResourceKind, ResourceTypeDef, SchemaDef, ALL_RESOURCE_TYPES, ALL_SCHEMAS,
    COMMON_ATTRS, RESOURCE_TYPE_URN, SCHEMA_URN, SERVICE_PROVIDER_CONFIG_URN,
};
use serde_json::{json, Value};

/// The largest request body accepted (bytes); larger ones answer 413.
pub const MAX_BODY_BYTES: usize = 1_000_000;

/// Facts the adapters decide and the documents advertise.
#[derive(Debug, Clone)]
pub struct ProviderFacts {
    pub base_url: String,
    pub change_password: bool,
    pub documentation_uri: Option<String>,
    /// The OAuth 2.0 token endpoint, when access tokens are accepted beside the bearer token.
    pub token_endpoint: Option<String>,
    /// The RFC 9967 SET event URIs the service publishes (`securityEvents.eventUris`);
    /// none: no `securityEvents` attribute.
    pub event_uris: &'static [&'static str],
    /// Whether writes sent with `Prefer: respond-async` are run asynchronously
    /// (`securityEvents.asyncRequest`: `"request"`, else `"none"`).
    pub async_requests: bool,
}

pub fn service_provider_config(facts: &ProviderFacts) -> Value {
    let base = facts.base_url.trim_end_matches('/');
    let mut doc = json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_URN],
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": crate::bulk::MAX_OPERATIONS,
            "maxPayloadSize": crate::bulk::MAX_PAYLOAD_BYTES
        },
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": facts.change_password},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_PAGE_SIZE,
            "maxPageSize": MAX_PAGE_SIZE,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the bearer token issued for this tenant.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    });
    if let (Some(endpoint), Some(schemes)) = (
        &facts.token_endpoint,
        doc["authenticationSchemes"].as_array_mut(),
    ) {
        schemes.push(json!({
            "type": "oauth2",
            "name": "OAuth 2.0",
            "description": format!("Access tokens from the token endpoint {endpoint}: client credentials (client_secret_basic or client_secret_post) or a client assertion signed by Microsoft Entra ID (workload identity federation)."),
            "specUri": "https://www.rfc-editor.org/rfc/rfc6749",
            "documentationUri": endpoint,
            "primary": false
        }));
    }
    if let (Some(uri), Some(obj)) = (&facts.documentation_uri, doc.as_object_mut()) {
        obj.insert("documentationUri".into(), json!(uri));
    }
    // RFC 9967 §4: the SETs published, and whether `Prefer: respond-async` is honoured.
    if let (false, Some(obj)) = (facts.event_uris.is_empty(), doc.as_object_mut()) {
        obj.insert(
            "securityEvents".into(),
            json!({
                "asyncRequest": if facts.async_requests { "request" } else { "none" },
                "eventUris": facts.event_uris,
            }),
        );
    }
    doc
}

pub fn resource_type(rt: &ResourceTypeDef, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": rt.extensions.iter()
            .map(|(s, required)| json!({"schema": s.id, "required": required}))
            .collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.id)}
    })
}

/// Users, Groups, and the catalog's Entitlements and Roles (whose schemas are Okta's
/// `urn:okta:scim:schemas:core:1.0:Entitlement` and `...:Role`: Okta Identity Governance
/// discovers the catalog's endpoints from these documents).
pub fn resource_types(base_url: &str) -> Vec<Value> {
    ALL_RESOURCE_TYPES
        .iter()
        .map(|rt| resource_type(rt, base_url))
        .collect()
}

pub fn find_resource_type(id: &str, base_url: &str) -> Option<Value> {
    ALL_RESOURCE_TYPES
        .iter()
        .find(|rt| rt.id.eq_ignore_ascii_case(id))
        .map(|rt| resource_type(rt, base_url))
}

fn attribute(a: &AttrDef) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": a.uniqueness.as_str(),
    });
    if let Some(obj) = v.as_object_mut() {
        if !a.canonical_values.is_empty() {
            obj.insert("canonicalValues".into(), json!(a.canonical_values));
        }
        if !a.reference_types.is_empty() {
            obj.insert("referenceTypes".into(), json!(a.reference_types));
        }
        if !a.sub_attributes.is_empty() {
            obj.insert(
                "subAttributes".into(),
                Value::Array(a.sub_attributes.iter().map(attribute).collect()),
            );
        }
    }
    v
}

/// A schema's definition. The core schema of a resource type also lists the common
/// attribute `externalId`: RFC 7643 §3.1 leaves common attributes out of schema
/// definitions, but Entra's gallery validation (Schema_Discoverability) requires every
/// attribute its default mapping targets to appear, and no client is harmed by it.
pub fn schema(s: &SchemaDef, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let is_core = [ResourceKind::User, ResourceKind::Group]
        .iter()
        .any(|k| std::ptr::eq(k.def().schema, s));
    let common = find_attr(COMMON_ATTRS, "externalId").filter(|_| is_core);
    json!({
        "schemas": [SCHEMA_URN],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": common.into_iter().chain(s.attributes).map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}
    })
}

pub fn schemas(base_url: &str) -> Vec<Value> {
    ALL_SCHEMAS.iter().map(|s| schema(s, base_url)).collect()
}

pub fn find_schema(id: &str, base_url: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| schema(s, base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_document_comes_from_the_registry() {
        let all = schemas("https://x/scim/v2");
        assert_eq!(all.len(), ALL_SCHEMAS.len());
        let user = &all[0];
        let user_name = user["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "userName"));
        assert!(
            matches!(user_name, Some(u) if u["uniqueness"] == "server" && u["required"] == true)
        );
    }

    #[test]
    fn core_schemas_list_external_id_and_extensions_do_not() {
        let listed = |id: &str| {
            find_schema(id, "https://x").is_some_and(|s| {
                s["attributes"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["name"] == "externalId"))
            })
        };
        assert!(listed(crate::schema::USER_SCHEMA.id));
        assert!(listed(crate::schema::GROUP_SCHEMA.id));
        assert!(!listed(crate::schema::ENTERPRISE_SCHEMA.id));
        assert!(!listed(crate::schema::CONTACT_SCHEMA.id));
    }

    #[test]
    fn service_provider_config_advertises_limits() {
        let facts = ProviderFacts {
            base_url: "https://x/scim/v2".into(),
            change_password: false,
            documentation_uri: None,
            token_endpoint: None,
            event_uris: &[],
            async_requests: false,
        };
        let spc = service_provider_config(&facts);
        assert!(spc.get("securityEvents").is_none());
        assert_eq!(
            spc["authenticationSchemes"].as_array().map(Vec::len),
            Some(1)
        );
        let spc = service_provider_config(&ProviderFacts {
            token_endpoint: Some("https://x/oauth2/token".into()),
            event_uris: &["urn:ietf:params:scim:event:prov:delete"],
            ..facts.clone()
        });
        assert_eq!(
            spc["securityEvents"],
            json!({"asyncRequest": "none", "eventUris": ["urn:ietf:params:scim:event:prov:delete"]})
        );
        let offered = service_provider_config(&ProviderFacts {
            event_uris: &["urn:ietf:params:scim:event:misc:asyncresp"],
            async_requests: true,
            ..facts.clone()
        });
        assert_eq!(offered["securityEvents"]["asyncRequest"], "request");
        assert_eq!(spc["authenticationSchemes"][1]["type"], "oauth2");
        assert_eq!(
            spc["authenticationSchemes"][1]["documentationUri"],
            "https://x/oauth2/token"
        );
        assert_eq!(spc["filter"]["maxResults"], MAX_PAGE_SIZE);
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["bulk"]["supported"], true);
        assert_eq!(spc["bulk"]["maxOperations"], crate::bulk::MAX_OPERATIONS);
        assert_eq!(
            spc["bulk"]["maxPayloadSize"],
            crate::bulk::MAX_PAYLOAD_BYTES
        );
    }

    #[test]
    fn resource_types_list_extensions() {
        let user = find_resource_type("user", "https://x");
        assert!(
            matches!(user, Some(u) if u["schemaExtensions"].as_array().map(|a| a.len()) == Some(2))
        );
    }

    #[test]
    fn entitlements_and_roles_are_advertised_with_oktas_schemas() {
        let all = resource_types("https://x/scim/v2");
        let find = |id: &str| all.iter().find(|r| r["id"] == id).cloned();
        let e = find("Entitlement").unwrap_or_default();
        assert_eq!(e["endpoint"], "/Entitlements");
        assert_eq!(e["schema"], "urn:okta:scim:schemas:core:1.0:Entitlement");
        let r = find("Role").unwrap_or_default();
        assert_eq!(r["endpoint"], "/Roles");
        assert_eq!(r["schema"], "urn:okta:scim:schemas:core:1.0:Role");
        let schema =
            find_schema("urn:okta:scim:schemas:core:1.0:Role", "https://x").unwrap_or_default();
        let names: Vec<&str> = schema["attributes"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["displayName", "type", "description"]);
    }
}
