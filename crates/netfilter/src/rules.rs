//! The firewall ruleset that sends undecided TCP and UDP packets to the daemon's queues and
//! applies decided flows' verdicts in the kernel (from their conntrack mark, see
//! [`crate::marks`]).
//!
//! Two backends, chosen at run time: nftables with its `queue` expression (a table
//! `inet swarmwall` of its own), or, where the kernel lacks that expression, iptables (its
//! `NFQUEUE` target through the xt compatibility layer): a chain `SWARMWALL` in the `filter`
//! table of IPv4 and IPv6, jumped to first from the hooks. Both are applied in one atomic
//! transaction per family, are idempotent, and use `bypass`: with no daemon listening, packets
//! pass. Nothing in them drops a packet the daemon did not decide to drop.
//!
//! Generating the rules is pure (tested without a kernel); applying them runs `nft` or
//! `iptables-restore`.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::marks::{Marks, state};

/// The iptables chain.
pub const CHAIN: &str = "SWARMWALL";
/// The nftables table (family `inet`).
pub const TABLE: &str = "swarmwall";

/// Where packets are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    /// Packets to this host (a client running here, receiving).
    Input,
    /// Packets routed through this host (a router, a VPN gateway).
    Forward,
    /// Packets from this host (a client or a Tor exit running here).
    Output,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::Input, Hook::Forward, Hook::Output];

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
        }
    }

    fn iptables(self) -> &'static str {
        match self {
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
        }
    }

    /// Loopback traffic is never queued.
    fn not_loopback(self, nft: bool) -> &'static str {
        match (self, nft) {
            (Hook::Input, false) => "! -i lo ",
            (Hook::Output, false) => "! -o lo ",
            (Hook::Input, true) => "iifname != \"lo\" ",
            (Hook::Output, true) => "oifname != \"lo\" ",
            (Hook::Forward, _) => "",
        }
    }
}

impl std::str::FromStr for Hook {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Hook::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| format!("unknown hook {s:?}: expected input, forward or output"))
    }
}

/// Queue numbers `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queues {
    pub first: u16,
    pub last: u16,
}

impl Queues {
    pub fn len(self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    pub fn is_empty(self) -> bool {
        false
    }

    pub fn iter(self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }

    /// One queue per available CPU, from 0.
    pub fn per_cpu() -> Queues {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Queues {
            first: 0,
            last: u16::try_from(n.clamp(1, 64) - 1).unwrap_or(0),
        }
    }
}

impl std::str::FromStr for Queues {
    type Err = String;
    /// `N` or `A-B`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a queue range: expected N or A-B (0 to 65535, A <= B)");
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if first > last {
            return Err(bad());
        }
        Ok(Queues { first, last })
    }
}

impl fmt::Display for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Which firewall interface applies the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// nftables with the `queue` expression.
    Nft,
    /// iptables (`-j NFQUEUE`), legacy or over nf_tables.
    Iptables,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nft => "nftables",
            Backend::Iptables => "iptables",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nft" | "nftables" => Ok(Backend::Nft),
            "iptables" => Ok(Backend::Iptables),
            _ => Err(format!("unknown backend {s:?}: expected nft or iptables")),
        }
    }
}

