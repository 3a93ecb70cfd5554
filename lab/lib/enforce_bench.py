"""Benchmarks of `swarmwall enforce` on the router of a lab network (see enforce_lab.py).

* other traffic: iperf3 TCP and UDP, HTTP and HTTPS downloads (nginx, curl), new HTTP
  connections per second and DNS queries per second (dnsmasq; a new UDP flow per query),
  through the router bare, stateful (conntrack on) and with swarmwall (rules installed,
  daemon blocking all BitTorrent), in turn, several rounds; the median of each, and ratios;
* the share of packets that reached user space in long transfers (all that traffic, and a
  64 MiB BitTorrent download, plaintext and encrypted) — the kernel's counters (the queue
  rule's, and the packets the router forwarded);
* the daemon's rate with one worker: a flood of small UDP datagrams, each on a new flow
  (another source or destination port); packets judged per CPU second of the daemon, and per
  second of wall-clock time.

Numbers depend on the machine; the output says what ran. Nothing here is a pass/fail test.
"""

import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from . import netlab
from .clients import Libtorrent
from .enforce_lab import LIB, NETS, POLICY_ALL, Swarmwall, run_download, save, traffic_lab

PROBE = LIB / "traffic_probe.py"
PY = "/usr/bin/python3"


def nginx_conf(work, ip):
    www = work / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / "small").write_bytes(b"x" * 1024)
    with open(www / "big", "wb") as f:
        f.truncate(1 << 30)  # sparse: served from the page cache, the disk is not measured
    key, crt = work / "key.pem", work / "crt.pem"
    netlab.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=bench.test", "-keyout", str(key), "-out", str(crt)])
    tmp = work / "nginx-tmp"
    tmp.mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx.err;
