//! Who is calling over HTTP: API keys (configured as SHA-256 hashes, compared in constant
//! time) and JWT bearer tokens (issuer, audience, expiry, signature by a JWKS key; claims to
//! principal and roles). Tokens are never logged, stored or forwarded from here. A refusal
//! tells the client one of a fixed set of reasons ([`Invalid`]), never a library's error text.

use std::sync::Arc;

use http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::{AuthConfig, JwtConfig};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: String,
    pub roles: Vec<String>,
    /// `api_key` or `jwt`.
    pub method: &'static str,
}

/// Why a request was not authenticated (the reason goes to the client, never the token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("invalid token: {}", .0.message())]
    Invalid(Invalid),
}

/// Why a presented token was refused: each reason has one fixed message (docs/serve.md
/// lists them). What a library said goes to the log at debug level, never to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    UnknownApiKey,
    Malformed,
    UnknownSigningKey,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    BadSignature,
    NoPrincipal,
    /// Anything else the JWT check refused (an algorithm the key does not fit, a claim of
    /// the wrong type, a key set that could not be fetched again).
    Rejected,
}

impl Invalid {
    /// The text the 401 carries (in its body and in `WWW-Authenticate`).
    pub fn message(self) -> &'static str {
        match self {
            Invalid::UnknownApiKey => "unknown API key",
            Invalid::Malformed => "malformed JWT",
            Invalid::UnknownSigningKey => "unknown signing key",
            Invalid::Expired => "token expired",
            Invalid::NotYetValid => "token not yet valid",
            Invalid::WrongAudience => "wrong audience",
            Invalid::WrongIssuer => "wrong issuer",
            Invalid::BadSignature => "bad signature",
            Invalid::NoPrincipal => "no principal claim",
            Invalid::Rejected => "token rejected",
        }
    }
}

/// Logs what a library said about a refused token (never the token) and refuses it.
fn refused(reason: Invalid, detail: &dyn std::fmt::Display) -> AuthError {
    tracing::debug!(reason = reason.message(), "token refused: {detail}");
    AuthError::Invalid(reason)
}

struct Key {
    hash: [u8; 32],
    principal: String,
    roles: Vec<String>,
}

/// Checks credentials against the configuration.
pub struct Authenticator {
    keys: Vec<Key>,
    jwt: Option<(JwtConfig, parking_lot::RwLock<Arc<JwkSet>>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("auth.jwt.jwks_file {path}: {msg}")]
    JwksFile { path: String, msg: String },
    #[error("auth.jwt.jwks_url {url}: {msg}")]
    JwksUrl { url: String, msg: String },
}

impl Authenticator {
    /// Loads keys; a JWKS URL is fetched now (and again when a token names an unknown key).
    pub async fn new(cfg: &AuthConfig) -> Result<Authenticator, SetupError> {
        let keys = cfg
            .api_keys
            .iter()
            .filter_map(|k| {
                let mut hash = [0u8; 32];
                decode_hex(&k.key_sha256, &mut hash).then(|| Key {
                    hash,
                    principal: k.principal.clone(),
                    roles: k.roles.clone(),
                })
            })
            .collect();
        let jwt = match &cfg.jwt {
            None => None,
            Some(j) => {
                let set = load_jwks(j).await?;
                Some((j.clone(), parking_lot::RwLock::new(Arc::new(set))))
            }
        };
        Ok(Authenticator { keys, jwt })
    }

    pub fn enabled(&self) -> bool {
        !self.keys.is_empty() || self.jwt.is_some()
    }

    /// The caller of a request: `Ok(None)` when no authentication is configured.
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Option<Identity>, AuthError> {
        if !self.enabled() {
            return Ok(None);
        }
        let token = bearer(headers)
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .ok_or(AuthError::Missing)?;
        if !self.keys.is_empty() {
            let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            // Every key is compared, so the time taken says nothing about which one matched.
            let mut found = None;
            for k in &self.keys {
                if bool::from(k.hash.ct_eq(&hash)) {
                    found = Some(k);
                }
            }
            if let Some(k) = found {
                return Ok(Some(Identity {
                    principal: k.principal.clone(),
                    roles: k.roles.clone(),
                    method: "api_key",
                }));
            }
        }
        match &self.jwt {
            Some(_) if token.split('.').count() == 3 => self.check_jwt(token).await.map(Some),
            _ => Err(AuthError::Invalid(Invalid::UnknownApiKey)),
        }
    }

