//! The command line: one clap definition for every command (see CLI.md for the map).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "warden",
    version,
    about = "Audit and governance gateway for the Model Context Protocol (MCP)",
    long_about = "warden sits between an MCP client and an MCP server, forwards every message byte for byte, and \
                  records each one as tamper-evident evidence: a Merkle-tree transparency log with signed checkpoints.",
    after_help = "Example:\n  warden run --server-name filesystem -- npx -y @modelcontextprotocol/server-filesystem /tmp\n  warden audit verify"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Spawn an MCP server and proxy its stdio, recording every message.
    #[command(
        after_help = "Example (Claude Desktop / Cursor mcpServers entry):\n  \"command\": \"warden\",\n  \"args\": [\"run\", \"--server-name\", \"filesystem\", \"--\", \"npx\", \"-y\", \"@modelcontextprotocol/server-filesystem\", \"/tmp\"]"
    )]
    Run(RunArgs),
    /// Serve named MCP servers over Streamable HTTP, recording every message of every session.
    #[command(
        after_help = "Example:\n  warden serve --config warden.yaml\n  (clients connect to http://127.0.0.1:4422/mcp/<server>)"
    )]
    Serve(ServeArgs),
    /// Check a `warden serve` config file, or print one with every option.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Read, check and hand over the audit record.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Manage the checkpoint signing key and the hash key.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Check and explain policy files; the history of policy loads.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Show what each budget of a policy has used in its current window.
    #[command(after_help = "Example:\n  warden budgets --policy policies.yaml --db audit.db")]
    Budgets {
        #[command(flatten)]
        store: StoreArgs,
        /// The policy file (or directory) whose budgets to show.
        #[arg(long, env = "WARDEN_POLICY", value_name = "FILE")]
        policy: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Run a sample HR server through warden with a scripted client, then show what was recorded.
    #[command(after_help = "Example:\n  warden demo")]
    Demo(DemoArgs),
    /// Serve the dashboard and the query API over a local audit store.
    #[command(
        after_help = "Listens on 127.0.0.1 unless told otherwise; any other address needs --token.\n\nExample:\n  warden dashboard --db ~/.local/share/warden/audit.db\n  open http://127.0.0.1:9477/"
    )]
    Dashboard(DashboardArgs),
    /// Human-readable evidence from the audit store.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Decide the calls a policy holds for human approval: list, show, approve, deny.
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    /// The tool catalog: the tools servers showed, pinned; review changes, approve or reject.
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// A C2SP tlog-witness: cosigns checkpoints of the logs it trusts, refuses rollbacks and forks.
    #[command(subcommand)]
    Witness(WitnessCmd),
    /// The sample HR MCP server used by `warden demo` (speaks MCP on stdio).
    #[command(hide = true)]
    DemoServer,
}

#[derive(Args)]
pub(crate) struct DailyArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Start of the period: an age (24h, 7d) or RFC 3339.
    #[arg(long, default_value = "24h")]
    pub(crate) since: String,
    /// End of the period (same forms; default now).
    #[arg(long)]
    pub(crate) until: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: DailyFormat,
    /// Alert when access denials in any one hour exceed this.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub(crate) max_denied_per_hour: u64,
    /// Alert when rate-limit hits in any one hour exceed this.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub(crate) max_rate_limited_per_hour: u64,
    /// Alert when budget-exceeded events in any one hour exceed this.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(crate) max_budget_exceeded_per_hour: u64,
    /// Alert when failed calls exceed this percentage of all calls.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub(crate) max_error_rate: f64,
    /// Alert when p95 latency exceeds this many milliseconds.
    #[arg(long, default_value_t = 1000.0, value_name = "MS")]
    pub(crate) max_p95_ms: f64,
    /// Exit with status 1 when there are alerts.
    #[arg(long)]
    pub(crate) fail_on_alert: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum DailyFormat {
    Text,
    Json,
}