/// The ruleset to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    pub hooks: Vec<Hook>,
    pub queues: Queues,
    pub marks: Marks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Ruleset {
    /// The `iptables-restore --noflush` input for `family`: the chain (created or flushed and
    /// refilled), and the jumps from `hooks`, replacing `old_jumps` (rules as `iptables -S`
    /// prints them: those of an earlier install, perhaps of another version) in the same
    /// transaction.
    pub fn iptables_restore(&self, family: Family, old_jumps: &[String]) -> String {
        let m = self.marks;
        let mask = m.mask();
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line("*filter".into());
        line(format!(":{CHAIN} - [0:0]"));
        line(format!("-F {CHAIN}"));
        let mk = |st: u32| format!("{:#x}/{mask:#x}", m.value(st));
        // Packets of flows allowed for good never get here (see the jumps below). ICMP without
        // a conntrack entry (IPv6 neighbour discovery among it) is never judged.
        let icmp = match family {
            Family::V4 => "icmp",
            Family::V6 => "ipv6-icmp",
        };
        line(format!(
            "-A {CHAIN} -p {icmp} -m conntrack --ctstate INVALID,UNTRACKED -j RETURN"
        ));
        line(format!(
            "-A {CHAIN} -m mark --mark {} -j RETURN",
            mk(state::SEEN)
        ));
        // A packet back from the daemon with a flow decision: remember it in the flow's
        // conntrack mark, and apply it to this packet from its own mark — a packet without a
        // conntrack entry (untracked, invalid) must not go round to the queue again.
        line(format!(
            "-A {CHAIN} -m mark ! --mark 0x0/{mask:#x} -j CONNMARK --save-mark --nfmask {mask:#x} --ctmask {mask:#x}"
        ));
        let unreachable = match family {
            Family::V4 => "icmp-port-unreachable",
            Family::V6 => "icmp6-port-unreachable",
        };
        let blocks = |matcher: &str| {
            [
                format!("-A {CHAIN} -m {matcher} --mark {} -j DROP", mk(state::DROP)),
                format!(
                    "-A {CHAIN} -p tcp -m {matcher} --mark {} -j REJECT --reject-with tcp-reset",
                    mk(state::REJECT)
                ),
                format!(
                    "-A {CHAIN} -m {matcher} --mark {} -j REJECT --reject-with {unreachable}",
                    mk(state::REJECT)
                ),
            ]
        };
        blocks("mark").into_iter().for_each(&mut line);
        // Allowed, marked, or anything else: judged once, never queued again.
        line(format!(
            "-A {CHAIN} -m mark ! --mark 0x0/{mask:#x} -j RETURN"
        ));
        // The answer REJECT made (a TCP reset, an ICMP error: RELATED to the rejected flow,
        // leaving through the output hook) goes out.
        line(format!(
            "-A {CHAIN} -m conntrack --ctstate RELATED -m connmark --mark {} -j RETURN",
            mk(state::REJECT)
        ));
        // A packet not judged yet, of a flow blocked or marked before.
        blocks("connmark").into_iter().for_each(&mut line);
        let marked = format!("{:#x}/{:#x}", m.value(state::MARK), m.value(state::MARK));
        line(format!(
            "-A {CHAIN} -m connmark --mark {marked} -j CONNMARK --restore-mark --nfmask {mask:#x} --ctmask {mask:#x}"
        ));
        line(format!("-A {CHAIN} -m connmark --mark {marked} -j RETURN"));
        for u32 in handshake_u32(family) {
            line(format!(
                "-A {CHAIN} -p tcp --tcp-flags FIN,SYN,RST SYN -m u32 --u32 \"{u32}\" -j RETURN"
            ));
        }
        let q = self.queues;
        let target = if q.first == q.last {
            format!("--queue-num {}", q.first)
        } else {
            format!("--queue-balance {}:{}", q.first, q.last)
        };
        for proto in ["tcp", "udp"] {
            line(format!(
                "-A {CHAIN} -p {proto} -j NFQUEUE {target} --queue-bypass"
            ));
        }
        // Any other protocol (ICMP, GRE, ESP, ...) is not judged: its flow is allowed for good
        // at its first packet. Not an ICMP error, whose conntrack entry is the TCP or UDP
        // flow it is about (RELATED).
        line(format!(
            "-A {CHAIN} -m conntrack ! --ctstate RELATED -j CONNMARK --set-xmark {}",
            mk(state::ALLOW)
        ));
        deletions(old_jumps).for_each(&mut line);
        // Every packet of a decided flow crosses these jumps, so they are as few and as plain
        // as can be (each rule a packet crosses costs about the same, whatever it tests:
        // `lab/enforce bench rules`): two, of one test each, any protocol. The packets of
        // flows allowed for good match neither; the mark test fails on a packet without a
        // conntrack entry (untracked, invalid): those jump by the second.
        let conditions = [
            "-m conntrack --ctstate INVALID,UNTRACKED".to_string(),
            format!("-m connmark ! --mark {}", mk(state::ALLOW)),
        ];
        for h in &self.hooks {
            for cond in &conditions {
                line(format!(
                    "-I {} 1 {}{cond} -j {CHAIN}",
                    h.iptables(),
                    h.not_loopback(false)
                ));
            }
        }
        line("COMMIT".into());
        s
    }

    /// The `iptables-restore --noflush` input that removes `jumps` (rules as `iptables -S`
    /// prints them, `-A HOOK ... -j SWARMWALL`) and the chain.
    pub fn iptables_remove(jumps: &[String]) -> String {
        let mut s = String::from("*filter\n");
        for d in deletions(jumps) {
            let _ = writeln!(s, "{d}");
        }
        let _ = writeln!(s, "-F {CHAIN}\n-X {CHAIN}\nCOMMIT");
        s
    }

    /// The `nft -f` script: the table replaced as a whole, in one transaction.
    pub fn nft_script(&self) -> String {
        let m = self.marks;
        let mask = m.mask();
        let keep = !mask;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{"
        );
        let _ = writeln!(s, "\tchain main {{");
        let ct = |st: u32| format!("ct mark & {mask:#010x} == {:#010x}", m.value(st));
        // Packets of flows allowed for good never get here (see the hooks' chains below). ICMP
        // without a conntrack entry (IPv6 neighbour discovery among it) is never judged.
        let _ = writeln!(
            s,
            "\t\tmeta l4proto {{ icmp, ipv6-icmp }} ct state {{ invalid, untracked }} accept"
        );
        let _ = writeln!(
            s,
            "\t\tmeta mark & {mask:#010x} == {:#010x} accept",
            m.value(state::SEEN)
        );
        for st in Marks::final_states() {
            let v = m.value(st);
            let _ = writeln!(
                s,
                "\t\tmeta mark & {mask:#010x} == {v:#010x} ct mark set ct mark & {keep:#010x} | {v:#010x}"
            );
        }
        // Blocks, from the packet's own mark or from the flow's.
        let blocks = |s: &mut String, key: &str| {
            let is = |st: u32| format!("{key} & {mask:#010x} == {:#010x}", m.value(st));
            let _ = writeln!(s, "\t\t{} drop", is(state::DROP));
            let _ = writeln!(
                s,
                "\t\t{} meta l4proto tcp reject with tcp reset",
                is(state::REJECT)
            );
            let _ = writeln!(
                s,
                "\t\t{} reject with icmpx type port-unreachable",
                is(state::REJECT)
            );
        };
        // This packet's own decision (also without a conntrack entry: never queued twice).
        blocks(&mut s, "meta mark");
        let _ = writeln!(s, "\t\tmeta mark & {mask:#010x} != 0x00000000 accept");
        // The answer REJECT made (RELATED to the rejected flow, through the output hook).
        let _ = writeln!(s, "\t\tct state related {} accept", ct(state::REJECT));
        blocks(&mut s, "ct mark");
        for mark in 1..=15 {
            let v = m.value(state::MARK + mark);
            let _ = writeln!(
                s,
                "\t\t{} meta mark set meta mark & {keep:#010x} | {v:#010x} accept",
                ct(state::MARK + mark)
            );
        }
        for (ip4, ip6) in handshake_nft() {
            let _ = writeln!(s, "\t\ttcp flags & (fin | syn | rst) == syn {ip4} accept");
            let _ = writeln!(s, "\t\ttcp flags & (fin | syn | rst) == syn {ip6} accept");
        }
        let _ = writeln!(
            s,
            "\t\tmeta l4proto {{ tcp, udp }} queue num {} bypass",
            self.queues
        );
        // Any other protocol is not judged: its flow is allowed for good at its first packet
        // (not an ICMP error, whose conntrack entry is the flow it is about).
        let _ = writeln!(
            s,
            "\t\tct state != related ct mark set ct mark & {keep:#010x} | {:#010x}",
            m.value(state::ALLOW)
        );
        let _ = writeln!(s, "\t}}");
        for h in &self.hooks {
            let _ = writeln!(
                s,
                "\tchain {name} {{\n\t\ttype filter hook {name} priority filter - 5; policy accept;\n\t\tct mark & {mask:#010x} == {allow:#010x} accept\n\t\t{lo}jump main\n\t}}",
                // Packets of flows allowed for good: one rule of one test (the table is
                // swarmwall's own, so accepting here ends only its chain); everything else,
                // packets without a conntrack entry among them, is judged.
                allow = m.value(state::ALLOW),
                lo = h.not_loopback(true),
                name = h.as_str(),
            );
        }
        let _ = writeln!(s, "}}");
        s
    }
}

