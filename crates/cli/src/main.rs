//! `swarmwall`: the command-line front end. Thin glue: arguments become a validated
//! configuration, the library crates do the work, this file owns exit codes.
//!
//! Exit codes: 0 success; 1 an input or output failed (the error line names the file and
//! byte offset; results cover everything read before it); 2 usage error.

mod alerts;
mod analyze;
mod enforce;
mod eval;
mod eve;
mod evidence;
mod manual;
mod notice;
mod report;
mod rules;
mod share;
mod summary;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See BitTorrent traffic by torrent, not by port.
#[derive(Debug, Parser)]
#[command(name = "swarmwall", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find every BitTorrent flow in pcap/pcapng captures, with its info-hashes.
    Analyze(analyze::Args),
    /// Capture live on network interfaces (AF_PACKET): flow records, summary, evidence
    /// (runs until SIGTERM or SIGINT).
    Watch(watch::Args),
    /// Score swarmwall (and another detector's verdicts) against a capture's flow labels.
    Eval(eval::Args),
    /// Block or allow BitTorrent inline, per torrent, from NFQUEUE (runs until SIGTERM or
    /// SIGINT; SIGHUP rereads the policy).
    Enforce(enforce::Args),
    /// Install, remove or show the firewall rules that feed `enforce`.
    Rules(rules::Args),
    /// Query, count or prune the evidence store (`--evidence` of `analyze` and `watch`).
    Evidence(evidence::Args),
    /// Read copyright notices and check them against the evidence store.
    Notice(notice::Args),
    /// Write one self-contained HTML report (charts and tables) from flow records or captures.
    Report(report::Args),
    /// Print a shell completion script (bash, zsh, fish, …) to standard output.
    Completions(manual::CompletionsArgs),
    /// Write the man pages (one per command and subcommand) into a directory.
    #[command(hide = true)]
    Manpages(manual::ManpagesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Enforce(args) => enforce::run(args),
        Command::Rules(args) => rules::run(args),
        Command::Evidence(args) => evidence::run(args),
        Command::Notice(args) => notice::run(args),
        Command::Report(args) => report::run(args),
        Command::Completions(args) => manual::completions(args),
        Command::Manpages(args) => manual::manpages(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("swarmwall: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Whether one of a command's `--flows`, `--alerts` and `--eve` is standard output (`-`); an
/// error when more than one is.
fn stdout_used(
    flows: Option<&str>,
    alerts: Option<&str>,
    eve: Option<&str>,
) -> anyhow::Result<bool> {
    match [flows, alerts, eve]
        .iter()
        .filter(|o| **o == Some("-"))
        .count()
    {
        0 => Ok(false),
        1 => Ok(true),
        _ => anyhow::bail!("only one of --flows, --alerts and --eve can be standard output"),
    }
}

/// A closed pipe on stdout (`swarmwall analyze … | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