#[derive(Args, Clone)]
pub(crate) struct StoreArgs {
    /// The audit store (SQLite).
    #[arg(long, env = "WARDEN_DB", value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub(crate) struct KeyArgs {
    /// Directory holding the checkpoint signing key, its verifier key and the hash key.
    #[arg(long, env = "WARDEN_KEY_DIR", value_name = "DIR")]
    pub(crate) key_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogLevel {
    /// No payloads, hashes only.
    Minimal,
    /// params and results up to --max-payload.
    Standard,
    /// Whole messages up to --max-payload.
    Detailed,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Commit in small batches; see docs/durability.md for the loss window on kill -9.
    Batch,
    /// Forward a response only after its exchange's records are committed.
    Sync,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum StoreErrorArg {
    /// Answer new requests with a JSON-RPC error while the store fails.
    FailClosed,
    /// Forward anyway, and say so on stderr.
    FailOpen,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) record: RecordArgs,
    /// The name this server is recorded under.
    #[arg(long, env = "WARDEN_SERVER_NAME")]
    pub(crate) server_name: Option<String>,
    /// Milliseconds the server gets to exit after its stdin closes, before SIGTERM (and again before SIGKILL).
    #[arg(long, default_value_t = 3000)]
    pub(crate) grace_ms: u64,
    /// Frames longer than this many bytes are streamed through unparsed.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub(crate) max_frame: usize,
    /// Run the command through /bin/sh -c.
    #[arg(long)]
    pub(crate) shell: bool,
    /// Who is calling: on every record, and matched by policy `principals` (default: the OS user: `$USER`, else `$LOGNAME`, else the account of our uid).
    #[arg(long, env = "WARDEN_PRINCIPAL")]
    pub(crate) principal: Option<String>,
    /// A role of the principal (repeatable), for `principals: ["role:NAME"]`.
    #[arg(long = "role", value_name = "ROLE")]
    pub(crate) roles: Vec<String>,
    /// Instead of a command: a remote Streamable HTTP server's MCP endpoint (http:// or https://).
    #[arg(long, value_name = "URL", conflicts_with_all = ["command", "shell"])]
    pub(crate) upstream: Option<String>,
    /// A header sent to the --upstream server on every request (repeatable), e.g. "Authorization=Bearer …".
    #[arg(
        long = "upstream-header",
        value_name = "NAME=VALUE",
        requires = "upstream"
    )]
    pub(crate) upstream_headers: Vec<String>,
    /// PEM file of CA certificates to trust for an https:// --upstream.
    #[arg(long, value_name = "FILE", requires = "upstream")]
    pub(crate) upstream_ca: Option<PathBuf>,
    /// The server command and its arguments.
    #[arg(
        last = true,
        required_unless_present = "upstream",
        value_name = "COMMAND"
    )]
    pub(crate) command: Vec<String>,
}

/// How messages are recorded and governed: shared by `run` and `serve`.
#[derive(Args, Clone)]
pub(crate) struct RecordArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// How much of each message is stored beside its hashes.
    #[arg(long, value_enum, default_value = "standard", env = "WARDEN_LOG_LEVEL")]
    pub(crate) log_level: LogLevel,
    /// Payloads larger than this many bytes are stored truncated, with the hash of the whole.
    #[arg(long, default_value_t = 64 * 1024)]
    pub(crate) max_payload: usize,
    #[arg(long, value_enum, default_value = "batch", env = "WARDEN_DURABILITY")]
    pub(crate) durability: DurabilityArg,
    #[arg(long, value_enum, default_value = "fail_closed")]
    pub(crate) on_store_error: StoreErrorArg,
    /// Name of this warden instance (checkpoint origin and key name).
    #[arg(long, default_value = "warden", env = "WARDEN_INSTANCE")]
    pub(crate) instance: String,
    /// Sign a checkpoint every this many records…
    #[arg(long, default_value_t = 1000)]
    pub(crate) checkpoint_every: u64,
    /// …or this many seconds after the last one.
    #[arg(long, default_value_t = 10)]
    pub(crate) checkpoint_secs: u64,
    /// Keep stored content (payloads) this long, then remove it (at start and hourly), each
    /// removal recorded in this log, which keeps verifying (an age: 90d, 720h). Default: kept.
    #[arg(long, value_name = "AGE", env = "WARDEN_CONTENT_RETENTION", value_parser = crate::commands::erase::parse_age)]
    pub(crate) content_retention: Option<std::time::Duration>,
    /// What a tool first seen in a server's tools/list becomes in the tool catalog: allow
    /// (approved on sight), quarantine (hidden and refused until `warden catalog approve`) or
    /// deny (rejected until approved). A definition that changes after approval is always
    /// quarantined.
    #[arg(long, value_enum, default_value = "allow", env = "WARDEN_NEW_TOOLS")]
    pub(crate) new_tools: NewToolsArg,
    /// Do not trust a server's first tool list as its baseline (by default the first list of a
    /// server never seen before is approved as it is, whatever --new-tools says).
    #[arg(long)]
    pub(crate) no_tool_baseline: bool,
    /// Policy file (YAML), or a directory of them (`*.yaml`, `*.yml`, combined by
    /// deny-overrides), governing tool calls; see docs/policy.md.
    #[arg(long, env = "WARDEN_POLICY", value_name = "PATH")]
    pub(crate) policy: Option<PathBuf>,
    /// Tools recorded as sensitive (comma-separated), e.g. get_pay_info,read_medical_record.
    #[arg(long, value_delimiter = ',', value_name = "TOOLS")]
    pub(crate) sensitive_tools: Vec<String>,
    /// Tools recorded as writes (comma-separated), whatever the server's annotations say.
    #[arg(long, value_delimiter = ',', value_name = "TOOLS")]
    pub(crate) write_tools: Vec<String>,
    /// Redaction rules (YAML: keys, detectors, custom, disabled) instead of the built-in ones.
    #[arg(
        long,
        env = "WARDEN_REDACT_CONFIG",
        value_name = "FILE",
        conflicts_with = "no_redact"
    )]
    pub(crate) redact_config: Option<PathBuf>,
    /// Store messages without redacting secrets and personal data (not recommended).
    #[arg(long)]
    pub(crate) no_redact: bool,
    #[command(flatten)]
    pub(crate) observe: Box<ObserveArgs>,
    #[command(flatten)]
    pub(crate) witnessing: WitnessingArgs,
}