/// TCP header lengths in 32-bit words (the data offset field).
const TCP_DOFFS: std::ops::RangeInclusive<u32> = 5..=15;

/// `u32` match expressions, one per TCP header length, that hold for a TCP segment without
/// payload: the IP length is the IP header's plus the TCP header's.
///
/// A SYN or SYN-ACK without payload tells the engine nothing it needs (inline, it takes the
/// first packet it sees of a connection as the opener's: see `engine::Config::inline`), and
/// a new connection would otherwise wait for the daemon twice before its first byte. `u32`
/// cannot compare two fields, hence one expression per header length. IPv4 with options,
/// IPv6 with extension headers and SYNs carrying data (TCP Fast Open) match none: queued.
fn handshake_u32(family: Family) -> impl Iterator<Item = String> {
    TCP_DOFFS.map(move |doff| match family {
        // version 4 and a 20-byte header; total length; data offset
        Family::V4 => format!("0>>24=0x45&&0&0xFFFF={}&&32>>28={doff}", 20 + 4 * doff),
        // next header TCP; payload length; data offset
        Family::V6 => format!("4>>8&0xFF=6&&4>>16={}&&52>>28={doff}", 4 * doff),
    })
}

/// The same test in nftables, for IPv4 and IPv6 (a set of concatenations would be one rule,
/// but `nft list` of this version aborts on a concatenation with `tcp doff`).
fn handshake_nft() -> impl Iterator<Item = (String, String)> {
    TCP_DOFFS.map(|doff| {
        (
            format!("ip hdrlength 5 ip length {} tcp doff {doff}", 20 + 4 * doff),
            format!("ip6 nexthdr tcp ip6 length {} tcp doff {doff}", 4 * doff),
        )
    })
}

