//! The `warden serve` configuration: listener, named upstream servers, authentication and
//! front-door limits. Unknown keys are errors (the binary reports them with line and column).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything `warden serve` reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address of the MCP front door (default `127.0.0.1:4422`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The upstream servers by name: clients reach `name` at `/mcp/name`.
    pub servers: BTreeMap<String, ServerConfig>,
    /// The server behind `/mcp` (default: the only server, if there is one).
    #[serde(default)]
    pub default_server: Option<String>,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Largest request body accepted, in bytes (default 4 MiB); larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Largest upstream JSON response body held to be recorded (default 64 MiB).
    #[serde(default = "default_max_response")]
    pub max_response: usize,
    /// Origins allowed besides the listener's own (`http://host:port`); others get 403.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `Host` values allowed besides loopback names and the listen address; others get 403.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Listen on a non-loopback address without authentication (explicit opt-in).
    #[serde(default)]
    pub allow_unauthenticated_remote: bool,
    /// The public URL clients use, for protected-resource metadata (default from `Host`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Sessions idle longer than this are closed (seconds, default 1800).
    #[serde(default = "default_idle")]
    pub session_idle_secs: u64,
    /// Most sessions open at once (both transports; default 4096). A new session beyond it
    /// gets 503: each stdio session is a process.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Most sessions one principal may have open at once (both transports; default 256), so
    /// one caller cannot take every session. Applies when authentication is configured; a
    /// principal's API key and JWT count as two callers.
    #[serde(default = "default_max_sessions_per_principal")]
    pub max_sessions_per_principal: usize,
    /// Most client connections open at once (default: half the process's open-file limit,
    /// at most 4096). A connection beyond it is closed as soon as it is accepted.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Longest a client may take to send a request's headers, from when it connects or from
    /// the end of its previous response (milliseconds, default 10000); then the connection is
    /// closed.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_ms: u64,
    /// Longest a client may take to send a request's body once its headers are in
    /// (milliseconds, default 60000); then it gets 408 and the connection is closed.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_ms: u64,
    /// How long a stdio server's POST stream waits for its client to resume it (GET with
    /// `Last-Event-ID`) after the client went away, before its unanswered requests are
    /// cancelled (milliseconds, default 5000).
    #[serde(default = "default_stream_resume")]
    pub stream_resume_ms: u64,
    /// How long warden waits for a stdio server's answer when it asks the server's protocol
    /// era at its first stateless request (milliseconds, default 10000).
    #[serde(default = "default_era_probe")]
    pub era_probe_ms: u64,
    /// The admin listener (query API, dashboard): off unless configured.
    #[serde(default)]
    pub admin: Option<AdminSection>,
}

/// Where the admin plane listens, and the file holding its bearer token (required off
/// loopback, at least 32 random characters; `WARDEN_ADMIN_TOKEN` overrides the file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub listen: SocketAddr,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `Host` values the admin listener allows besides loopback names and its listen address.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Origins the admin listener allows besides its own (`http://host:port`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// One upstream server: a command run per session, or a URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// A stdio server: argv, started once per client session.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Environment for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory for the command.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// A Streamable HTTP server's MCP endpoint (`http://` or `https://`).
    #[serde(default)]
    pub url: Option<String>,
    /// The URL's transport: `streamable_http` (default) or `sse` (the deprecated HTTP+SSE
    /// transport; the URL is then its SSE endpoint).
    #[serde(default)]
    pub transport: Option<String>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Connect timeout in milliseconds (default 10 000).
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// Longest wait for the next bytes of a response, in milliseconds (default 300 000).
    /// Applies between reads, so long SSE streams live as long as they keep sending.
    #[serde(default = "default_read_ms")]
    pub read_timeout_ms: u64,
    /// Forward the client's `Authorization` header to this server (default: never).
    #[serde(default)]
    pub forward_authorization: bool,
    /// Extra headers sent to this server (e.g. its own credential).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// What this server's tools first seen become in the tool catalog: `allow`, `quarantine`
    /// or `deny` (default: `warden serve --new-tools`).
    #[serde(default)]
    pub new_tools: Option<String>,
    /// Take this server's first tool list as its trusted baseline (default: unless
    /// `--no-tool-baseline`).
    #[serde(default)]
    pub tool_baseline: Option<bool>,
}