/// Evidence kept outside the store: witnesses' cosignatures and anchored checkpoints
/// (docs/witness.md).
#[derive(Args, Clone)]
#[command(next_help_heading = "Witnessing")]
pub(crate) struct WitnessingArgs {
    /// A witness policy (C2SP tlog-policy: `witness NAME VKEY URL` lines, a `quorum` line):
    /// every committed checkpoint is sent to each witness with a URL, in the background, and
    /// the cosignatures it returns are kept in the store.
    #[arg(long, env = "WARDEN_WITNESS_POLICY", value_name = "FILE")]
    pub(crate) witness_policy: Option<PathBuf>,
    /// Keep a copy of every checkpoint here, outside the store: a directory (one file per
    /// log, the newest checkpoint) or a file.
    #[arg(long, env = "WARDEN_ANCHOR", value_name = "DIR|FILE")]
    pub(crate) anchor: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum WitnessCmd {
    /// Create a witness's cosignature key (mode 0600) and print its verifier key.
    #[command(
        after_help = "Example:\n  warden witness keygen --name witness.example/w1 --key witness.key > witness.vkey"
    )]
    Keygen {
        /// The witness's name (a schema-less URL).
        #[arg(long)]
        name: String,
        /// Where to write the private key (must not exist).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Serve POST /add-checkpoint (and GET /<origin hash>/checkpoint) for the logs the config trusts.
    #[command(
        after_help = "Listens on 127.0.0.1:7380 unless told otherwise; a non-loopback address needs --allow-remote.\n\nExample:\n  warden witness serve --config witness.yaml"
    )]
    Serve(WitnessServeArgs),
}

#[derive(Args)]
pub(crate) struct WitnessServeArgs {
    /// The witness config (YAML): key, state, listen, logs (docs/witness.md).
    #[arg(long, env = "WARDEN_WITNESS_CONFIG", value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// The cosignature key file, instead of the config's `key`.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The state database, instead of the config's `state`.
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
    /// Listen here instead of the config's `listen`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// Allow a non-loopback listen address (the protocol has no authentication: anyone who
    /// can reach it may submit, and only correctly signed, consistent checkpoints are cosigned).
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// A `Host` the listener answers besides loopback names and its own address (repeatable).
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub(crate) allowed_hosts: Vec<String>,
}

/// Metrics, traces and security events (docs/observability.md).
#[derive(Args, Clone)]
#[command(next_help_heading = "Observability")]
pub(crate) struct ObserveArgs {
    /// Serve /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9464.
    #[arg(long, env = "WARDEN_METRICS_LISTEN", value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// Bearer token /metrics requires (needed for a non-loopback address).
    #[arg(
        long,
        env = "WARDEN_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) metrics_token: Option<String>,
    /// A `Host` the metrics listener answers besides loopback names and its own address
    /// (repeatable; e.g. the name Prometheus scrapes it by). Others get 403.
    #[arg(long = "metrics-allowed-host", value_name = "HOST")]
    pub(crate) metrics_allowed_hosts: Vec<String>,
    /// Leave principals out of metric labels (no user_id label).
    #[arg(long)]
    pub(crate) no_user_label: bool,
    /// Most distinct tool names kept as metric labels; the rest are counted as `other`.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub(crate) metrics_tool_cap: usize,
    /// Export one OTLP/HTTP trace span per exchange to this collector, e.g. http://127.0.0.1:4318.
    #[arg(long, env = "WARDEN_OTLP_ENDPOINT", value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
    /// A header sent with every trace export (repeatable), e.g. "authorization=Bearer abc".
    #[arg(long = "otlp-header", value_name = "NAME=VALUE")]
    pub(crate) otlp_headers: Vec<String>,
    /// PEM file of CA certificates trusted for an https:// collector (besides the system's).
    #[arg(long, value_name = "PEM")]
    pub(crate) otlp_ca_file: Option<std::path::PathBuf>,
    /// Share of exchanges traced (0 to 1) unless the client's traceparent decides.
    #[arg(long, default_value_t = 1.0, value_name = "RATIO")]
    pub(crate) otlp_sample_ratio: f64,
    /// Spans that may wait for export; when full, new spans are dropped (and counted).
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pub(crate) otlp_queue: usize,
    /// Write security events as JSON lines to this file (appended), or `-` for stderr.
    #[arg(long, env = "WARDEN_SECURITY_EVENTS", value_name = "FILE")]
    pub(crate) security_events: Option<String>,
    /// Anomaly detection window in seconds (0 turns detection off).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) anomaly_window_secs: u64,
    /// Denials of one principal within a window that make a burst.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub(crate) anomaly_denial_burst: u64,
    /// A window with more than this many times its baseline calls is a spike.
    #[arg(long, default_value_t = 4.0, value_name = "X")]
    pub(crate) anomaly_spike_factor: f64,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    Jsonl,
}

