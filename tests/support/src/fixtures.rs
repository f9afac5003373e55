//! Request bodies and Lambda events the suites share.

use scim_core::schema::{GROUP_SCHEMA_URN, PATCH_OP_URN, USER_SCHEMA_URN};
use serde_json::{json, Value};

/// A PATCH request with these operations.
pub fn patch_op(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": operations})
}

/// One PATCH adding these members, as Entra ID and Okta send it.
pub fn member_add(ids: &[String]) -> Value {
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    patch_op(json!([{"op": "Add", "path": "members", "value": value}]))
}

/// The smallest active user.
pub fn user(user_name: &str) -> Value {
    json!({"schemas": [USER_SCHEMA_URN], "userName": user_name, "active": true})
}

/// A group with these members.
pub fn group(display_name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": [GROUP_SCHEMA_URN], "displayName": display_name, "members": members})
}

/// A scheduled event exactly as an EventBridge schedule rule delivers it to
/// `expire-contacts`, fired at `time` (the sweep's now), with this event id.
pub fn scheduled_event(time: &str, id: &str) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/Scim-contoso-ExpireContactsSchedule"],
        "detail": {}
    })
}

/// The schema Entra ID names in a group it creates: not one the service publishes, and
/// accepted all the same.
pub const AD_GROUP_URN: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
