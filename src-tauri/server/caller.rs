//! Who is calling, decided in one place for every endpoint: [`Calling`] is an axum extractor
//! that reads the peer's address, every `X-Forwarded-For` line (believed only from a trusted
//! proxy) and the token presented; [`Calling::standing`] turns that into what the caller may do.
//!
//! The rules, in order: a local client (loopback, talking to us directly) may do everything,
//! unless `loopback_needs_token`; an address locked out for wrong tokens is refused without a
//! comparison; otherwise the token decides (full, read-only, wrong, none). A request forwarded
//! by a proxy is never local, whatever address it claims.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderName};

use super::connection::Standing;
use super::guard::{self, Access, ClientAddr, Presented};
use super::AppState;
use crate::api::{AddBudget, Caller};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Who sent a request, and the token it presented (if any).
#[derive(Debug, Clone)]
pub struct Calling {
    pub addr: ClientAddr,
    presented: Option<String>,
}

impl FromRequestParts<AppState> for Calling {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        // No connection info means no proof of locality: such a caller needs the token.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        // Every line of the header counts; a line that is not text is a hop that does not parse.
        let lines: Vec<&str> = parts
            .headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|line| line.to_str().unwrap_or(""))
            .collect();
        let addr = state.guard.client_addr(peer, lines.into_iter());
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let presented = guard::presented_token(authorization, parts.uri.query());
        Ok(Calling { addr, presented })
    }
}

impl Calling {
    /// The same caller presenting `token` instead (Transmission's Basic auth password).
    pub fn with_token(mut self, token: String) -> Calling {
        self.presented = Some(token);
        self
    }

    /// What this caller may do, or why it may not. Counts a wrong token against its address.
    pub fn standing(&self, state: &AppState) -> Standing {
        let local = self.addr.is_local();
        if local && !state.guard.loopback_needs_token {
            return Standing::Allowed(Caller::LOCAL);
        }
        let key = self.addr.key();
        if let Some(locked) = state.lockout.remaining(key) {
            return Standing::Refused(format!(
                "too many wrong tokens from {}: locked out for {} more seconds",
                locked.who,
                locked.left.as_secs().max(1)
            ));
        }
        let remote = |access| {
            Standing::Allowed(Caller {
                can_write: access == Access::Remote,
                can_admin: access == Access::Remote && state.guard.remote_admin,
                add_budget: Some(AddBudget {
                    limiter: state.adds.clone(),
                    client: key,
                }),
            })
        };
        match state.guard.check_token(self.presented.as_deref()) {
            Presented::Full => {
                state.lockout.succeed(key);
                if local {
                    Standing::Allowed(Caller::LOCAL)
                } else {
                    remote(Access::Remote)
                }
            }
            Presented::ReadOnly => {
                state.lockout.succeed(key);
                remote(Access::ReadOnly)
            }
            Presented::Wrong => Standing::Refused(match state.lockout.fail(key) {
                Some(locked) => format!(
                    "wrong token; too many wrong tokens from {}: locked out for {} seconds",
                    locked.who,
                    locked.left.as_secs()
                ),
                None => "wrong token".to_owned(),
            }),
            Presented::Nothing if local => Standing::Refused(
                "this server asks local clients for the API token too (loopback_needs_token): \
                 present it as Authorization: Bearer TOKEN, or ?token=TOKEN in the URL"
                    .to_owned(),
            ),
            Presented::Nothing => Standing::Refused(
                "clients from other machines must present the API token (Authorization: Bearer \
                 TOKEN, or ?token=TOKEN in the URL)"
                    .to_owned(),
            ),
        }
    }
}