    async fn check_jwt(&self, token: &str) -> Result<Identity, AuthError> {
        let Some((cfg, set)) = &self.jwt else {
            return Err(AuthError::Invalid(Invalid::Rejected));
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| refused(Invalid::Malformed, &e))?;
        let find = |set: &JwkSet| -> Option<jsonwebtoken::jwk::Jwk> {
            match &header.kid {
                Some(kid) => set.find(kid).cloned(),
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        };
        let current = set.read().clone();
        let jwk = match find(&current) {
            Some(k) => k,
            // A key rotated at the identity provider: fetch the set again (URL only).
            None if cfg.jwks_url.is_some() => {
                let fresh = Arc::new(load_jwks(cfg).await.map_err(|e| {
                    tracing::warn!("refreshing the JWT signing keys failed: {e}");
                    AuthError::Invalid(Invalid::Rejected)
                })?);
                *set.write() = fresh.clone();
                find(&fresh).ok_or(AuthError::Invalid(Invalid::UnknownSigningKey))?
            }
            None => return Err(AuthError::Invalid(Invalid::UnknownSigningKey)),
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| refused(Invalid::Rejected, &e))?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&cfg.issuer]);
        v.set_audience(&[&cfg.audience]);
        v.leeway = cfg.leeway_secs;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let reason = match e.kind() {
                K::ExpiredSignature => Invalid::Expired,
                K::InvalidAudience => Invalid::WrongAudience,
                K::InvalidIssuer => Invalid::WrongIssuer,
                K::InvalidSignature => Invalid::BadSignature,
                K::ImmatureSignature => Invalid::NotYetValid,
                K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => Invalid::Malformed,
                _ => Invalid::Rejected,
            };
            refused(reason, &e)
        })?;
        let claims = data.claims;
        let principal = claims
            .get(&cfg.principal_claim)
            .and_then(serde_json::Value::as_str)
            .filter(|p| !p.is_empty())
            .ok_or(AuthError::Invalid(Invalid::NoPrincipal))?
            .to_owned();
        let roles = match claims.get(&cfg.roles_claim) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Identity {
            principal,
            roles,
            method: "jwt",
        })
    }
}

/// The token of an `Authorization: Bearer` header (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    std::str::from_utf8(warden_core::token::bearer_token(v)?).ok()
}

async fn load_jwks(cfg: &JwtConfig) -> Result<JwkSet, SetupError> {
    if let Some(path) = &cfg.jwks_file {
        let err = |msg: String| SetupError::JwksFile {
            path: path.display().to_string(),
            msg,
        };
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| err(e.to_string()))?;
        return serde_json::from_str(&text).map_err(|e| err(format!("not a JWK set: {e}")));
    }
    let url = cfg.jwks_url.clone().unwrap_or_default();
    let err = |msg: String| SetupError::JwksUrl {
        url: url.clone(),
        msg,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    let body = resp.bytes().await.map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| err(format!("not a JWK set: {e}")))
}

fn decode_hex(s: &str, out: &mut [u8; 32]) -> bool {
    if s.len() != 64 {
        return false;
    }
    for (i, o) in out.iter_mut().enumerate() {
        match u8::from_str_radix(&s[2 * i..2 * i + 2], 16) {
            Ok(b) => *o = b,
            Err(_) => return false,
        }
    }
    true
}

/// The SHA-256 of a key, hex: what `auth.api_keys[].key_sha256` holds.
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::http::config::ApiKey;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[tokio::test]
    async fn api_keys_match_by_hash_only() {
        let cfg = AuthConfig {
            api_keys: vec![ApiKey {
                key_sha256: key_hash("s3cret-key"),
                principal: "alice@example.com".into(),
                roles: vec!["engineer".into()],
            }],
            ..AuthConfig::default()
        };
        let a = Authenticator::new(&cfg).await.unwrap();
        let id = a
            .identify(&headers("Bearer s3cret-key"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id.principal, "alice@example.com");
        assert_eq!(id.roles, ["engineer"]);
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let id = a
                .identify(&headers(&format!("{scheme} s3cret-key")))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(id.principal, "alice@example.com", "{scheme}");
        }
        assert_eq!(
            a.identify(&headers("Bearer wrong")).await,
            Err(AuthError::Invalid(Invalid::UnknownApiKey))
        );
        assert_eq!(a.identify(&HeaderMap::new()).await, Err(AuthError::Missing));
        assert_eq!(
            a.identify(&headers("Basic s3cret-key")).await,
            Err(AuthError::Missing)
        );
    }
}