#[derive(Args, Clone)]
pub(crate) struct FilterArgs {
    /// Only records at or after this time: RFC 3339 (2026-11-22T10:00:00Z) or an age (15m, 24h, 7d).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only records before this time (same forms as --since).
    #[arg(long)]
    pub(crate) until: Option<String>,
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// Tool name, resource URI or prompt name.
    #[arg(long)]
    pub(crate) tool: Option<String>,
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// c2s (client to server) or s2c.
    #[arg(long)]
    pub(crate) direction: Option<String>,
    /// ok, rpc_error, tool_error, cancelled, abandoned, gateway_error, denied, rate_limited,
    /// budget_exceeded, approval_required.
    #[arg(long)]
    pub(crate) outcome: Option<String>,
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// request, notification, result, error, invalid, unparseable, event.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Who called (API key or JWT subject, or the local user).
    #[arg(long)]
    pub(crate) principal: Option<String>,
    /// The agent (X-Warden-Agent, else clientInfo name/version).
    #[arg(long)]
    pub(crate) agent: Option<String>,
    /// success, error, denied, rate_limited, pending (comma-separated).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// table on a terminal, jsonl when piped.
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
}

#[derive(Args)]
pub(crate) struct DashboardArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:9477", env = "WARDEN_ADMIN_LISTEN")]
    pub(crate) listen: std::net::SocketAddr,
    /// Bearer token every API request must carry (required off loopback; 32 or more random
    /// characters, e.g. `openssl rand -hex 32`).
    #[arg(long, env = "WARDEN_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A `Host` the dashboard answers besides loopback names and its listen address
    /// (repeatable). Others get 403 (DNS rebinding).
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub(crate) allowed_hosts: Vec<String>,
    /// An origin (`https://host:port`) the dashboard accepts besides its own (repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub(crate) allowed_origins: Vec<String>,
    /// Trusted verifier key file for the integrity status (default: each log's registered key).
    #[arg(long, value_name = "FILE")]
    pub(crate) pubkey: Option<PathBuf>,
    /// The policy file or directory whose catalog metadata (owner, tier, review dates) the
    /// catalog page shows (read at start).
    #[arg(long, env = "WARDEN_POLICY", value_name = "PATH")]
    pub(crate) policy: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum ReportCmd {
    /// A self-contained report of a session or time range: summary, tools, data access,
    /// policy, failures, timeline and the integrity verdict.
    #[command(
        after_help = "Example:\n  warden report html --db audit.db --session 0199a1b2-... --out report.html\n  warden report html --from 24h --format md > last-day.md"
    )]
    Html(ReportHtmlArgs),
    /// The daily security report: calls, success and failure, latency, security events, alerts.
    #[command(
        after_help = "Example:\n  warden report daily --since 24h --format json --db audit.db"
    )]
    Daily(DailyArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    Html,
    Json,
    Csv,
    Md,
}