/// TLS settings for an `https://` upstream.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CA certificates to trust (besides the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file with a client certificate chain and its private key (mutual TLS).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The client key, when not in `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Connect to this address instead of resolving the URL's host (the URL's host stays the
    /// TLS server name and `Host`), e.g. `10.0.0.5:443`.
    #[serde(default)]
    pub connect_to: Option<SocketAddr>,
}

/// How clients authenticate. With neither, the front door is open (loopback only by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Authorization servers named in the protected-resource metadata (RFC 9728).
    #[serde(default)]
    pub authorization_servers: Vec<String>,
}

impl AuthConfig {
    pub fn enabled(&self) -> bool {
        !self.api_keys.is_empty() || self.jwt.is_some()
    }
}

/// An API key, stored as the SHA-256 of the key (hex); the key itself is never configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub key_sha256: String,
    pub principal: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// JWT bearer tokens: checked against issuer, audience, expiry and the keys of a JWKS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim naming the principal (default `sub`).
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// The claim listing roles (a string array or a space-separated string; default `roles`).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4422))
}
fn default_max_body() -> usize {
    4 << 20
}
fn default_max_response() -> usize {
    64 << 20
}
fn default_max_sessions() -> usize {
    4096
}
fn default_max_sessions_per_principal() -> usize {
    256
}
fn default_header_read_timeout() -> u64 {
    10_000
}
fn default_body_read_timeout() -> u64 {
    60_000
}
fn default_era_probe() -> u64 {
    10_000
}
fn default_stream_resume() -> u64 {
    5000
}
fn default_idle() -> u64 {
    1800
}
fn default_connect_ms() -> u64 {
    10_000
}
fn default_read_ms() -> u64 {
    300_000
}
fn default_principal_claim() -> String {
    "sub".into()
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_leeway() -> u64 {
    30
}

impl ServeConfig {
    /// Checks what serde cannot: each server has exactly one of `command` and `url`, the
    /// default server exists, a remote listener is authenticated. Lists every problem.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.servers.is_empty() {
            out.push("servers: at least one server is needed".to_owned());
        }
        for (name, s) in &self.servers {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                out.push(format!(
                    "servers.{name}: a server name uses letters, digits, '-', '_' and '.' only"
                ));
            }
            match (&s.command, &s.url) {
                (Some(c), None) if c.is_empty() => {
                    out.push(format!("servers.{name}.command: empty"));
                }
                (Some(_), None) => {}
                (None, Some(u)) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    out.push(format!(
                        "servers.{name}.url: {u:?} is not an http:// or https:// URL"
                    ));
                }
                (None, Some(_)) => {
                    if let Some(t) = &s.transport
                        && t != "sse"
                        && t != "streamable_http"
                    {
                        out.push(format!(
                            "servers.{name}.transport: {t:?} is not streamable_http or sse"
                        ));
                    }
                }
                (Some(_), Some(_)) => {
                    out.push(format!("servers.{name}: give command or url, not both"));
                }
                (None, None) => out.push(format!("servers.{name}: give command or url")),
            }
            if let Some(n) = &s.new_tools
                && !["allow", "quarantine", "deny"].contains(&n.as_str())
            {
                out.push(format!(
                    "servers.{name}.new_tools: {n:?} is not one of allow, quarantine, deny"
                ));
            }
        }
        if let Some(d) = &self.default_server
            && !self.servers.contains_key(d)
        {
            out.push(format!("default_server: no server named {d:?}"));
        }
        if let Some(j) = &self.auth.jwt
            && j.jwks_file.is_none() == j.jwks_url.is_none()
        {
            out.push("auth.jwt: give jwks_file or jwks_url (one of them)".to_owned());
        }
        for (i, k) in self.auth.api_keys.iter().enumerate() {
            if k.key_sha256.len() != 64 || !k.key_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push(format!(
                    "auth.api_keys[{i}].key_sha256: 64 hex digits expected (sha256 of the key)"
                ));
            }
        }
        if self.max_sessions_per_principal == 0 {
            out.push("max_sessions_per_principal: 0 would refuse every session".to_owned());
        }
        if self.max_connections == Some(0) {
            out.push("max_connections: 0 would refuse every connection".to_owned());
        }
        if self.header_read_timeout_ms == 0 {
            out.push("header_read_timeout_ms: must be more than 0".to_owned());
        }
        if self.body_read_timeout_ms == 0 {
            out.push("body_read_timeout_ms: must be more than 0".to_owned());
        }
        if !self.listen.ip().is_loopback()
            && !self.auth.enabled()
            && !self.allow_unauthenticated_remote
        {
            out.push(format!(
                "listen: {} is not a loopback address and no auth is configured; configure auth \
                 or set allow_unauthenticated_remote: true",
                self.listen
            ));
        }
        out
    }

    /// The DNS-rebinding rules of the front door: loopback names, the listen address,
    /// `allowed_hosts`, `allowed_origins` and the host of `public_url`.
    pub fn host_rules(&self) -> warden_core::host::HostRules {
        warden_core::host::HostRules {
            listen: Some(self.listen),
            allowed_hosts: self.allowed_hosts.clone(),
            allowed_origins: self.allowed_origins.clone(),
            public_host: self
                .public_url
                .as_deref()
                .and_then(|u| u.split_once("://"))
                .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or("").to_owned())
                .filter(|h| !h.is_empty()),
        }
    }

    /// The connection limits of the front door; `open_files` is the process's soft limit on
    /// open files, when known.
    pub fn limits(&self, open_files: Option<u64>) -> super::listen::Limits {
        let auto = open_files.map_or(4096, |n| (n / 2).clamp(1, 4096) as usize);
        super::listen::Limits {
            max_connections: self.max_connections.unwrap_or(auto),
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
        }
    }

    /// The server `/mcp` reaches.
    pub fn default_name(&self) -> Option<&str> {
        match &self.default_server {
            Some(d) => Some(d),
            None if self.servers.len() == 1 => self.servers.keys().next().map(String::as_str),
            None => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A config with one stdio server and `extra` keys.
    fn parse(extra: serde_json::Value) -> ServeConfig {
        let mut v = json!({ "servers": { "a": { "command": ["x"] } } });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn front_door_limits_have_defaults_and_refuse_zero() {
        let c = parse(json!({}));
        assert_eq!(c.max_sessions_per_principal, 256);
        assert_eq!(c.header_read_timeout_ms, 10_000);
        assert_eq!(c.body_read_timeout_ms, 60_000);
        // Half the open-file limit, at most 4096; the configured value wins.
        assert_eq!(c.limits(Some(1024)).max_connections, 512);
        assert_eq!(c.limits(Some(1 << 20)).max_connections, 4096);
        assert_eq!(c.limits(None).max_connections, 4096);
        assert_eq!(c.limits(Some(1)).max_connections, 1);
        let c = parse(json!({ "max_connections": 10 }));
        assert_eq!(c.limits(Some(1024)).max_connections, 10);
        let c = parse(json!({
            "max_connections": 0, "max_sessions_per_principal": 0,
            "header_read_timeout_ms": 0, "body_read_timeout_ms": 0
        }));
        let p = c.problems().join("\n");
        for key in [
            "max_connections",
            "max_sessions_per_principal",
            "header_read_timeout_ms",
            "body_read_timeout_ms",
        ] {
            assert!(p.contains(key), "{key}: {p}");
        }
    }

    #[test]
    fn host_rules_take_the_listen_address_allowed_hosts_and_public_url() {
        let c = parse(json!({
            "listen": "10.0.0.5:4422", "allow_unauthenticated_remote": true,
            "allowed_hosts": ["mcp.internal"], "allowed_origins": ["https://app.example"],
            "public_url": "https://gw.example/base?x=1"
        }));
        let r = c.host_rules();
        let ok = |h: &str| r.check(&[h.as_bytes()], &[]).is_ok();
        assert!(ok("10.0.0.5:4422") && ok("localhost") && ok("mcp.internal:4422"));
        assert!(ok("gw.example"), "public_url's host");
        assert!(!ok("gw.example.evil") && !ok("10.0.0.6"));
        assert!(r.check(&[b"gw.example"], &[b"https://app.example"]).is_ok());
    }
}