/// The `-D` lines that delete `jumps` (rules as `iptables -S` prints them).
fn deletions(jumps: &[String]) -> impl Iterator<Item = String> + '_ {
    jumps
        .iter()
        .filter_map(|j| j.strip_prefix("-A ").map(|rest| format!("-D {rest}")))
}

/// Why rules could not be applied, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Run(String, std::io::Error),
    #[error("{0} failed: {1}")]
    Failed(String, String),
    #[error("neither nft (with the queue expression) nor iptables-restore is usable: {0}")]
    NoBackend(String),
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, Error> {
    let what = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Run(what.clone(), e))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| Error::Run(what.clone(), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Run(what.clone(), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Failed(
            what,
            err.trim().lines().next().unwrap_or("").to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Which backend this kernel supports: nftables if a `queue` rule passes `nft --check`,
/// else iptables.
pub fn detect() -> Result<Backend, Error> {
    let probe = "table inet swarmwall_probe {\n\tchain c {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tqueue num 0 bypass\n\t}\n}\n";
    let nft = run("nft", &["--check", "-f", "-"], Some(probe));
    if nft.is_ok() {
        return Ok(Backend::Nft);
    }
    match run("iptables-restore", &["--version"], None) {
        Ok(_) => Ok(Backend::Iptables),
        Err(e) => Err(Error::NoBackend(format!(
            "nft: {}; iptables-restore: {e}",
            nft.err().map_or_else(String::new, |e| e.to_string())
        ))),
    }
}

fn restore(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables-restore",
        Family::V6 => "ip6tables-restore",
    }
}

fn save_cmd(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables",
        Family::V6 => "ip6tables",
    }
}

/// The rules that jump to the chain in `family` now, as `iptables -S` prints them.
fn iptables_jumps(family: Family) -> Result<Vec<(Hook, String)>, Error> {
    let mut jumps = Vec::new();
    for h in Hook::ALL {
        let rules = run(save_cmd(family), &["-w", "-S", h.iptables()], None)?;
        for l in rules.lines() {
            if l.split_whitespace()
                .collect::<Vec<_>>()
                .ends_with(&["-j", CHAIN])
            {
                jumps.push((h, l.to_string()));
            }
        }
    }
    Ok(jumps)
}

/// The hooks that jump to the chain in `family` now.
fn iptables_hooks(family: Family) -> Result<Vec<Hook>, Error> {
    let mut hooks: Vec<Hook> = iptables_jumps(family)?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    hooks.dedup();
    Ok(hooks)
}

fn iptables_has_chain(family: Family) -> bool {
    run(save_cmd(family), &["-w", "-S", CHAIN], None).is_ok()
}

/// The hooks with swarmwall's rules installed, with either backend.
pub fn installed(backend: Backend) -> Result<Vec<Hook>, Error> {
    match backend {
        Backend::Iptables => {
            let mut h = iptables_hooks(Family::V4)?;
            for x in iptables_hooks(Family::V6).unwrap_or_default() {
                if !h.contains(&x) {
                    h.push(x);
                }
            }
            h.sort();
            Ok(h)
        }
        Backend::Nft => {
            let Ok(table) = run("nft", &["list", "table", "inet", TABLE], None) else {
                return Ok(Vec::new());
            };
            Ok(Hook::ALL
                .into_iter()
                .filter(|h| table.contains(&format!("chain {} {{", h.as_str())))
                .collect())
        }
    }
}

/// Installs (or updates) the ruleset; hooks already installed stay. Returns the hooks now
/// installed.
pub fn install(backend: Backend, rules: &Ruleset) -> Result<Vec<Hook>, Error> {
    let present = installed(backend)?;
    let mut all = rules.clone();
    for h in &present {
        if !all.hooks.contains(h) {
            all.hooks.push(*h);
        }
    }
    all.hooks.sort();
    match backend {
        Backend::Iptables => {
            for family in [Family::V4, Family::V6] {
                let old: Vec<String> = iptables_jumps(family)?
                    .into_iter()
                    .map(|(_, j)| j)
                    .collect();
                run(
                    restore(family),
                    &["-w", "--noflush"],
                    Some(&all.iptables_restore(family, &old)),
                )?;
            }
        }
        Backend::Nft => {
            run("nft", &["-f", "-"], Some(&all.nft_script()))?;
        }
    }
    Ok(all.hooks)
}

/// Removes swarmwall's rules of either backend, whatever is there. Returns whether anything
/// was removed.
pub fn remove() -> Result<bool, Error> {
    let mut removed = false;
    for family in [Family::V4, Family::V6] {
        if run(save_cmd(family), &["--version"], None).is_err() || !iptables_has_chain(family) {
            continue;
        }
        let jumps: Vec<String> = iptables_jumps(family)?
            .into_iter()
            .map(|(_, j)| j)
            .collect();
        run(
            restore(family),
            &["-w", "--noflush"],
            Some(&Ruleset::iptables_remove(&jumps)),
        )?;
        removed = true;
    }
    if run("nft", &["list", "table", "inet", TABLE], None).is_ok() {
        run("nft", &["delete", "table", "inet", TABLE], None)?;
        removed = true;
    }
    Ok(removed)
}

/// The rules installed now, as the firewall lists them (with packet counters).
pub fn show() -> Result<String, Error> {
    let mut out = String::new();
    for family in [Family::V4, Family::V6] {
        if run(save_cmd(family), &["--version"], None).is_err() || !iptables_has_chain(family) {
            continue;
        }
        let _ = writeln!(out, "# {} (filter table)", save_cmd(family));
        for h in iptables_hooks(family)? {
            let _ = writeln!(out, "{} jumps to {CHAIN}", h.iptables());
        }
        out.push_str(&run(
            save_cmd(family),
            &["-w", "-L", CHAIN, "-n", "-v", "-x"],
            None,
        )?);
    }
    if let Ok(t) = run("nft", &["list", "table", "inet", TABLE], None) {
        let _ = writeln!(out, "# nftables");
        out.push_str(&t);
    }
    if out.is_empty() {
        out.push_str("no swarmwall rules installed\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(hooks: &[Hook], queues: &str) -> Ruleset {
        Ruleset {
            hooks: hooks.to_vec(),
            queues: queues.parse().unwrap(),
            marks: Marks::default(),
        }
    }

    /// `nft --check` of the generated script: everything but the queue statement, which this
    /// project's kernel lacks (replaced by `accept` for the check when the kernel refuses it).
    /// Skipped without `nft` or the privileges it needs.
    #[test]
    fn nft_script_is_accepted_by_nft() {
        let script = rules(&[Hook::Forward, Hook::Output, Hook::Input], "0-3").nft_script();
        let check = |text: &str| run("nft", &["--check", "-f", "-"], Some(text));
        if let Err(e) = check("table inet swarmwall_probe\ndelete table inet swarmwall_probe\n") {
            eprintln!("skipping: nft --check unusable here: {e}");
            return;
        }
        if check(&script).is_ok() {
            return;
        }
        let without_queue = script.replace("queue num 0-3 bypass", "accept");
        assert_ne!(without_queue, script);
        if let Err(e) = check(&without_queue) {
            panic!("nft rejects the generated script: {e}\n{without_queue}");
        }
    }

    #[test]
    fn queue_ranges() {
        assert_eq!("3".parse::<Queues>().unwrap(), Queues { first: 3, last: 3 });
        let q: Queues = "0-3".parse().unwrap();
        assert_eq!((q.len(), q.to_string()), (4, "0-3".to_string()));
        for bad in ["", "a", "3-1", "0-70000", "-1"] {
            assert!(bad.parse::<Queues>().is_err(), "{bad}");
        }
        assert!((1..=64).contains(&Queues::per_cpu().len()));
    }

    #[test]
    fn iptables_chain_order_and_jumps() {
        let r = rules(&[Hook::Forward, Hook::Output], "0-1");
        let old = ["-A OUTPUT ! -o lo -p tcp -j SWARMWALL".to_string()];
        let t = r.iptables_restore(Family::V4, &old);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "*filter");
        assert_eq!(lines[1], ":SWARMWALL - [0:0]");
        // judged packets go on; decisions are saved, then applied from the packet's mark (a
        // packet without conntrack entry too: never queued twice); then from the flow's; the
        // rest is queued (packets of flows allowed for good never jump to the chain)
        assert!(!t.contains("-A SWARMWALL -m connmark --mark 0x2000000/0x1f000000"));
        // ICMP without conntrack entry (neighbour discovery) is never judged
        assert_eq!(
            lines[3],
            "-A SWARMWALL -p icmp -m conntrack --ctstate INVALID,UNTRACKED -j RETURN"
        );
        assert_eq!(
            lines[4],
            "-A SWARMWALL -m mark --mark 0x1000000/0x1f000000 -j RETURN"
        );
        assert!(lines[5].contains("CONNMARK --save-mark --nfmask 0x1f000000 --ctmask 0x1f000000"));
        assert_eq!(
            lines[6],
            "-A SWARMWALL -m mark --mark 0x3000000/0x1f000000 -j DROP"
        );
        assert!(
            lines[7].contains("-p tcp -m mark") && lines[7].ends_with("--reject-with tcp-reset")
        );
        assert!(lines[8].contains("-m mark") && lines[8].ends_with("icmp-port-unreachable"));
        assert_eq!(
            lines[9],
            "-A SWARMWALL -m mark ! --mark 0x0/0x1f000000 -j RETURN"
        );
        // the answer REJECT made (RELATED to the rejected flow) goes out
        assert_eq!(
            lines[10],
            "-A SWARMWALL -m conntrack --ctstate RELATED -m connmark --mark 0x4000000/0x1f000000 -j RETURN"
        );
        assert!(lines[11].ends_with("-m connmark --mark 0x3000000/0x1f000000 -j DROP"));
        assert!(lines[12].contains("-p tcp -m connmark") && lines[12].ends_with("tcp-reset"));
        assert!(lines[13].contains("-m connmark") && lines[13].ends_with("icmp-port-unreachable"));
        assert!(
            lines[14]
                .contains("-m connmark --mark 0x10000000/0x10000000 -j CONNMARK --restore-mark")
        );
        // a SYN or SYN-ACK without payload passes: one rule per TCP header length
        assert_eq!(
            lines[16],
            "-A SWARMWALL -p tcp --tcp-flags FIN,SYN,RST SYN -m u32 --u32 \"0>>24=0x45&&0&0xFFFF=40&&32>>28=5\" -j RETURN"
        );
        assert!(lines[21].ends_with("\"0>>24=0x45&&0&0xFFFF=60&&32>>28=10\" -j RETURN"));
        assert!(lines[26].ends_with("\"0>>24=0x45&&0&0xFFFF=80&&32>>28=15\" -j RETURN"));
        // TCP and UDP are queued; the flows of other protocols allowed for good, but for ICMP
        // errors (RELATED: their conntrack entry is the flow they are about)
        assert_eq!(
            &lines[27..30],
            [
                "-A SWARMWALL -p tcp -j NFQUEUE --queue-balance 0:1 --queue-bypass",
                "-A SWARMWALL -p udp -j NFQUEUE --queue-balance 0:1 --queue-bypass",
                "-A SWARMWALL -m conntrack ! --ctstate RELATED -j CONNMARK --set-xmark 0x2000000/0x1f000000",
            ]
        );
        // an earlier install's jumps replaced in the same transaction; every hook's jumps
        // inserted first, in reverse: the mark test comes first, then packets without
        // conntrack entry; one test each, any protocol
        assert_eq!(lines[30], "-D OUTPUT ! -o lo -p tcp -j SWARMWALL");
        assert_eq!(
            &lines[31..33],
            [
                "-I FORWARD 1 -m conntrack --ctstate INVALID,UNTRACKED -j SWARMWALL",
                "-I FORWARD 1 -m connmark ! --mark 0x2000000/0x1f000000 -j SWARMWALL",
            ]
        );
        assert_eq!(
            &lines[33..35],
            [
                "-I OUTPUT 1 ! -o lo -m conntrack --ctstate INVALID,UNTRACKED -j SWARMWALL",
                "-I OUTPUT 1 ! -o lo -m connmark ! --mark 0x2000000/0x1f000000 -j SWARMWALL",
            ]
        );
        assert_eq!(lines[35], "COMMIT");
        assert_eq!(lines.len(), 36);
        let v6 = rules(&[Hook::Output], "2").iptables_restore(Family::V6, &[]);
        assert!(v6.contains("icmp6-port-unreachable"));
        assert!(v6.contains(
            "-A SWARMWALL -p ipv6-icmp -m conntrack --ctstate INVALID,UNTRACKED -j RETURN"
        ));
        assert!(v6.contains("-A SWARMWALL -p udp -j NFQUEUE --queue-num 2 --queue-bypass"));
        assert!(v6.contains(
            "-A SWARMWALL -p tcp --tcp-flags FIN,SYN,RST SYN -m u32 --u32 \"4>>8&0xFF=6&&4>>16=40&&52>>28=10\" -j RETURN"
        ));
        assert!(v6.contains("-I OUTPUT 1 ! -o lo -m connmark ! --mark"));
        assert!(v6.contains("-I OUTPUT 1 ! -o lo -m conntrack --ctstate INVALID,UNTRACKED"));
        let rm = Ruleset::iptables_remove(&["-A INPUT ! -i lo -p udp -j SWARMWALL".to_string()]);
        assert_eq!(
            rm,
            "*filter\n-D INPUT ! -i lo -p udp -j SWARMWALL\n-F SWARMWALL\n-X SWARMWALL\nCOMMIT\n"
        );
    }

    #[test]
    fn nft_table() {
        let t = rules(&[Hook::Forward], "0-3").nft_script();
        assert!(t.starts_with(
            "table inet swarmwall\ndelete table inet swarmwall\ntable inet swarmwall {"
        ));
        assert!(t.contains("meta mark & 0x1f000000 == 0x01000000 accept"));
        assert!(t.contains(
            "meta mark & 0x1f000000 == 0x03000000 ct mark set ct mark & 0xe0ffffff | 0x03000000"
        ));
        assert!(t.contains("ct mark & 0x1f000000 == 0x03000000 drop"));
        assert!(
            t.contains("meta l4proto { icmp, ipv6-icmp } ct state { invalid, untracked } accept")
        );
        // the answer REJECT made goes out, before the blocks by the flow's mark
        let answer = t
            .find("ct state related ct mark & 0x1f000000 == 0x04000000 accept")
            .unwrap();
        assert!(
            answer
                < t.find("ct mark & 0x1f000000 == 0x04000000 meta l4proto tcp reject")
                    .unwrap()
        );
        assert!(t.contains("ct mark & 0x1f000000 == 0x13000000 meta mark set meta mark & 0xe0ffffff | 0x13000000 accept"));
        assert!(t.contains("queue num 0-3 bypass"));
        assert!(t.contains("type filter hook forward priority filter - 5"));
        assert!(!t.contains("hook output"));
        // flows allowed for good are accepted by the hook's first rule; everything else
        // (packets without conntrack entry among them) is judged
        assert!(t.contains(
            "priority filter - 5; policy accept;\n\t\tct mark & 0x1f000000 == 0x02000000 accept\n\t\tjump main\n"
        ));
        // TCP and UDP are queued, other protocols' flows allowed for good (not ICMP errors)
        assert!(t.contains("meta l4proto { tcp, udp } queue num 0-3 bypass\n\t\tct state != related ct mark set ct mark & 0xe0ffffff | 0x02000000\n\t}"));
        // a packet's own decision applies without conntrack, and never queues it again
        assert!(t.contains("meta mark & 0x1f000000 == 0x03000000 drop"));
        assert!(t.contains("meta mark & 0x1f000000 != 0x00000000 accept"));
        // a SYN or SYN-ACK without payload passes, in IPv4 and IPv6
        assert!(t.contains(
            "tcp flags & (fin | syn | rst) == syn ip hdrlength 5 ip length 60 tcp doff 10 accept"
        ));
        assert!(t.contains(
            "tcp flags & (fin | syn | rst) == syn ip6 nexthdr tcp ip6 length 40 tcp doff 10 accept"
        ));
        // the queue comes after every decision
        let q = t.find("queue num").unwrap();
        assert!(t.find("tcp doff 15 accept").unwrap() < q);
        assert!(
            t.find("meta mark & 0x1f000000 != 0x00000000 accept")
                .unwrap()
                < q
        );
        let main = &t[..t.find("chain forward").unwrap()];
        assert!(main.rfind("ct mark & 0x1f000000 == ").unwrap() < q);
    }
}