#[derive(Args)]
pub(crate) struct ReportHtmlArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Write here (default stdout).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Only this session.
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// From this time: RFC 3339 or an age (24h).
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// Up to this time (same forms as --from).
    #[arg(long)]
    pub(crate) to: Option<String>,
    #[arg(long, value_enum, default_value = "html")]
    pub(crate) format: ReportFormat,
    /// Trusted verifier key file for the integrity verdict (default: each log's registered key).
    #[arg(long, value_name = "FILE")]
    pub(crate) pubkey: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum AuditCmd {
    /// Check the whole log: every record re-hashed, every checkpoint's signature and root.
    #[command(
        after_help = "Exit status: 0 intact, 1 tampering found (the first bad record is named), 2 usage error.\n\nExample:\n  warden audit verify --db audit.db --pubkey warden.vkey"
    )]
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Verify an export file instead of a store.
        #[arg(long, conflicts_with = "db", value_name = "EXPORT.jsonl")]
        file: Option<PathBuf>,
        /// Trusted verifier key file (note format). Without it, each log's registered key is used.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The archive directory (`warden audit archive --out`): check archived records too,
        /// with the store, as one log. Without it, archived records are represented by the
        /// tree edge the store keeps for them.
        #[arg(long, value_name = "DIR", conflicts_with = "file")]
        archive: Option<PathBuf>,
        /// A witness policy (C2SP tlog-policy): each log's newest checkpoint must carry
        /// cosignatures satisfying its quorum.
        #[arg(long, value_name = "FILE", conflicts_with = "file")]
        policy: Option<PathBuf>,
        /// Also ask each witness of --policy (with a URL) which size of each log it cosigned
        /// last: a store shorter than that was truncated.
        #[arg(long, requires = "policy")]
        online: bool,
        /// Anchored checkpoints (a directory or file from `--anchor`): each must be matched by
        /// the store (a store cut behind one is truncated, a different root rewritten).
        #[arg(long, value_name = "DIR|FILE", conflicts_with = "file")]
        anchor: Option<PathBuf>,
    },
    /// Find records by time, server, tool, method, direction, outcome, status, session, principal or agent.
    #[command(
        after_help = "Example:\n  warden audit search --since 24h --tool read_file --format json"
    )]
    Search {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// Most records to show.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Newest first.
        #[arg(long)]
        newest_first: bool,
        /// Continue after this cursor (printed on stderr when more records match).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show the latest records and follow new ones as they are written.
    #[command(after_help = "Example:\n  warden audit tail --server filesystem")]
    Tail {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// How many existing records to show first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: u64,
        /// Print the latest records and exit.
        #[arg(long)]
        no_follow: bool,
    },
    /// Write every log (records and signed checkpoints) as JSON Lines that verify on their own.
    #[command(
        after_help = "Example:\n  warden audit export --out evidence.jsonl && warden audit verify --file evidence.jsonl"
    )]
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write each log as a static C2SP tlog-tiles tree: DIR/<log_id>/checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>].
    #[command(
        long_about = "Write each log of the store as a static C2SP tlog-tiles tree (https://c2sp.org/tlog-tiles), one \
                      directory per log: DIR/<log_id>/checkpoint (the latest signed checkpoint), \
                      DIR/<log_id>/tile/<L>/<N>[.p/<W>] (hash tiles, height 8) and DIR/<log_id>/tile/entries/<N>[.p/<W>] \
                      (entry bundles: each record's stored leaf). Only the tree of the latest signed checkpoint is \
                      written; its root is recomputed from the leaves and must match. A log holding a record longer \
                      than 65,535 bytes cannot be published as tiles and is refused (the record is named). Any web \
                      server can serve the directory; `warden serve` and `warden dashboard` serve the same paths at \
                      /api/v1/logs/<log_id>/.",
        after_help = "Exit status: 0 every log with a checkpoint written, 1 a log was refused, 2 usage or I/O error.\n\nExample:\n  warden audit export-tiles --db audit.db ./tiles && ls ./tiles/*/checkpoint"
    )]
    ExportTiles {
        #[command(flatten)]
        store: StoreArgs,
        /// The directory to write into (created if missing); each log goes to DIR/<log_id>/.
        dir: PathBuf,
        /// Trusted verifier key file: each latest checkpoint must be signed by it (default: the log's registered key).
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
    },
    /// Print an inclusion proof of one record (c2sp.org/tlog-proof@v1), or a consistency proof from a kept checkpoint (JSON).
    #[command(
        after_help = "Example:\n  warden audit prove --record 0199a1b2-... --leaf-out record.leaf --content-out record.content > record.tlog-proof\n  warden audit prove --from-checkpoint old.checkpoint > grew.proof.json"
    )]
    Prove {
        #[command(flatten)]
        store: StoreArgs,
        /// The record id (UUIDv7) to prove.
        #[arg(
            long,
            required_unless_present = "from_checkpoint",
            conflicts_with = "from_checkpoint"
        )]
        record: Option<String>,
        /// Also write the record's leaf (the entry the proof is for, its exact bytes) to FILE.
        #[arg(long, value_name = "FILE", requires = "record")]
        leaf_out: Option<PathBuf>,
        /// Also write the record's content (the redacted payload its leaf commits to: nonce
        /// and body, JSON) to FILE, for `verify-proof --content`.
        #[arg(long, value_name = "FILE", requires = "record")]
        content_out: Option<PathBuf>,
        /// A signed checkpoint file kept earlier: prove the log only grew since.
        #[arg(long, value_name = "FILE")]
        from_checkpoint: Option<PathBuf>,
    },
    /// Erase the stored content (payloads) of the records of a session, a principal or a time range; the log still verifies.
    #[command(
        after_help = "Each removal is its own signed record (content_erased) naming who asked, why, what was selected and the commitments removed. The records themselves (who called what, when, the decision, the keyed hashes) stay: the log still verifies, and reports the content as erased. Records of logs written before leaf v2 keep their payload inside the signed leaf and are counted, not erased.\n\nExit status: 0 done (or nothing matched), 2 usage error.\n\nExamples:\n  warden audit erase --principal alice@example.com --reason \"GDPR request 1432\" --dry-run\n  warden audit erase --session 019a... --reason \"pasted a customer's card number\""
    )]
    Erase {
        #[command(flatten)]
        who: DeciderArgs,
        #[command(flatten)]
        select: SelectArgs,
        /// Show what would be erased, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move the oldest records of each log (up to a signed checkpoint) into sealed archive segments.
    #[command(
        after_help = "Each segment is gzip JSON Lines in the export's format (the log, the checkpoints that cover it, each record with its stored hashes and content), written and synced before its records leave the store. The store keeps the segment's SHA-256 and the tree's right edge where it ends, so later records, checkpoints and proofs still verify, and `warden audit verify --archive DIR` checks archive and store together as one log. Archived records no longer appear in searches, reports or the dashboard.\n\nExample:\n  warden audit archive --before 365d --out /srv/warden-archive --dry-run"
    )]
    Archive {
        #[command(flatten)]
        store: StoreArgs,
        /// Archive records older than this: an age (365d) or an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        before: String,
        /// The archive directory (one subdirectory per log).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Show what would move, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove content (payloads) older than the retention period; each removal is recorded.
    #[command(
        after_help = "For a scheduler (cron, a systemd timer). `warden run` and `warden serve` also remove content on their own with --content-retention.\n\nExample:\n  warden audit retention --content 90d --records 365d --archive-dir /srv/warden-archive"
    )]
    Retention {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        keys: KeyArgs,
        /// Keep content this long: an age such as 90d, 720h.
        #[arg(long, value_name = "AGE", required_unless_present = "records")]
        content: Option<String>,
        /// Keep records in the store this long, then move them to --archive-dir (as
        /// `warden audit archive --before AGE` does).
        #[arg(long, value_name = "AGE", requires = "archive_dir")]
        records: Option<String>,
        /// Where --records moves old records.
        #[arg(long, value_name = "DIR")]
        archive_dir: Option<PathBuf>,
        /// Show what would be removed, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Name of this warden instance (the removal log's origin and key name).
        #[arg(long, default_value = "warden", env = "WARDEN_INSTANCE")]
        instance: String,
    },
    /// Check a proof file offline: a c2sp.org/tlog-proof (with --leaf, the record it proves), or a JSON proof.
    #[command(
        after_help = "Example:\n  warden audit verify-proof record.tlog-proof --leaf record.leaf --pubkey warden.vkey\n  warden audit verify-proof grew.proof.json --pubkey warden.vkey"
    )]
    VerifyProof {
        /// The proof file from `warden audit prove` (c2sp.org/tlog-proof@v1, or the JSON formats).
        file: PathBuf,
        /// Trusted verifier key file. Required for a tlog-proof; for a JSON proof, without it the key named in the proof is used.
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
        /// The record's leaf (`prove --leaf-out`): check that it is the entry the tlog-proof includes. Without it, only the checkpoint and the proof's shape are checked.
        #[arg(long, value_name = "FILE")]
        leaf: Option<PathBuf>,
        /// The record's content (`prove --content-out`): check it against the commitment in
        /// --leaf, and print it.
        #[arg(long, value_name = "FILE", requires = "leaf")]
        content: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    Jsonl,
}

