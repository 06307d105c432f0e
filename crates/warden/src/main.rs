//! The `warden` binary: parses the command line, runs the command, picks the exit code
//! (0 success, 1 a check failed, 2 usage or runtime error; `run` exits with the server's status).

mod cli;
mod commands;
mod paths;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc's malloc: the gateway allocates per message on several threads
/// (tokio workers, proxy threads, the audit writer), where glibc's malloc/free cost measurably
/// more (BENCHMARKS.md, "Allocator"; mimalloc was tried too).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Diagnostics go to stderr only: in `warden run`, stdout is the MCP wire.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        // Colours only on a terminal: desktop clients write warden's stderr to a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = cli::Cli::parse();
    let result = match cli.cmd {
        cli::Cmd::Run(args) => commands::run::run(args),
        cli::Cmd::Serve(args) => commands::serve::serve(args),
        cli::Cmd::Config(cmd) => commands::serve::config(cmd),
        cli::Cmd::Audit(cmd) => commands::audit::audit(cmd),
        cli::Cmd::Keys(cmd) => commands::keys::keys(cmd),
        cli::Cmd::Policy(cmd) => commands::policy::policy(cmd),
        cli::Cmd::Budgets {
            store,
            policy,
            format,
        } => commands::policy::budgets(store, &policy, format),
        cli::Cmd::Demo(args) => commands::demo::demo(args),
        cli::Cmd::Dashboard(args) => commands::dashboard::dashboard(args),
        cli::Cmd::Report(cmd) => commands::report::report(cmd),
        cli::Cmd::Approvals(cmd) => commands::approvals::approvals(cmd),
        cli::Cmd::Catalog(cmd) => commands::catalog::catalog(cmd),
        cli::Cmd::Witness(cmd) => commands::witness::witness(cmd),
        cli::Cmd::DemoServer => commands::demo_server::serve(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("warden: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}