events {{}}
http {{
  access_log off;
  sendfile on;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{
    listen {ip}:80;
    listen {ip}:443 ssl;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    root {www};
  }}
}}
""")
    return conf


def iperf(client, server, udp, seconds=6):
    argv = ["iperf3", "-c", server.ip, "-t", str(seconds), "-J"]
    if udp:
        argv += ["-u", "-b", "0", "-l", "1400"]
    js = json.loads(client.run(argv, timeout=30).stdout)
    end = js["end"]
    if udp:
        s = end["sum"]
        return s["bits_per_second"] * (1 - s.get("lost_percent", 0) / 100)
    return end["sum_received"]["bits_per_second"]


def curl(client, url):
    r = client.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{speed_download}", "--max-time", "30", url],
                   timeout=40)
    return float(r.stdout) * 8


def probe(host, *args):
    r = host.run([PY, str(PROBE), *map(str, args)], timeout=120)
    return json.loads(r.stdout.strip().splitlines()[-1])


CONNECTIONS, DNS_QUERIES, DNS_PARALLEL = 300, 1000, 5000
STATES = ("without", "stateful", "with")


def measurements(client, server):
    """{name: function measuring one kind of traffic once: a rate (bits/s or per second)}."""

    def connections():
        c = probe(client, "connections", server.ip, 80, CONNECTIONS)
        return c["per_second"] if c["ok"] == c["requests"] else 0.0

    def dns():
        d = probe(client, "dns", server.ip, "bench.test", DNS_QUERIES)
        return d["per_second"] if d["answered"] == d["queries"] else 0.0

    def dns_parallel():
        d = probe(client, "dns-parallel", server.ip, "bench.test", DNS_PARALLEL, 64)
        return d["per_second"] if d["answered"] >= 0.99 * d["queries"] else 0.0

    return {
        "iperf3_tcp_bits": lambda: iperf(client, server, False),
        "iperf3_udp_bits": lambda: iperf(client, server, True),
        "http_bits": lambda: curl(client, f"http://{server.ip}/big"),
        "https_bits": lambda: curl(client, f"https://{server.ip}/big"),
        "http_connections_per_second": connections,
        "dns_queries_per_second": dns,
        "dns_parallel_queries_per_second": dns_parallel,
    }


class RouterState:
    """Switches the router between the three states compared: *without* (no rule), *stateful*
    (the usual first rule, conntrack on) and *with* (that rule and swarmwall's rules). The
    daemon runs throughout; only the rules that send it packets come and go."""

    STATEFUL = ["FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]

    def __init__(self, router, sw):
        self.router, self.sw, self.state = router, sw, "without"

    def set(self, state):
        if state == self.state:
            return
        if self.state == "with":
            self.sw.remove()
        if self.state != "without":
            self.router.run(["iptables", "-w", "-D", *self.STATEFUL])
        if state != "without":
            self.router.run(["iptables", "-w", "-A", *self.STATEFUL])
        if state == "with":
            self.sw.install()
        self.state = state


def run_traffic(rounds=5, out=None, log=print):
    """Each kind of traffic measured in the three states back to back (each round starting
    with another state), so that drift over the run (a warmer page cache, a fuller conntrack
    table, other load) falls on all three alike; the median of the rounds, and ratios."""
    work = Path("/tmp/swarmwall-enforce") / "bench-traffic"
    shutil.rmtree(work, ignore_errors=True)
    result = {"bench": "traffic", "rounds": rounds}
    with netlab.Lab(NETS["traffic"], work) as lab:
        router, client, server = traffic_lab(lab, work)
        conf = nginx_conf(work, server.ip)
        server.spawn(["nginx", "-c", str(conf)], "nginx")
        server.spawn(["iperf3", "-s", "-B", server.ip], "iperf3-server")
        server.spawn(["dnsmasq", "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts",
                      f"--listen-address={server.ip}", "--bind-interfaces", "--user=root",
                      "--address=/bench.test/10.77.99.1", f"--pid-file={work}/dnsmasq.pid"], "dnsmasq")
        (work / "sw").mkdir()
        # As an operator would run it: decision events and counters, no record of every flow.
        sw = Swarmwall(lab, router, work / "sw", POLICY_ALL, flows=False)
        sw.start()
        rs = RouterState(router, sw)
        time.sleep(1.5)
        kinds = measurements(client, server)
        # The first read of the big file fills the page cache: not part of any state's figure.
        kinds["http_bits"]()
        runs = {st: [{} for _ in range(rounds)] for st in STATES}
        queued = [{} for _ in range(rounds)]
        q_all = t_all = 0
        try:
            for i in range(rounds):
                order = STATES[i % 3:] + STATES[:i % 3]
                for k, run in kinds.items():
                    for state in order:
                        rs.set(state)
                        before = sw.traffic() if state == "with" else (0, 0)
                        runs[state][i][k] = run()
                        if state == "with":
                            after = sw.traffic()
                            queued[i][k] = after[0] - before[0]
                            q_all += after[0] - before[0]
                            t_all += after[1] - before[1]
                for state in STATES:
                    m = runs[state][i]
                    log(f"  round {i + 1} {state}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items()))
        finally:
            rs.set("without")
            sw.stop()
        med = {s: {k: statistics.median(r[k] for r in rs_) for k in kinds} for s, rs_ in runs.items()}
        result["median"] = med
        result["ratio"] = {k: round(med["with"][k] / med["without"][k], 4) if med["without"][k] else None
                           for k in kinds}
        result["ratio_stateful"] = {k: round(med["with"][k] / med["stateful"][k], 4) if med["stateful"][k] else None
                                    for k in kinds}
        # The ratio of each round's own pair (state measured minutes apart never compared).
        result["ratio_stateful_rounds"] = {
            k: [round(runs["with"][i][k] / runs["stateful"][i][k], 4) if runs["stateful"][i][k] else None
                for i in range(rounds)] for k in kinds}
        result["userspace_all_traffic"] = {"queued": q_all, "packets": t_all,
                                           "share": round(q_all / t_all, 5) if t_all else None}
        # Packets queued per new flow of the one-flow-at-a-time probes (median over rounds).
        per = {"http_connections_per_second": CONNECTIONS, "dns_queries_per_second": DNS_QUERIES,
               "dns_parallel_queries_per_second": DNS_PARALLEL}
        result["queued_per_flow"] = {k: round(statistics.median(r[k] for r in queued) / n, 2)
                                     for k, n in per.items()}
        result["queued"] = queued
        result["runs"] = runs
    save(result, out)
    return result


# Rules copied `copies` times in the rules benchmark, each as a yardstick. A copy must not
# match a packet of a decided, allowed flow (it would end the chain), so that every copy costs
# what the original costs for such a packet.
def rule_yardsticks(allow):
    return {
        # swarmwall's own jumps, as installed (filled in from the router)
        "jumps": None,
        # the jumps swarmwall installed before: one rule per protocol and test, four
        "previous": [f"-A FORWARD -p {p} {m} -j SWARMWALL" for m in
                     (f"-m connmark ! --mark {allow}", "-m conntrack --ctstate INVALID,UNTRACKED")
                     for p in ("tcp", "udp")],
        # one rule of one test, which many routers have
        "drop-invalid": ["-A FORWARD -m conntrack --ctstate INVALID -j DROP"],
    }


def run_rules(rounds=5, copies=32, out=None, log=print):
    """What the rules that every packet of a decided flow crosses cost, by amplification.

    A difference of one or two percent is below this machine's round-to-round noise, so the
    rules are made to cost more: iperf3 TCP and UDP through the router with swarmwall (its
    flows decided and allowed, their packets crossing swarmwall's jumps and nothing else of
    it) and then with `copies` more copies of a set of rules right after those jumps — of the
    jumps themselves, of the previous layout's jumps, of a one-test rule many routers have.
    A copy costs a packet what the original costs, and `copies` of them cost well above the
    noise: with T the throughput with swarmwall alone and Tn with the copies, one set costs the
    share c = (T/Tn − 1)/n of the packet's cost, and on its own leaves 1/(1 + c) of the
    throughput. Also measured, for reference, the router without swarmwall (stateful)."""
    work = Path("/tmp/swarmwall-enforce") / "bench-rules"
    shutil.rmtree(work, ignore_errors=True)
    result = {"bench": "rules", "rounds": rounds, "copies": copies}
    with netlab.Lab(NETS["traffic"], work) as lab:
        router, client, server = traffic_lab(lab, work)
        server.spawn(["iperf3", "-s", "-B", server.ip], "iperf3-server")
        (work / "sw").mkdir()
        sw = Swarmwall(lab, router, work / "sw", POLICY_ALL, flows=False)
        sw.start()
        router.run(["iptables", "-w", "-A", *RouterState.STATEFUL])
        sw.install()
        base = router.run(["iptables-save"]).stdout.splitlines()
        jumps = [l for l in base if l.startswith("-A FORWARD") and l.endswith(" -j SWARMWALL")]
        marked = [j for j in jumps if "--mark " in j]
        if not marked:
            raise RuntimeError("the rules benchmark needs the iptables backend's jumps; found: "
                               + "; ".join(jumps))
        allow = marked[0].split("--mark ")[1].split()[0]
        sets = rule_yardsticks(allow)
        sets["jumps"] = jumps
        result["sets"] = sets

        def ruleset(name):
            lines = []
            for l in base:
                if name == "stateful" and l in jumps:
                    continue
                lines.append(l)
                if name in sets and l == jumps[-1]:
                    lines += sets[name] * copies
            return "\n".join(lines) + "\n"

        states = ["stateful", "swarmwall", *sets]
        texts = {st: ruleset(st) for st in states}
        runs = {st: {"tcp": [], "udp": []} for st in states}
        time.sleep(1.5)
        try:
            for i in range(rounds):
                order = states[i % len(states):] + states[:i % len(states)]
                for k in ("tcp", "udp"):
                    for st in order:
                        router.run(["iptables-restore", "-w"], input=texts[st])
                        runs[st][k].append(iperf(client, server, k == "udp", seconds=4))
                log(f"  round {i + 1}: " + "; ".join(
                    f"{st} {runs[st]['tcp'][-1] / 1e9:.3f}/{runs[st]['udp'][-1] / 1e9:.3f}" for st in states))
        finally:
            try:
                router.run(["iptables-restore", "-w"], input=texts["swarmwall"])
            finally:
                sw.stop()
                sw.remove()
    med = {st: {k: statistics.median(v) for k, v in r.items()} for st, r in runs.items()}
    result["median"] = med
    result["runs"] = runs
    # per set and kind: the share of a packet's cost one copy of the set adds
    result["per_copy"] = {name: {k: round((med["swarmwall"][k] / med[name][k] - 1) / copies, 5)
                                 for k in ("tcp", "udp")} for name in sets}
    result["ratio_stateful"] = {k: round(med["swarmwall"][k] / med["stateful"][k], 4) for k in ("tcp", "udp")}
    save(result, out)
    return result


def cpu_seconds(pid):
    """User and system CPU time of a process and its threads so far."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run_flood(packets=400_000, batch=128, out=None, log=print):
    """One worker (queue 0), a flood of new UDP flows; the judged rate while backlogged.
    `batch` 1 answers every packet on its own (as a queue library without batch verdicts)."""
    work = Path("/tmp/swarmwall-enforce") / f"bench-flood-{batch}"
    shutil.rmtree(work, ignore_errors=True)
    result = {"bench": "flood", "packets": packets, "workers": 1, "batch": batch}
    with netlab.Lab(NETS["traffic"], work) as lab:
        router, client, server = traffic_lab(lab, work)
        server.run(["iptables", "-w", "-A", "INPUT", "-p", "udp", "--dport", "9:16", "-j", "DROP"])
        sw = Swarmwall(lab, router, work, POLICY_ALL, queues="0-0",
                       args=["--queue-maxlen", "262144", "--batch", str(batch)])
        sw.install()
        sw.start()
        time.sleep(0.5)
        cpu0 = cpu_seconds(sw.proc.pid)
        samples = []
        flood = client.spawn([PY, str(PROBE), "flood", client.ip, server.ip, str(packets)], "flood")
        last = None
        deadline = time.time() + 120
        while time.time() < deadline:
            st = sw.stats().get("packets")
            if st is not None and st != last:
                samples.append((time.time(), st))
                last = st
            if flood.poll() is not None and len(samples) > 2 and time.time() - samples[-1][0] > 2.5:
                break
            time.sleep(0.05)
        cpu = cpu_seconds(sw.proc.pid) - cpu0
        sent = json.loads((client.dir / "flood.log").read_text().strip().splitlines()[-1])
        arrived = server.run(["iptables", "-w", "-L", "INPUT", "-n", "-v", "-x"]).stdout
        arrived = sum(int(l.split()[0]) for l in arrived.splitlines()[2:] if "dpts:9:16" in l)
        sw.stop()
        sw.remove()
        stats = sw.stats()
    # The best rate between consecutive statistics writes (one a second) while work was
    # waiting: the daemon judges as fast as it can only while the queue is not empty.
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:]) if b[0] > a[0]]
    result.update({
        "sender": sent,
        "judged": stats.get("packets"),
        "arrived_at_server": arrived,
        "passed_in_kernel": max(0, arrived - (stats.get("packets") or 0)),
        "overruns": stats.get("overruns"),
        "flows": stats.get("flows"),
        "daemon_cpu_seconds": round(cpu, 3),
        "judged_per_cpu_second": round((stats.get("packets") or 0) / cpu, 1) if cpu > 0 else None,
        "judged_per_second_best": round(max(rates), 1) if rates else None,
        "judged_per_second_median": round(statistics.median(rates), 1) if rates else None,
        "judged_per_second_overall": round((samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]), 1)
        if len(samples) > 1 and samples[-1][0] > samples[0][0] else None,
    })
    save(result, out)
    return result