#[derive(Subcommand)]
pub(crate) enum KeysCmd {
    /// Create the checkpoint signing key, its verifier key and the hash key.
    #[command(after_help = "Example:\n  warden keys generate --name acme-warden")]
    Generate {
        #[command(flatten)]
        keys: KeyArgs,
        /// Key name (appears in every signature line).
        #[arg(long, default_value = "warden")]
        name: String,
        /// Replace existing keys.
        #[arg(long)]
        force: bool,
    },
    /// Print the verifier key (note format) to give to an auditor.
    #[command(after_help = "Example:\n  warden keys export > warden.vkey")]
    Export {
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Validate a policy file or directory and list every problem with its file, line and column.
    #[command(
        after_help = "Exit status: 0 valid, 1 problems found, 2 unreadable.\n\nExamples:\n  warden policy check policies.yaml\n  warden policy check policies/production/"
    )]
    Check {
        /// The policy file (YAML), or a directory of them.
        file: PathBuf,
    },
    /// Run policy test cases (who calls what with which arguments, and the expected decision).
    #[command(
        after_help = "Exit status: 0 all cases pass, 1 a case failed (with expected and actual), 2 unreadable.\n\nExample:\n  warden policy test policies.yaml policies.cases.yaml"
    )]
    Test {
        /// The policy file (YAML), or a directory of them.
        file: PathBuf,
        /// The cases file (YAML): `cases: [{name, tool: server:tool, arguments, principal, roles, method, expect: {action, rule, matched, enforced}}]`.
        cases: PathBuf,
    },
    /// Show how a policy decides one call: every rule, whether it applied and why.
    #[command(
        after_help = "Example:\n  warden policy explain policies.yaml --tool filesystem:read_file --args '{\"path\":\"/etc/passwd\"}'"
    )]
    Explain {
        /// The policy file (YAML), or a directory of them.
        file: PathBuf,
        /// The call: `server:tool` (or `server:` and a method such as resources/read with --method).
        #[arg(long)]
        tool: String,
        /// The method (default tools/call).
        #[arg(long, default_value = "tools/call")]
        method: String,
        /// The arguments as JSON.
        #[arg(long, default_value = "{}")]
        args: String,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// The client's name (as in initialize's clientInfo).
        #[arg(long)]
        client: Option<String>,
        /// When the call happens, for time conditions: "mon 09:30" (UTC).
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        facts: Box<crate::commands::policy::FactArgs>,
    },
    /// Every policy load recorded in the audit store: when, which policy, and per file its
    /// hash, the last commit that touched it (author, subject) and whether it changed.
    #[command(
        after_help = "Example:\n  warden policy history --db audit.db\n  warden policy history --format json"
    )]
    History {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Store for the demo (default: a new directory under the system temp dir).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// Signing and hash keys for the demo (default: `keys/` beside `--db`, so runs on the same
    /// store share their keys; without `--db`, the new temp directory's `keys/`).
    #[arg(long, value_name = "DIR")]
    pub(crate) key_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) record: RecordArgs,
    /// The gateway's config file (YAML): listen, servers, auth; see docs/serve.md.
    #[arg(long, env = "WARDEN_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Listen here instead of the config's `listen`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// Serve the admin plane (query API, dashboard) here; the config's `admin.listen` otherwise.
    #[arg(long, value_name = "ADDR", env = "WARDEN_ADMIN_LISTEN")]
    pub(crate) admin_listen: Option<std::net::SocketAddr>,
    /// Allow a non-loopback listen address without authentication (anyone who can reach it
    /// can use every server; the same as `allow_unauthenticated_remote: true`).
    #[arg(long)]
    pub(crate) allow_unauthenticated_remote: bool,
    /// A role whose holders (the config's API keys and JWTs) may approve and reject tool
    /// catalog entries on the admin listener (repeatable; default: security, catalog-admin).
    #[arg(
        long = "catalog-role",
        value_name = "ROLE",
        default_values = ["security", "catalog-admin"]
    )]
    pub(crate) catalog_roles: Vec<String>,
}

