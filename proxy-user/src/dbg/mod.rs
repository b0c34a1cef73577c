//! The debug CLI's views of the pinned maps: tables for people, JSON for
//! scripts.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::maps::{LbMaps, NetMaps, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum View {
    /// Frontends with their flags, affinity timeout and backends.
    Services,
    /// Every backend by id.
    Backends,
    /// ClientIP affinity entries.
    Affinity,
    /// Per-service counters, summed over CPUs.
    Stats,
    /// Pods of this node: address, host-side veth, MACs.
    Endpoints,
    /// Other nodes' pod CIDRs and the node each is routed to, with the
    /// routing mode and the programs' packet counters.
    Routes,
}

fn frontend(s: &crate::maps::ServiceView) -> String {
    let f = &s.frontend;
    let proto = format!("{:?}", f.protocol).to_uppercase();
    match f.ip {
        std::net::IpAddr::V4(ip) => format!("{ip}:{}/{proto}", f.port),
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}/{proto}", f.port),
    }
}

fn endpoint(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(ip) => format!("{ip}:{port}"),
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}   ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(
        &mut out,
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    );
    for row in &rows {
        line(&mut out, row);
    }
    out
}

fn json<T: Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

pub fn render(pin_dir: &Path, view: View, output: Output) -> anyhow::Result<String> {
    if matches!(view, View::Endpoints | View::Routes) {
        return render_net(pin_dir, view, output);
    }
    let maps = LbMaps::open_pinned(pin_dir)?;
    let snap: Snapshot = maps.snapshot()?;
    match view {
        View::Services => match output {
            Output::Json => json(&snap.services),
            Output::Table => Ok(table(
                &["FRONTEND", "ID", "FLAGS", "AFFINITY", "BACKENDS"],
                snap.services
                    .iter()
                    .map(|s| {
                        let backends = if s.backends.is_empty() {
                            "(none: refused)".to_string()
                        } else {
                            s.backends
                                .iter()
                                .map(|b| {
                                    let t = if b.terminating { " (terminating)" } else { "" };
                                    format!("#{} {}{t}", b.id, endpoint(b.ip, b.port))
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        vec![
                            frontend(s),
                            s.id.to_string(),
                            if s.flags.is_empty() {
                                "-".into()
                            } else {
                                s.flags.join(",")
                            },
                            s.affinity_timeout
                                .map(|t| format!("{t}s"))
                                .unwrap_or_else(|| "-".into()),
                            backends,
                        ]
                    })
                    .collect(),
            )),
        },
        View::Backends => match output {
            Output::Json => json(&snap.backends.values().collect::<Vec<_>>()),
            Output::Table => Ok(table(
                &["ID", "ADDRESS", "PROTOCOL", "STATE"],
                snap.backends
                    .values()
                    .map(|b| {
                        vec![
                            b.id.to_string(),
                            endpoint(b.ip, b.port),
                            b.protocol
                                .map(|p| format!("{p:?}").to_uppercase())
                                .unwrap_or_else(|| "?".into()),
                            if b.terminating {
                                "terminating"
                            } else {
                                "active"
                            }
                            .into(),
                        ]
                    })
                    .collect(),
            )),
        },
        View::Affinity => {
            let entries = maps.affinity_entries()?;
            match output {
                Output::Json => json(&entries),
                Output::Table => Ok(table(
                    &["CLIENT NETNS", "SERVICE ID", "BACKEND ID", "LAST USED (ns)"],
                    entries
                        .iter()
                        .map(|a| {
                            vec![
                                a.netns_cookie.to_string(),
                                a.service_id.to_string(),
                                a.backend_id.to_string(),
                                a.last_used_ns.to_string(),
                            ]
                        })
                        .collect(),
                )),
            }
        }
        View::Stats => {
            let stats = maps.stats_for(snap.services.iter().map(|s| s.id))?;
            match output {
                Output::Json => {
                    #[derive(Serialize)]
                    struct Row<'a> {
                        frontend: String,
                        #[serde(flatten)]
                        stats: &'a crate::maps::StatsView,
                    }
                    let rows: Vec<Row> = snap
                        .services
                        .iter()
                        .zip(&stats)
                        .map(|(s, st)| Row {
                            frontend: frontend(s),
                            stats: st,
                        })
                        .collect();
                    json(&rows)
                }
                Output::Table => Ok(table(
                    &["FRONTEND", "ID", "BALANCED", "REFUSED", "AFFINITY HITS"],
                    snap.services
                        .iter()
                        .zip(&stats)
                        .map(|(s, st)| {
                            vec![
                                frontend(s),
                                s.id.to_string(),
                                st.balanced.to_string(),
                                st.refused.to_string(),
                                st.affinity_hits.to_string(),
                            ]
                        })
                        .collect(),
                )),
            }
        }
        View::Endpoints | View::Routes => unreachable!("rendered by render_net"),
    }
}

fn render_net(pin_dir: &Path, view: View, output: Output) -> anyhow::Result<String> {
    let maps = NetMaps::open_pinned(pin_dir)?;
    match (view, output) {
        (View::Endpoints, Output::Json) => json(&maps.endpoint_views()?),
        (View::Endpoints, Output::Table) => Ok(table(
            &["POD IP", "VETH", "IFINDEX", "POD MAC", "HOST MAC"],
            maps.endpoint_views()?
                .into_iter()
                .map(|e| {
                    vec![
                        e.ip.to_string(),
                        e.interface.unwrap_or_else(|| "(gone)".into()),
                        e.ifindex.to_string(),
                        e.pod_mac,
                        e.host_mac,
                    ]
                })
                .collect(),
        )),
        (View::Routes, Output::Json) => json(&maps.routes()?),
        (_, _) => {
            let cfg = maps.config.get(&0, 0)?;
            let mode = match cfg.mode {
                proxy_ebpf::ROUTING_DIRECT => "direct",
                proxy_ebpf::ROUTING_VXLAN => "vxlan",
                _ => "kernel",
            };
            let mut out = table(
                &["POD CIDR", "NODE"],
                maps.routes()?
                    .into_iter()
                    .map(|r| vec![r.cidr.to_string(), r.node.to_string()])
                    .collect(),
            );
            let counters = maps
                .stats()?
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(
                out,
                "\nrouting: {mode} (uplink ifindex {}, vxlan ifindex {}, vni {})\npackets: {counters}\n",
                cfg.uplink_ifindex, cfg.vxlan_ifindex, cfg.vni
            );
            Ok(out)
        }
    }
}
