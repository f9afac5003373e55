//! The local server's bearer tokens: a current and a previous token for its one tenant,
//! made and retired through the application API as Secrets Manager's are in a stack, and
//! kept in `<dir>/token` and `<dir>/token.previous` (or only in memory). Checked like every
//! token: digests, compared in constant time ([`TokenSet`]).

use scim_core::resource::format_datetime;
use scim_service::auth::{bearer_token, token_id, AuthError, Authenticator, Principal, TokenSet};
use scim_service::settings::{NewToken, TokenAdmin, TokenAdminError, TokenInfo, TokenStage};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

#[derive(Clone)]
struct Slot {
    token: String,
    created: String,
}

struct State {
    current: Slot,
    previous: Option<Slot>,
    accepted: TokenSet,
}

/// The tokens of the local server's tenant, plus fixed tokens of other tenants (tests).
#[derive(Clone)]
pub struct LocalTokens {
    tenant: String,
    dir: Option<PathBuf>,
    fixed: Vec<(String, String)>,
    state: Arc<RwLock<State>>,
}

fn now() -> String {
    format_datetime(OffsetDateTime::now_utc())
}

impl LocalTokens {
    /// Starts with `current` (and the previous token kept in `dir`, if any).
    pub fn new(tenant: &str, current: &str, dir: Option<PathBuf>) -> LocalTokens {
        let previous = dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("token.previous")).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty() && t != current)
            .map(|token| Slot {
                token,
                created: now(),
            });
        let state = State {
            current: Slot {
                token: current.to_string(),
                created: now(),
            },
            previous,
            accepted: TokenSet::new(),
        };
        let tokens = LocalTokens {
            tenant: tenant.to_string(),
            dir,
            fixed: Vec::new(),
            state: Arc::new(RwLock::new(state)),
        };
        tokens.rebuild();
        tokens
    }

    /// Also accepts `token` for `tenant` (another tenant's token, for isolation tests).
    pub fn with_fixed(mut self, token: &str, tenant: &str) -> LocalTokens {
        self.fixed.push((token.to_string(), tenant.to_string()));
        self.rebuild();
        self
    }

    fn rebuild(&self) {
        if let Ok(mut s) = self.state.write() {
            s.accepted = self.accepted(&s.current, s.previous.as_ref());
        }
    }

    fn accepted(&self, current: &Slot, previous: Option<&Slot>) -> TokenSet {
        let mut set = TokenSet::new().with(&current.token, &self.tenant);
        if let Some(p) = previous {
            set.add(&p.token, &self.tenant);
        }
        for (token, tenant) in &self.fixed {
            set.add(token, tenant);
        }
        set
    }

    fn persist(&self, current: &str, previous: Option<&str>) -> Result<(), TokenAdminError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let io = |e: std::io::Error| TokenAdminError(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        match previous {
            Some(p) => std::fs::write(dir.join("token.previous"), p).map_err(io)?,
            None => match std::fs::remove_file(dir.join("token.previous")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            },
        }
        std::fs::write(dir.join("token"), current).map_err(io)
    }

    fn check_tenant(&self, tenant: &str) -> Result<(), TokenAdminError> {
        if tenant == self.tenant {
            Ok(())
        } else {
            Err(TokenAdminError(format!(
                "this server holds the tokens of tenant {}, not {tenant}",
                self.tenant
            )))
        }
    }
}

impl Authenticator for LocalTokens {
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        let state = self.state.read().map_err(|_| AuthError::Unavailable)?;
        state.accepted.check(token)
    }
}

impl TokenAdmin for LocalTokens {
    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenInfo>, TokenAdminError> {
        self.check_tenant(tenant)?;
        let s = self
            .state
            .read()
            .map_err(|_| TokenAdminError("token state poisoned".into()))?;
        let mut out = vec![TokenInfo {
            id: token_id(&s.current.token),
            created: Some(s.current.created.clone()),
            stage: TokenStage::Current,
        }];
        if let Some(p) = &s.previous {
            out.push(TokenInfo {
                id: token_id(&p.token),
                created: Some(p.created.clone()),
                stage: TokenStage::Previous,
            });
        }
        Ok(out)
    }

    async fn generate(&self, tenant: &str) -> Result<NewToken, TokenAdminError> {
        self.check_tenant(tenant)?;
        let token = scim_service::auth::generate_token().map_err(TokenAdminError)?;
        let created = now();
        // One write lock for the whole swap: two generates at once both end up rotated,
        // neither loses the other's token.
        let mut s = self
            .state
            .write()
            .map_err(|_| TokenAdminError("token state poisoned".into()))?;
        self.persist(&token, Some(&s.current.token))?;
        let new = Slot {
            token: token.clone(),
            created: created.clone(),
        };
        let old = std::mem::replace(&mut s.current, new);
        s.previous = Some(old);
        s.accepted = self.accepted(&s.current, s.previous.as_ref());
        Ok(NewToken {
            id: token_id(&token),
            token,
            created,
        })
    }

    async fn retire_previous(&self, tenant: &str) -> Result<Option<TokenInfo>, TokenAdminError> {
        self.check_tenant(tenant)?;
        let mut s = self
            .state
            .write()
            .map_err(|_| TokenAdminError("token state poisoned".into()))?;
        let Some(previous) = s.previous.clone() else {
            return Ok(None);
        };
        self.persist(&s.current.token, None)?;
        s.previous = None;
        s.accepted = self.accepted(&s.current, None);
        Ok(Some(TokenInfo {
            id: token_id(&previous.token),
            created: Some(previous.created),
            stage: TokenStage::Previous,
        }))
    }
}