#[derive(Subcommand)]
pub(crate) enum ConfigCmd {
    /// Check a config file: every problem with its line and column; exit 1 if any.
    #[command(after_help = "Example:\n  warden config check --config warden.yaml")]
    Check {
        #[arg(long, env = "WARDEN_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print a config file with every option and its default.
    #[command(after_help = "Example:\n  warden config print-default > warden.yaml")]
    PrintDefault,
}

#[derive(Subcommand)]
pub(crate) enum ApprovalsCmd {
    /// List approvals: pending ones (soonest to expire first) unless told otherwise.
    #[command(
        after_help = "Example:\n  warden approvals list\n  warden approvals list --all --format json"
    )]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only approvals in this state: pending, approved, denied, expired, cancelled.
        #[arg(long, value_name = "STATE")]
        status: Option<String>,
        /// Every approval, decided ones included (most recent first, after the pending ones).
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Show one approval: what is asked (the arguments as stored, redacted), by whom, until when.
    #[command(after_help = "Example:\n  warden approvals show 019a...")]
    Show {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Approve a pending approval: the held call goes on (exit 1 if it was already decided or expired).
    #[command(
        after_help = "Example:\n  warden approvals approve 019a... --reason \"checked the path\""
    )]
    Approve(DecideArgs),
    /// Deny a pending approval: the held call is refused (exit 1 if it was already decided or expired).
    #[command(
        after_help = "Example:\n  warden approvals deny 019a... --reason \"not in production\""
    )]
    Deny(DecideArgs),
}

/// Who decides, from a terminal, and where the decision is recorded (approvals, catalog).
#[derive(Args)]
pub(crate) struct DeciderArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Why: recorded with the decision.
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: Option<String>,
    /// Who decides (default: the local user).
    #[arg(long = "as", value_name = "NAME")]
    pub(crate) by: Option<String>,
    /// Name of this warden instance (the decision's log origin and key name).
    #[arg(long, default_value = "warden", env = "WARDEN_INSTANCE")]
    pub(crate) instance: String,
}

