//! One function per route of the application API.

use super::{json, views, AppApi, Problem, APP_ACTOR};
use crate::http::ScimRequest;
use crate::oauth::clients::{self, ClientAuth, OAuthClient};
use crate::ops::{self, Context};
use crate::port::StoreError;
use crate::settings::{TokenAdmin, TokenAdminError};
use crate::signin::{self, SignInClaims};
use base64::Engine;
use scim_core::catalog;
use scim_core::list::Paging;
use scim_core::projection::Projection;
use scim_core::resource;
use scim_core::schema::{CatalogKind, ResourceKind, CONTACT_USER_URN, PATCH_OP_URN};
use serde_json::{json, Value};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The longest query parameter (claim, cursor) accepted; longer ones cannot name anything
/// stored. Path ids are bounded before dispatch (`scim_core::limits`).
const MAX_PARAM_LEN: usize = 1024;
const DEFAULT_LIMIT: usize = 100;
/// A members page is read with one batched read of its users (at most 100 keys).
const MAX_MEMBERS_LIMIT: usize = 100;
const MAX_LIMIT: usize = 200;
/// The largest catalog body (1,000 values of about 1 KiB at most).
const MAX_CATALOG_BODY: usize = 1024 * 1024;

fn catalog_view(kind: CatalogKind, entries: &[catalog::CatalogEntry]) -> Value {
    json!({ kind.plural(): entries.iter().map(catalog::CatalogEntry::to_json).collect::<Vec<_>>() })
}

pub(super) struct Call<'a, S, T> {
    pub api: &'a AppApi<S, T>,
    pub req: &'a ScimRequest,
    pub now: OffsetDateTime,
    pub params: Vec<(String, String)>,
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::NotFound => Problem::not_found("No such resource."),
        StoreError::InvalidCursor => {
            Problem::bad_request("The cursor is not valid for this request.")
        }
        StoreError::Busy => Problem::unavailable(),
        StoreError::Throttled => Problem::new(429, "Too many requests; retry later."),
        StoreError::SortTooBroad { limit } | StoreError::FilterTooBroad { limit } => {
            Problem::bad_request(format!(
                "The query would examine more than {limit} items; narrow it."
            ))
        }
        StoreError::Unavailable(e) => {
            tracing::warn!(error = %e, "store unavailable in the application API");
            Problem::unavailable()
        }
        other => {
            tracing::error!(error = %other, "store failure in the application API");
            Problem::internal()
        }
    }
}

fn token_problem(e: TokenAdminError) -> Problem {
    tracing::error!(error = %e, "token store failure in the application API");
    Problem::unavailable()
}

