//! Request authentication as extractors: `OperatorAuth` (the operator's bearer token,
//! compared in constant time), `MarketplaceAuth` (the marketplace's bearer token, for
//! booking and cancelling), `AgentClaims` (the agent portal's HS256 JWT, `sub` = the
//! specialist's `userId`) and `Caller` (operator or agent, for the connect endpoints).
//!
//! Every check is a constant-time comparison or one HMAC: a wrong credential costs
//! microseconds and no database or body work, because extractors run before the body is
//! read (put them first among a handler's arguments).

use crate::error::ApiError;
use crate::state::{AppState, AuthKeys};
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::future::{ready, Ready};
use subtle::ConstantTimeEq;

/// Proof that the request carries the operator token.
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth;

/// Proof that the request carries the marketplace token.
#[derive(Debug, Clone, Copy)]
pub struct MarketplaceAuth;

/// A verified agent token.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentClaims {
    /// The specialist's `userId`.
    pub sub: String,
    pub exp: u64,
}

/// Who called an endpoint open to operators and to the agent concerned.
#[derive(Debug, Clone)]
pub enum Caller {
    Operator,
    Agent(AgentClaims),
}

fn keys(req: &HttpRequest) -> Result<&AuthKeys, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|s| s.auth.as_ref())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState is not registered")))
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Constant-time comparison; an unset secret never matches, not even an empty bearer.
fn matches_secret(expected: &secrecy::SecretString, token: &str) -> bool {
    let expected = expected.expose_secret().as_bytes();
    !expected.is_empty() && bool::from(expected.ct_eq(token.as_bytes()))
}

fn is_operator(keys: &AuthKeys, token: &str) -> bool {
    matches_secret(&keys.operator_token, token)
}

fn verify_jwt(keys: &AuthKeys, token: &str) -> Result<AgentClaims, ApiError> {
    jsonwebtoken::decode::<AgentClaims>(token, &keys.jwt_key, &keys.jwt_validation)
        .map(|data| data.claims)
        .map_err(|e| {
            tracing::debug!(error.message = %e, "agent token refused");
            ApiError::Unauthorized("invalid or expired agent token")
        })
}

impl OperatorAuth {
    fn check(req: &HttpRequest) -> Result<Self, ApiError> {
        let keys = keys(req)?;
        match bearer(req) {
            Some(token) if is_operator(keys, token) => Ok(OperatorAuth),
            _ => Err(ApiError::Unauthorized(
                "the operator token is missing or wrong",
            )),
        }
    }
}

impl MarketplaceAuth {
    fn check(req: &HttpRequest) -> Result<Self, ApiError> {
        let keys = keys(req)?;
        match bearer(req) {
            Some(token) if matches_secret(&keys.marketplace_token, token) => Ok(MarketplaceAuth),
            _ => Err(ApiError::Unauthorized(
                "the marketplace token is missing or wrong",
            )),
        }
    }
}

impl AgentClaims {
    fn from_header(req: &HttpRequest) -> Result<Self, ApiError> {
        let keys = keys(req)?;
        let token = bearer(req).ok_or(ApiError::Unauthorized("an agent token is required"))?;
        verify_jwt(keys, token)
    }

    /// The header, or else a `token` query parameter: lets a plain browser link open the
    /// schedule page. Only the page accepts it, so API tokens stay out of URLs and logs.
    pub fn from_header_or_query(req: &HttpRequest) -> Result<Self, ApiError> {
        if bearer(req).is_some() {
            return Self::from_header(req);
        }
        let keys = keys(req)?;
        let token = query_token(req).ok_or(ApiError::Unauthorized("an agent token is required"))?;
        verify_jwt(keys, &token)
    }
}

fn query_token(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

impl Caller {
    /// The operator token only in the header; an agent token also as a `token` query
    /// parameter, so the schedule page's "reconnect" link works from a browser.
    fn check(req: &HttpRequest) -> Result<Self, ApiError> {
        let keys = keys(req)?;
        match bearer(req) {
            Some(token) if is_operator(keys, token) => Ok(Caller::Operator),
            Some(token) => verify_jwt(keys, token).map(Caller::Agent),
            None => query_token(req)
                .ok_or(ApiError::Unauthorized(
                    "the operator token or an agent token is required",
                ))
                .and_then(|t| verify_jwt(keys, &t))
                .map(Caller::Agent),
        }
    }
}

impl FromRequest for OperatorAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::check(req))
    }
}

impl FromRequest for MarketplaceAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::check(req))
    }
}

impl FromRequest for AgentClaims {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_header(req))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::check(req))
    }
}

impl Caller {
    /// Operators act for anyone; an agent only for their own specialist record.
    pub fn ensure_acts_for(&self, specialist_user_id: &str) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Agent(claims) if claims.sub == specialist_user_id => Ok(()),
            Caller::Agent(_) => Err(ApiError::Forbidden(
                "an agent may only manage their own calendars",
            )),
        }
    }
}