/// Which records' content to erase: every given condition must hold.
#[derive(Args, Clone)]
pub(crate) struct SelectArgs {
    /// Records of this session.
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// Records of this principal (who called).
    #[arg(long)]
    pub(crate) principal: Option<String>,
    /// Records at or after this time: RFC 3339 or an age (15m, 24h, 7d).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Records before this time (same forms as --since).
    #[arg(long)]
    pub(crate) before: Option<String>,
}

#[derive(Args)]
pub(crate) struct DecideArgs {
    /// The approval's id (`warden approvals list`).
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) who: DeciderArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum NewToolsArg {
    Allow,
    Quarantine,
    Deny,
}

#[derive(Subcommand)]
pub(crate) enum CatalogCmd {
    /// Every catalogued tool, the ones not approved first.
    #[command(after_help = "Example:\n  warden catalog list")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The policy file or directory whose catalog metadata to show (tier, owner, review).
        #[arg(long, env = "WARDEN_POLICY", value_name = "PATH")]
        policy: Option<PathBuf>,
    },
    /// One tool as catalogued: state, pins, definitions.
    #[command(after_help = "Example:\n  warden catalog show filesystem write_file")]
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// The policy file or directory whose catalog metadata to show.
        #[arg(long, env = "WARDEN_POLICY", value_name = "PATH")]
        policy: Option<PathBuf>,
        /// The server's identity (or a unique part of it: its name in the command line).
        server: String,
        tool: String,
    },
    /// What changed from the approved definition to the one last seen, each change classified.
    #[command(after_help = "Example:\n  warden catalog diff filesystem write_file")]
    Diff {
        #[command(flatten)]
        store: StoreArgs,
        server: String,
        tool: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Approve the tool's definition as last seen: it is listed and callable again. With
    /// --cosmetic, approve every changed tool (of SERVER, if given) whose change is only cosmetic.
    #[command(
        after_help = "Examples:\n  warden catalog approve filesystem write_file --reason \"reviewed the new description\"\n  warden catalog approve --cosmetic filesystem --reason \"wording only\""
    )]
    Approve(CatalogApproveArgs),
    /// Reject the tool: hidden and refused until approved.
    #[command(
        after_help = "Example:\n  warden catalog reject filesystem write_file --reason \"tool poisoning\""
    )]
    Reject(CatalogDecideArgs),
    /// Tools whose periodic review is due (the policy's catalog metadata: next_review,
    /// review_every); with SERVER TOOL, record that you reviewed that tool.
    #[command(
        after_help = "Exit status: 0, or 1 with --fail-on-overdue when a review is overdue.\n\nExamples:\n  warden catalog review --policy policies/\n  warden catalog review --policy policies/ --within 30 --format json\n  warden catalog review --policy policies/ database query --reason \"access list checked\""
    )]
    Review(CatalogReviewArgs),
}

#[derive(Args)]
pub(crate) struct CatalogReviewArgs {
    /// The server and tool reviewed (omit both to list the reviews due).
    pub(crate) server: Option<String>,
    pub(crate) tool: Option<String>,
    /// The policy file or directory holding the catalog metadata.
    #[arg(long, env = "WARDEN_POLICY", value_name = "PATH")]
    pub(crate) policy: PathBuf,
    /// Also list reviews due within this many days.
    #[arg(long, default_value_t = 0, value_name = "DAYS")]
    pub(crate) within: u32,
    /// Exit with status 1 when a review is overdue (for a scheduled job).
    #[arg(long)]
    pub(crate) fail_on_overdue: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: Format,
    #[command(flatten)]
    pub(crate) who: DeciderArgs,
}

#[derive(Args)]
pub(crate) struct CatalogApproveArgs {
    /// The server's identity, label or a unique part of it (with --cosmetic: which servers'
    /// tools; all when left out).
    #[arg(required_unless_present = "cosmetic")]
    pub(crate) server: Option<String>,
    #[arg(required_unless_present = "cosmetic", conflicts_with = "cosmetic")]
    pub(crate) tool: Option<String>,
    /// Approve every changed tool whose classified change is only cosmetic (case, punctuation,
    /// spacing, the title); list the others, left for review.
    #[arg(long)]
    pub(crate) cosmetic: bool,
    #[command(flatten)]
    pub(crate) who: DeciderArgs,
}

#[derive(Args)]
pub(crate) struct CatalogDecideArgs {
    pub(crate) server: String,
    pub(crate) tool: String,
    #[command(flatten)]
    pub(crate) who: DeciderArgs,
}