impl<S, T> Call<'_, S, T>
where
    S: super::AppStore,
    T: TokenAdmin,
{
    fn tenant(&self) -> &str {
        &self.api.config.tenant
    }

    /// The Tenant URL the admin pastes into Entra ID or Okta.
    fn tenant_url(&self) -> String {
        self.api.config.tenant_url.trim_end_matches('/').to_string()
    }

    /// The OAuth token endpoint the admin pastes into Entra beside the Tenant URL.
    fn token_endpoint(&self) -> String {
        self.api
            .config
            .token_endpoint
            .clone()
            .unwrap_or_else(|| crate::oauth::token_endpoint_for(&self.tenant_url()))
    }

    fn now_string(&self) -> String {
        ops::now_string(self.now)
    }

    fn param(&self, name: &str) -> Result<Option<&str>, Problem> {
        let mut found = self.params.iter().filter(|(k, _)| k == name);
        let value = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(Problem::bad_request(format!(
                "The query parameter '{name}' is given more than once."
            )));
        }
        match value {
            Some(v) if v.len() > MAX_PARAM_LEN => Err(Problem::bad_request(format!(
                "The query parameter '{name}' is longer than {MAX_PARAM_LEN} characters."
            ))),
            Some(v) if v.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    }

    fn limit(&self, max: usize) -> Result<usize, Problem> {
        match self.param("limit")? {
            None => Ok(DEFAULT_LIMIT.min(max)),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(Problem::bad_request(format!(
                    "'limit' must be a whole number from 1 to {max}."
                ))),
            },
        }
    }

    /// The body as a JSON object (`application/json`, or `application/merge-patch+json`).
    fn body(&self) -> Result<serde_json::Map<String, Value>, Problem> {
        self.body_within(64 * 1024)
    }

    /// The body as a JSON object, at most `max` bytes.
    fn body_within(&self, max: usize) -> Result<serde_json::Map<String, Value>, Problem> {
        let ct = self
            .req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !(media == "application/json" || media.ends_with("+json")) {
            return Err(Problem::new(
                415,
                "Send the body as JSON (Content-Type: application/json).",
            ));
        }
        if self.req.body.len() > max {
            return Err(Problem::new(
                413,
                format!("The body is larger than {} KiB.", max / 1024),
            ));
        }
        match serde_json::from_slice::<Value>(&self.req.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(Problem::bad_request("The body must be a JSON object.")),
            Err(_) => Err(Problem::bad_request("The body is not valid JSON.")),
        }
    }

    fn context(&self) -> Context {
        Context {
            tenant: self.tenant().to_string(),
            base_url: self.tenant_url(),
            token_id: APP_ACTOR.to_string(),
            request_id: crate::http::request_id(self.req),
            now: self.now,
            replay: None,
        }
    }

    // ------------------------------------------------------------------ settings and tokens

    async fn settings_view(&self) -> Result<Value, Problem> {
        let store = &self.api.store;
        let (settings, counts, tokens) = futures::join!(
            store.settings(self.tenant()),
            store.counts(self.tenant()),
            self.api.tokens.tokens(self.tenant()),
        );
        Ok(views::settings(
            &self.tenant_url(),
            Some(&self.token_endpoint()),
            &settings.map_err(store_problem)?,
            &tokens.map_err(token_problem)?,
            counts.map_err(store_problem)?,
        ))
    }

    pub async fn settings(&self) -> Result<crate::http::ScimResponse, Problem> {
        Ok(json(200, &self.settings_view().await?))
    }

    pub async fn set_settings(&self) -> Result<crate::http::ScimResponse, Problem> {
        let body = self.body()?;
        if let Some(k) = body.keys().find(|k| *k != "provisioningEnabled") {
            return Err(Problem::bad_request(format!(
                "'{}' cannot be changed here; only 'provisioningEnabled'.",
                scim_core::path::truncate(k, 64)
            )));
        }
        let enabled = match body.get("provisioningEnabled") {
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(Problem::unprocessable(
                    "'provisioningEnabled' must be true or false.",
                ))
            }
            None => {
                return Err(Problem::bad_request(
                    "Send {\"provisioningEnabled\": true|false}.",
                ))
            }
        };
        self.api
            .store
            .set_provisioning_enabled(self.tenant(), enabled, &self.now_string())
            .await
            .map_err(store_problem)?;
        self.api.gate.set(self.tenant(), enabled);
        Ok(json(200, &self.settings_view().await?))
    }

    pub async fn generate_token(&self) -> Result<crate::http::ScimResponse, Problem> {
        let new = self
            .api
            .tokens
            .generate(self.tenant())
            .await
            .map_err(token_problem)?;
        Ok(json(
            201,
            &json!({"id": new.id, "token": new.token, "created": new.created}),
        ))
    }

    pub async fn retire_previous(&self) -> Result<crate::http::ScimResponse, Problem> {
        match self
            .api
            .tokens
            .retire_previous(self.tenant())
            .await
            .map_err(token_problem)?
        {
            Some(_) => Ok(super::response(204, super::JSON, bytes::Bytes::new())),
            None => Err(Problem::not_found("There is no previous token to retire.")),
        }
    }

    // ------------------------------------------------------------------ catalog

    /// `GET /app/v1/entitlements`, `GET /app/v1/roles`: the values Okta reads from
    /// `/Entitlements` and `/Roles`, in id order.
    pub async fn catalog(&self, kind: CatalogKind) -> Result<crate::http::ScimResponse, Problem> {
        let mut entries = self
            .api
            .store
            .catalog(self.tenant(), kind)
            .await
            .map_err(store_problem)?;
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(json(200, &catalog_view(kind, &entries)))
    }

    /// `PUT /app/v1/entitlements`, `PUT /app/v1/roles`: replaces the whole kind with
    /// `{"<entitlements|roles>": [{"id", "displayName", "type"?, "description"?}]}` (at
    /// most `scim_core::catalog::MAX_CATALOG_ENTRIES`; an empty list removes the catalog,
    /// and with it the check of users' assignments). Idempotent: a retry converges.
    pub async fn set_catalog(
        &self,
        kind: CatalogKind,
    ) -> Result<crate::http::ScimResponse, Problem> {
        let body = self.body_within(MAX_CATALOG_BODY)?;
        if let Some(k) = body.keys().find(|k| *k != kind.plural()) {
            return Err(Problem::bad_request(format!(
                "'{}' is not part of this body; send {{\"{}\": [...]}}.",
                scim_core::path::truncate(k, 64),
                kind.plural()
            )));
        }
        let Some(list) = body.get(kind.plural()) else {
            return Err(Problem::bad_request(format!(
                "Send {{\"{}\": [{{\"id\", \"displayName\", \"type\", \"description\"}}]}}.",
                kind.plural()
            )));
        };
        let mut entries = catalog::parse_entries(kind, list).map_err(Problem::from)?;
        self.api
            .store
            .replace_catalog(self.tenant(), kind, &entries)
            .await
            .map_err(store_problem)?;
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(json(200, &catalog_view(kind, &entries)))
    }

    // ------------------------------------------------------------------ OAuth clients

    fn client_view(&self, c: &OAuthClient, last_used: Option<&str>) -> Value {
        let time = |t: OffsetDateTime| ops::now_string(t);
        let mut v = json!({
            "clientId": c.id,
            "type": c.kind(),
            "name": c.name,
            "created": time(c.created),
            "expires": c.expires.map(time),
            "expired": c.expired(self.now),
            "lastUsed": last_used,
        });
        if let ClientAuth::Federated(t) = &c.auth {
            v["entraTenantId"] = json!(t.entra_tenant);
            v["subject"] = json!(t.subject);
            v["audience"] = json!(t.audience);
            v["issuer"] = json!(format!(
                "{}/{}/v2.0",
                crate::oauth::federation::ENTRA_ISSUER_HOST,
                t.entra_tenant
            ));
        }
        v
    }

    pub async fn clients(&self) -> Result<crate::http::ScimResponse, Problem> {
        let (list, settings) = futures::join!(
            self.api.store.clients(self.tenant()),
            self.api.store.settings(self.tenant())
        );
        let (list, settings) = (
            list.map_err(store_problem)?,
            settings.map_err(store_problem)?,
        );
        let items: Vec<Value> = list
            .iter()
            .map(|c| {
                let used = settings.token_usage.get(&c.id).map(|u| u.at.as_str());
                self.client_view(c, used)
            })
            .collect();
        Ok(json(
            200,
            &json!({"tokenEndpoint": self.token_endpoint(), "clients": items}),
        ))
    }

    pub async fn create_client(&self) -> Result<crate::http::ScimResponse, Problem> {
        const KEYS: [&str; 6] = [
            "type",
            "name",
            "expiresInDays",
            "entraTenantId",
            "subject",
            "audience",
        ];
        let body = self.body()?;
        if let Some(k) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Problem::bad_request(format!(
                "'{}' is not a client property; send {}.",
                scim_core::path::truncate(k, 64),
                KEYS.join(", ")
            )));
        }
        let text = |k: &str| -> Result<Option<&str>, Problem> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(Problem::unprocessable(format!("'{k}' must be a string."))),
            }
        };
        let kind = text("type")?.unwrap_or("secret");
        let name = text("name")?;
        let existing = self
            .api
            .store
            .clients(self.tenant())
            .await
            .map_err(store_problem)?;
        if existing.len() >= clients::MAX_CLIENTS {
            return Err(Problem::new(
                409,
                format!(
                    "This tenant already has {} OAuth clients; revoke one first.",
                    clients::MAX_CLIENTS
                ),
            ));
        }
        let invalid = |e: clients::ClientError| Problem::unprocessable(e.0);
        let (client, secret) = match kind {
            "secret" => {
                for k in ["entraTenantId", "subject", "audience"] {
                    if body.contains_key(k) {
                        return Err(Problem::unprocessable(format!(
                            "'{k}' is for federated clients only."
                        )));
                    }
                }
                let days = match body.get("expiresInDays") {
                    None | Some(Value::Null) => clients::DEFAULT_SECRET_DAYS,
                    Some(v) => v
                        .as_u64()
                        .and_then(|d| u32::try_from(d).ok())
                        .ok_or_else(|| {
                            Problem::unprocessable(format!(
                                "'expiresInDays' must be a whole number from 1 to {}.",
                                clients::MAX_SECRET_DAYS
                            ))
                        })?,
                };
                let made = clients::new_secret_client(name, days, self.now).map_err(invalid)?;
                (made.client, Some(made.secret))
            }
            "federated" => {
                if body.contains_key("expiresInDays") {
                    return Err(Problem::unprocessable(
                        "'expiresInDays' is for secret clients only; a federation trust does not expire.",
                    ));
                }
                let need = |k: &str| -> Result<&str, Problem> {
                    text(k)?.ok_or_else(|| {
                        Problem::unprocessable(format!("A federated client needs '{k}'."))
                    })
                };
                let client = clients::new_federated_client(
                    name,
                    need("entraTenantId")?,
                    need("subject")?,
                    need("audience")?,
                    self.now,
                )
                .map_err(invalid)?;
                (client, None)
            }
            _ => {
                return Err(Problem::unprocessable(
                    "'type' must be \"secret\" (client credentials) or \"federated\" (workload identity federation).",
                ))
            }
        };
        self.api
            .store
            .put_client(self.tenant(), &client)
            .await
            .map_err(store_problem)?;
        let mut view = self.client_view(&client, None);
        view["tokenEndpoint"] = json!(self.token_endpoint());
        if let Some(secret) = secret {
            view["clientSecret"] = json!(secret);
        }
        Ok(json(201, &view))
    }

    pub async fn revoke_client(&self, id: &str) -> Result<crate::http::ScimResponse, Problem> {
        let gone = || Problem::not_found("There is no such OAuth client.");
        if !clients::valid_client_id(id) {
            return Err(gone());
        }
        let revoked = self
            .api
            .store
            .revoke_client(self.tenant(), id, self.now)
            .await
            .map_err(store_problem)?;
        if !revoked {
            return Err(gone());
        }
        self.api.gate.revoke(self.tenant(), id);
        Ok(super::response(204, super::JSON, bytes::Bytes::new()))
    }

    // ------------------------------------------------------------------ people and groups

    pub async fn sign_in(&self) -> Result<crate::http::ScimResponse, Problem> {
        let claims = SignInClaims {
            oid: self.param("oid")?.map(str::to_string),
            upn: self.param("upn")?.map(str::to_string),
            email: self.param("email")?.map(str::to_string),
        };
        if claims.oid.is_none() && claims.upn.is_none() && claims.email.is_none() {
            return Err(Problem::bad_request(
                "Give at least one of 'oid', 'upn' and 'email' (the ID token's claims).",
            ));
        }
        let now = self.now;
        let found = signin::lookup(&self.api.store, self.tenant(), &claims, now)
            .await
            .map_err(store_problem)?
            .ok_or_else(|| Problem::not_found("No provisioned user matches these claims."))?;
        let mut body = views::user_summary(&found.user, &found.groups, now);
        if let Some(o) = body.as_object_mut() {
            o.insert("matchedBy".into(), json!(found.matched_by));
        }
        Ok(json(200, &body))
    }

    async fn summary(&self, id: &str) -> Result<Value, Problem> {
        let (user, groups) = self
            .api
            .store
            .user_with_groups(self.tenant(), id)
            .await
            .map_err(store_problem)?
            .ok_or_else(|| Problem::not_found("The user does not exist."))?;
        Ok(views::user_summary(&user, &groups, self.now))
    }

    pub async fn user(&self, id: &str) -> Result<crate::http::ScimResponse, Problem> {
        Ok(json(200, &self.summary(id).await?))
    }

    pub async fn groups(&self) -> Result<crate::http::ScimResponse, Problem> {
        let limit = self.limit(MAX_LIMIT)?;
        let paging = Paging::Cursor(self.param("cursor")?.map(str::to_string));
        let page = self
            .api
            .store
            .list(
                self.tenant(),
                ResourceKind::Group,
                &crate::port::ListRequest {
                    filter: None,
                    paging: &paging,
                    count: limit as u64,
                    sort: None,
                    now: self.now,
                },
            )
            .await
            .map_err(store_problem)?;
        Ok(json(
            200,
            &json!({
                "groups": page.items.iter().map(views::group).collect::<Vec<_>>(),
                "nextCursor": page.next_cursor,
            }),
        ))
    }

    pub async fn members(&self, group: &str) -> Result<crate::http::ScimResponse, Problem> {
        let limit = self.limit(MAX_MEMBERS_LIMIT)?;
        let after = match self.param("cursor")? {
            Some(c) => Some(decode_cursor(group, c)?),
            None => None,
        };
        let store = &self.api.store;
        store
            .get(self.tenant(), ResourceKind::Group, group)
            .await
            .map_err(store_problem)?
            .ok_or_else(|| Problem::not_found("The group does not exist."))?;
        let page = store
            .member_page(self.tenant(), group, after.as_deref(), limit)
            .await
            .map_err(store_problem)?;
        let user_ids: Vec<String> = page
            .members
            .iter()
            .filter(|m| m.type_.as_deref() != Some("Group"))
            .map(|m| m.value.clone())
            .collect();
        let users: HashMap<String, crate::port::Stored> = if user_ids.is_empty() {
            HashMap::new()
        } else {
            store
                .users(self.tenant(), &user_ids)
                .await
                .map_err(store_problem)?
                .into_iter()
                .map(|u| (u.id.clone(), u))
                .collect()
        };
        let members: Vec<Value> = page
            .members
            .iter()
            .map(|m| views::member(m, users.get(&m.value), self.now))
            .collect();
        Ok(json(
            200,
            &json!({
                "members": members,
                "nextCursor": page.next_after.map(|a| encode_cursor(group, &a)),
            }),
        ))
    }

    // ------------------------------------------------------------------ closing contacts

    /// The end date through the same write path as an identity provider's PATCH: audit
    /// record, change event, expiry index, and the Entra guest cleanup once it passes.
    async fn patch_end_date(
        &self,
        id: &str,
        op: Value,
    ) -> Result<crate::http::ScimResponse, Problem> {
        let body = json!({"schemas": [PATCH_OP_URN], "Operations": [op]});
        let projection = Projection::parse(ResourceKind::User, None, None)?;
        let write = ops::ItemWrite {
            kind: ResourceKind::User,
            id,
            body: &body,
            if_match: None,
            projection: &projection,
        };
        ops::patch(&self.api.store, &self.context(), &write, false).await?;
        Ok(json(200, &self.summary(id).await?))
    }

    pub async fn set_end_date(&self, id: &str) -> Result<crate::http::ScimResponse, Problem> {
        let body = self.body()?;
        if let Some(k) = body.keys().find(|k| *k != "endDate") {
            return Err(Problem::bad_request(format!(
                "Unknown member '{}'; send {{\"endDate\": \"2026-12-31T17:00:00Z\"}}.",
                scim_core::path::truncate(k, 64)
            )));
        }
        let date = match body.get("endDate") {
            Some(Value::String(s)) if resource::parse_datetime(s).is_some() => s.clone(),
            Some(_) => {
                return Err(Problem::unprocessable(
                    "'endDate' must be an RFC 3339 date-time such as 2026-12-31T17:00:00Z.",
                ))
            }
            None => {
                return Err(Problem::bad_request(
                    "Send {\"endDate\": \"2026-12-31T17:00:00Z\"}.",
                ))
            }
        };
        self.patch_end_date(
            id,
            json!({"op": "replace", "path": format!("{CONTACT_USER_URN}:endDate"), "value": date}),
        )
        .await
    }

    pub async fn clear_end_date(&self, id: &str) -> Result<crate::http::ScimResponse, Problem> {
        self.patch_end_date(
            id,
            json!({"op": "remove", "path": format!("{CONTACT_USER_URN}:endDate")}),
        )
        .await
    }

    // ------------------------------------------------------------------ activity

    pub async fn activity(&self) -> Result<crate::http::ScimResponse, Problem> {
        let limit = self.limit(MAX_LIMIT)?;
        let resource_id = self.param("resourceId")?;
        let cursor = self.param("cursor")?;
        let page = self
            .api
            .store
            .activity(self.tenant(), resource_id, cursor, limit)
            .await
            .map_err(store_problem)?;
        Ok(json(
            200,
            &json!({
                "activity": page.records.iter().map(views::activity).collect::<Vec<_>>(),
                "nextCursor": page.next_cursor,
            }),
        ))
    }
}

