//! `swarmwall rules install|remove|show`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use netfilter::marks::{MAX_SHIFT, Marks};
use netfilter::rules::{self, Backend, Hook, Queues, Ruleset};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Install (or update) the ruleset that queues undecided TCP and UDP packets to `enforce`
    /// and applies decided flows' verdicts in the kernel. Idempotent; hooks already installed
    /// stay. With no daemon listening, packets pass (`bypass`).
    Install(InstallArgs),
    /// Remove swarmwall's rules (either backend), whatever is installed.
    Remove,
    /// Print the rules installed, with packet counters.
    Show,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// Where packets are taken: `forward` (a router or VPN gateway), `output` (a Tor exit or a
    /// client on this host), `input` (to this host). Repeat for several.
    #[arg(long, value_name = "HOOK", required = true)]
    hook: Vec<Hook>,

    /// Queue numbers, `N` or `A-B`: one per `enforce` worker [default: 0 to CPUs - 1].
    #[arg(long, value_name = "A-B")]
    queues: Option<Queues>,

    /// `nft` (needs the kernel's nftables queue expression) or `iptables`
    /// [default: nft where the kernel has it, else iptables].
    #[arg(long, value_name = "NAME")]
    backend: Option<Backend>,

    /// Bit position of the five mark bits swarmwall uses in packet and conntrack marks
    /// (they must be free of other uses; `enforce` must be given the same).
    #[arg(long, value_name = "N", default_value_t = 24)]
    mark_shift: u8,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Install(a) => {
            let Some(marks) = Marks::new(a.mark_shift) else {
                bail!("--mark-shift {}: expected 0 to {MAX_SHIFT}", a.mark_shift);
            };
            let backend = match a.backend {
                Some(b) => b,
                None => rules::detect().context("choosing a firewall backend")?,
            };
            let ruleset = Ruleset {
                hooks: a.hook,
                queues: a.queues.unwrap_or_else(Queues::per_cpu),
                marks,
            };
            let hooks = rules::install(backend, &ruleset)
                .with_context(|| format!("installing the {} rules", backend.as_str()))?;
            let names: Vec<&str> = hooks.iter().map(|h| h.as_str()).collect();
            eprintln!(
                "swarmwall: {} rules installed: hooks {}, queues {}, marks {:#010x}",
                backend.as_str(),
                names.join(", "),
                ruleset.queues,
                marks.mask()
            );
        }
        Command::Remove => {
            let removed = rules::remove().context("removing the rules")?;
            eprintln!(
                "swarmwall: {}",
                if removed {
                    "rules removed"
                } else {
                    "no rules were installed"
                }
            );
        }
        Command::Show => print!("{}", rules::show().context("listing the rules")?),
    }
    Ok(ExitCode::SUCCESS)
}
