//! `swarmwall completions SHELL` and `swarmwall manpages DIR`: shell completions and man pages,
//! generated from the same clap definitions as the arguments they describe (the Debian
//! package ships both, made by `contrib/build-deb`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Command, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManpagesArgs {
    /// Where to write `swarmwall.1` and one page per subcommand (`swarmwall-analyze.1`,
    /// `swarmwall-evidence-query.1`, …).
    pub dir: PathBuf,
}

/// Writes the completion script for `shell` to standard output.
pub fn completions(args: CompletionsArgs) -> Result<std::process::ExitCode> {
    let mut cmd = crate::Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "swarmwall", &mut out);
    out.flush().context("standard output")?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Writes a man page for the command and every subcommand, nested ones included.
pub fn manpages(args: ManpagesArgs) -> Result<std::process::ExitCode> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("{}", args.dir.display()))?;
    let mut cmd = crate::Cli::command();
    cmd.build();
    let n = write_pages(&cmd, &args.dir)?;
    eprintln!("swarmwall: {n} man pages written to {}", args.dir.display());
    Ok(std::process::ExitCode::SUCCESS)
}

/// A built command's subcommands carry their full name (`swarmwall-evidence-query`) as their
/// display name: the page's name and title.
fn write_pages(cmd: &Command, dir: &Path) -> Result<usize> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let page = cmd.clone();
    let path = dir.join(format!("{name}.1"));
    let mut bytes = Vec::new();
    clap_mangen::Man::new(page)
        .title(name.to_uppercase())
        .section("1")
        .manual("swarmwall manual")
        .source(format!("swarmwall {}", env!("CARGO_PKG_VERSION")))
        .render(&mut bytes)
        .with_context(|| format!("{}", path.display()))?;
    std::fs::write(&path, bytes).with_context(|| format!("{}", path.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        n += write_pages(sub, dir)?;
    }
    Ok(n)
}
