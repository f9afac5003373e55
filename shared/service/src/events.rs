//! The change-event contract: what every consumer of the tenant's event bus can rely on.
//!
//! Every write puts one audit record in its own transaction (see `port::Audit`); the
//! publisher turns each new audit record into one EventBridge event:
//!
//! - `Source`: [`EVENT_SOURCE`]
//! - `DetailType`: the event name, one of [`EVENT_NAMES`]
//! - `Detail`: [`ChangeEvent`] as JSON (camelCase). Never a token or a password.

use serde_json::{json, Value};

pub const EVENT_SOURCE: &str = "scim.provisioning";

/// Every event name the service emits.
pub const EVENT_NAMES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "user.restored",
    "user.expired",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.members.added",
    "group.members.removed",
    "group.members.changed",
];

/// The detail of a change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub event: String,
    pub tenant: String,
    /// `User` or `Group`.
    pub resource_type: String,
    pub id: String,
    pub external_id: Option<String>,
    /// Canonical names of the attributes that changed.
    pub changed_attributes: Vec<String>,
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
    pub request_id: String,
    /// The non-secret id of the token (or the job name) that made the change.
    pub actor: String,
    /// When the change was written (RFC 3339, UTC).
    pub at: String,
}

impl ChangeEvent {
    pub fn detail(&self) -> Value {
        json!({
            "event": self.event,
            "tenant": self.tenant,
            "resourceType": self.resource_type,
            "id": self.id,
            "externalId": self.external_id,
            "changedAttributes": self.changed_attributes,
            "membersAdded": self.members_added,
            "membersRemoved": self.members_removed,
            "requestId": self.request_id,
            "actor": self.actor,
            "at": self.at,
        })
    }
}