def run_long_bt(out=None, log=print):
    """64 MiB BitTorrent downloads (libtorrent leecher, plaintext and encrypted), policy
    listing the other torrent: the share of the transfer's packets that were queued."""
    res = []
    for mode in ("plain", "mse"):
        r = run_download(mode, "hashes", clients=[Libtorrent], window=180, size_kb=64 << 10, out=None)
        res.append({"mode": mode, "ok": r["ok"], "have": r["have"], "userspace": r["userspace"],
                    "complete_seconds": r.get("complete_seconds")})
        log(f"  64 MiB {mode}: {r['userspace']}")
    result = {"bench": "long-bittorrent", "runs": res}
    save(result, out)
    return result


def write_doc(results, path):
    """docs/enforce.md from one `lab/enforce bench` run."""
    traffic = next((r for r in results if r["bench"] == "traffic"), None)
    floods = [r for r in results if r["bench"] == "flood"]
    flood = next((r for r in floods if r["batch"] > 1), None)
    single = next((r for r in floods if r["batch"] == 1), None)
    longbt = next((r for r in results if r["bench"] == "long-bittorrent"), None)
    rules = next((r for r in results if r["bench"] == "rules"), None)
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(LIB), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    L = ["# swarmwall enforce: measured cost", "",
         "Generated by `sudo lab/enforce bench` (lab/lib/enforce_bench.py) at commit "
         f"{commit}; rerun it to refresh. Round-to-round spread on this machine is several "
         "percent (the `runs` of lab/out/enforce-bench.jsonl): read single differences of a few "
         "percent as noise.",
         f"Machine: {os.cpu_count()} CPUs ({cpu}), {time.strftime('%Y-%m-%d')}. Everything — "
         "clients, router, daemon, servers — shares these CPUs, so these are lower bounds for a "
         "router with cores of its own.", ""]
    if traffic:
        bulk = {"iperf3_tcp_bits": ("iperf3 TCP", "Gbit/s", 1e-9),
                "iperf3_udp_bits": ("iperf3 UDP (1400-byte datagrams, received)", "Gbit/s", 1e-9),
                "http_bits": ("HTTP download, 1 GiB (nginx, curl)", "Gbit/s", 1e-9),
                "https_bits": ("HTTPS download, 1 GiB", "Gbit/s", 1e-9),
                "dns_parallel_queries_per_second": ("DNS queries, 64 outstanding, a new UDP flow each (dnsmasq)", "per s", 1)}
        serial = {"http_connections_per_second": ("HTTP requests, a new connection each", "per s", 1),
                  "dns_queries_per_second": ("DNS queries one after the other, a new UDP flow each", "per s", 1)}
        med, rs, rb = traffic["median"], traffic["ratio_stateful"], traffic["ratio"]
        per_flow = traffic.get("queued_per_flow", {})
        L += ["## Other traffic through the router", "",
              f"Median of {traffic['rounds']} rounds, each measuring the router in three states, each "
              "round starting with another: "
              "*bare* (no firewall rule: conntrack is not even running), *stateful* (one rule, "
              "`-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`, as on most routers: conntrack "
              "on), and *swarmwall* (stateful, plus `rules install --hook forward` and `enforce` on 2 "
              "queues, policy \"block all BitTorrent\"). swarmwall needs conntrack (decided flows live "
              "in the conntrack mark), so on a bare router it brings conntrack's cost along.", "",
              "### Throughput", "",
              "Goal: ≥ 97% of the router without swarmwall.", "",
              "*rounds*: swarmwall / stateful within each round, lowest and highest — the noise "
              "of this machine.", "",
              "| traffic | bare | stateful | swarmwall | swarmwall / stateful | rounds | swarmwall / bare |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        per_round = traffic.get("ratio_stateful_rounds", {})
        for k, (label, unit, f) in bulk.items():
            a, c, b = (med[st][k] for st in ("without", "stateful", "with"))
            rr = [x for x in per_round.get(k, []) if x is not None]
            spread = f"{min(rr):.0%}–{max(rr):.0%}" if rr else "–"
            L.append(f"| {label} | {a * f:.3g} {unit} | {c * f:.3g} {unit} | {b * f:.3g} {unit} | "
                     f"{rs[k]:.1%} | {spread} | {rb[k]:.1%} |")
        L += ["", "### New flows one at a time", "",
              "Each flow here waits for the one before it, and its first packets wait for the "
              "daemon's verdict (the engine must see a flow's first payload before it can tell "
              "it is not BitTorrent), so these rates are bound by latency: they show what a new "
              "flow costs, not throughput. *queued per flow*: packets of each flow that reached "
              "the daemon (kernel counters); *added per flow*: 1/rate with swarmwall − 1/rate "
              "stateful. The goal above is not met by these.", "",
              "| traffic | bare | stateful | swarmwall | swarmwall / stateful | queued per flow | added per flow |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for k, (label, unit, f) in serial.items():
            a, c, b = (med[st][k] for st in ("without", "stateful", "with"))
            added = (1 / b - 1 / c) * 1e6 if b and c else None
            q = per_flow.get(k)
            L.append(f"| {label} | {a * f:.3g} {unit} | {c * f:.3g} {unit} | {b * f:.3g} {unit} | "
                     f"{rs[k]:.1%} | {'–' if q is None else q} | "
                     f"{'–' if added is None else f'{added:.0f} µs'} |")
        u = traffic["userspace_all_traffic"]
        L += ["", f"Packets of all that traffic that reached user space: {u['queued']} of {u['packets']} "
              f"({u['share']:.3%}).", ""]
    if rules:
        med, pc, n = rules["median"], rules["per_copy"], rules["copies"]
        label = {"jumps": f"swarmwall's jumps ({len(rules['sets']['jumps'])} rules, one test each)",
                 "previous": "the jumps swarmwall installed before (4 rules: TCP and UDP apart)",
                 "drop-invalid": "yardstick: `-m conntrack --ctstate INVALID -j DROP`"}
        L += ["## What a decided flow's packet costs in the kernel", "",
              "Once a flow is decided, its packets cross swarmwall's jumps in the hook (and, for a "
              "flow allowed for good, nothing else of it). That cost is a few percent at most, "
              "below the round-to-round noise above, so it is measured by amplification "
              f"(`lab/enforce bench rules`): iperf3 TCP and UDP (4 s each, median of {rules['rounds']} "
              f"rounds) through the router with swarmwall, then with {n} more copies of a set of "
              "rules right after its jumps. Each copy costs a packet what the original costs; with "
              f"T the throughput with swarmwall alone and T{n} with the copies, one set costs the share "
              f"c = (T/T{n} − 1)/{n} of the cost of forwarding a packet here, and alone leaves "
              "1/(1 + c) of the throughput.", "",
              f"| rules copied | TCP with {n} copies | one set: share of throughput lost, TCP | "
              f"UDP with {n} copies | one set, UDP |", "|---|---:|---:|---:|---:|"]
        for name, sets_pc in pc.items():
            L.append(f"| {label.get(name, name)} | {med[name]['tcp'] * 1e-9:.3g} Gbit/s | "
                     f"{1 - 1 / (1 + sets_pc['tcp']):.2%} | {med[name]['udp'] * 1e-9:.3g} Gbit/s | "
                     f"{1 - 1 / (1 + sets_pc['udp']):.2%} |")
        L += ["", f"With swarmwall alone: TCP {med['swarmwall']['tcp'] * 1e-9:.3g} Gbit/s, UDP "
              f"{med['swarmwall']['udp'] * 1e-9:.3g} Gbit/s; without it (stateful): TCP "
              f"{med['stateful']['tcp'] * 1e-9:.3g}, UDP {med['stateful']['udp'] * 1e-9:.3g} Gbit/s "
              f"({rules['ratio_stateful']['tcp']:.1%} and {rules['ratio_stateful']['udp']:.1%}: "
              "the direct comparison, as noisy as the throughput table above).", ""]
    if longbt:
        L += ["## Share of a long transfer that reaches user space", "",
              "A libtorrent leecher downloads a 64 MiB torrent from a libtorrent seeder through the "
              "router (policy: another torrent listed). Packets queued to the daemon / packets "
              "the router forwarded (kernel counters). Goal: under 1%.", "",
              "| connection | queued | packets | share | download complete |", "|---|---:|---:|---:|---|"]
        for r in longbt["runs"]:
            u = r["userspace"]
            label = {"plain": "plaintext TCP", "mse": "encrypted (MSE/PE, RC4 required)"}[r["mode"]]
            L.append(f"| {label} | {u['queued']} | {u['packets']} | {u['share']:.3%} | "
                     f"{'yes' if r['ok'] else 'no'} ({r['complete_seconds']} s) |")
        L.append("")
    if flood:
        L += ["## Daemon rate, one worker", "",
              f"{flood['packets']} UDP datagrams of 32 bytes, {flood['sender']['flows']} flows (each "
              f"datagram from another source or to another destination port), sent by a raw socket as "
              f"fast as it goes ({flood['sender']['per_second']:.0f}/s); one queue, one worker, up to "
              f"{flood['batch']} packets per wake-up, a flow table of 262 144 flows (the default "
              f"`--max-flows`: the flow idle the longest is ended when it is full).", "",
              f"- packets judged per CPU second of the daemon: **{flood['judged_per_cpu_second']:.0f}** "
              f"({flood['judged']} packets in {flood['daemon_cpu_seconds']} s of user and system time: "
              "what one worker sustains on one core of its own)",
              f"- packets judged per second of wall-clock time, the sender sharing the CPUs: best 1 s "
              f"interval {flood['judged_per_second_best']:.0f}, overall {flood['judged_per_second_overall']:.0f}",
              f"- judged {flood['judged']}, arrived at the server {flood['arrived_at_server']}; "
              f"{flood['passed_in_kernel']} passed in the kernel without reaching the daemon (the "
              "queue was full and failed open, or the flow was already decided)",
              "", "Each judged datagram opens a new flow (and is its last: a datagram no "
              "BitTorrent protocol recognises settles a UDP flow), so the figure is also the rate "
              "of new flows one worker takes.", ""]
        if single:
            L += [f"The same flood answered one packet at a time (`--batch 1`: a read and a verdict "
                  f"per packet, what a queue library without batch verdicts does): "
                  f"{single['judged_per_cpu_second']:.0f} packets judged per CPU second, against "
                  f"{flood['judged_per_cpu_second']:.0f} batched.", ""]
    Path(path).write_text("\n".join(L))