impl<S, T> Call<'_, S, T>
where
    S: super::AppStore,
    T: TokenAdmin,
{
    /// Active contacts whose end date falls within `days` (default 30, at most 366) from
    /// now, earliest first — including those whose date has just passed and that the expiry
    /// job has not swept yet. Read from the sparse expiry index, never the tenant's users.
    pub async fn expiring(&self) -> Result<crate::http::ScimResponse, Problem> {
        let limit = self.limit(MAX_MEMBERS_LIMIT)?;
        let days = match self.param("days")? {
            None => 30,
            Some(v) => match v.parse::<i64>() {
                Ok(d) if (1..=366).contains(&d) => d,
                _ => {
                    return Err(Problem::bad_request(
                        "'days' must be a whole number from 1 to 366.",
                    ))
                }
            },
        };
        let start = match self.param("cursor")? {
            Some(c) => Some(decode_cursor("expiring", c)?),
            None => None,
        };
        let until = self.now + time::Duration::days(days);
        let page = self
            .api
            .store
            .due_contacts(self.tenant(), until, limit, start.as_deref())
            .await
            .map_err(store_problem)?;
        let mut users = if page.ids.is_empty() {
            Vec::new()
        } else {
            self.api
                .store
                .users(self.tenant(), &page.ids)
                .await
                .map_err(store_problem)?
        };
        users.sort_by(|a, b| {
            resource::end_date(&a.doc)
                .cmp(&resource::end_date(&b.doc))
                .then(a.id.cmp(&b.id))
        });
        Ok(json(
            200,
            &json!({
                "contacts": users.iter().map(|u| views::user_summary(u, &[], self.now)).collect::<Vec<_>>(),
                "nextCursor": page.next.map(|n| encode_cursor("expiring", &n)),
            }),
        ))
    }
}

/// A members cursor: the last member id of the page, bound to its group.
fn encode_cursor(group: &str, after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{group}\n{after}"))
}

fn decode_cursor(group: &str, cursor: &str) -> Result<String, Problem> {
    let bad = || Problem::bad_request("The cursor is not valid for this group.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    match text.split_once('\n') {
        Some((g, after)) if g == group && !after.is_empty() => Ok(after.to_string()),
        _ => Err(bad()),
    }
}
