//! `/containerLogs/{ns}/{pod}/{container}`: the container's log file in the
//! CRI format (`<RFC3339Nano> <stream> <P|F> <text>`, partial lines joined),
//! with upstream's options: follow, tailLines, previous, timestamps,
//! sinceSeconds, limitBytes.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use k8s_cri::v1::{ContainerState, ContainerStatusRequest};
use k8s_openapi::jiff::Timestamp;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::find_container;
use crate::kubelet::Ctx;

/// How often a followed log is looked at for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Options {
    follow: bool,
    previous: bool,
    timestamps: bool,
    tail: Option<usize>,
    since: Option<Timestamp>,
    limit: Option<usize>,
}

fn options(q: &HashMap<String, String>) -> Result<Options, String> {
    let flag = |k: &str| matches!(q.get(k).map(String::as_str), Some("true" | "1"));
    let num = |k: &str| -> Result<Option<i64>, String> {
        q.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("{k}: {v} is not a number"))
            })
            .transpose()
    };
    Ok(Options {
        follow: flag("follow"),
        previous: flag("previous"),
        timestamps: flag("timestamps"),
        tail: num("tailLines")?.map(|n| n.max(0) as usize),
        since: num("sinceSeconds")?
            .map(|s| Timestamp::now() - std::time::Duration::from_secs(s.max(0) as u64))
            .or(q.get("sinceTime").and_then(|t| t.parse().ok())),
        limit: num("limitBytes")?.map(|n| n.max(0) as usize),
    })
}

/// One log line as written by the runtime.
struct Line<'a> {
    time: &'a str,
    partial: bool,
    text: &'a str,
}

fn parse(line: &str) -> Option<Line<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    Some(Line {
        time,
        partial: tag.split(':').next() == Some("P"),
        text,
    })
}

/// Whole log lines (partials joined) out of the runtime's records.
fn render(records: &str, o: &Options, pending: &mut String) -> Vec<String> {
    let mut out = Vec::new();
    for record in records.lines() {
        let Some(l) = parse(record) else { continue };
        if let Some(since) = o.since
            && l.time.parse::<Timestamp>().is_ok_and(|t| t < since)
        {
            continue;
        }
        if pending.is_empty() && o.timestamps {
            pending.push_str(l.time);
            pending.push(' ');
        }
        pending.push_str(l.text);
        if !l.partial {
            pending.push('\n');
            out.push(std::mem::take(pending));
        }
    }
    out
}

pub async fn serve(
    State(ctx): State<Ctx>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let o = match options(&q) {
        Ok(o) => o,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let (id, path) = match find_container(&ctx, &ns, &pod, &container, o.previous).await {
        Ok(found) => found,
        Err((code, message)) => return (code, message).into_response(),
    };
    let text = match tokio::fs::read(&path).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            return (
                StatusCode::NOT_FOUND,
                format!("reading the log of container {container}: {e}"),
            )
                .into_response();
        }
    };
    let consumed = text.rfind('\n').map_or(0, |i| i + 1);
    let mut pending = String::new();
    let mut lines = render(&text[..consumed], &o, &mut pending);
    if let Some(n) = o.tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let mut first: String = lines.concat();
    if let Some(limit) = o.limit
        && limit < first.len()
    {
        // limitBytes may fall inside a character: cut before it.
        let cut = (0..=limit)
            .rev()
            .find(|i| first.is_char_boundary(*i))
            .unwrap_or(0);
        first.truncate(cut);
    }
    if !o.follow {
        return ([("content-type", "text/plain")], first).into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(first))).await.is_err() {
            return;
        }
        follow(ctx, id, path, consumed as u64, o, pending, tx).await;
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    ([("content-type", "text/plain")], Body::from_stream(stream)).into_response()
}

/// Sends what is appended to the log until the container stops or the
/// client goes away.
async fn follow(
    ctx: Ctx,
    id: String,
    path: String,
    mut offset: u64,
    o: Options,
    mut pending: String,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut carry = Vec::new();
    loop {
        let mut appended = Vec::new();
        if let Ok(mut f) = tokio::fs::File::open(&path).await
            && f.seek(std::io::SeekFrom::Start(offset)).await.is_ok()
        {
            let _ = f.read_to_end(&mut appended).await;
        }
        offset += appended.len() as u64;
        carry.extend_from_slice(&appended);
        if let Some(end) = carry.iter().rposition(|b| *b == b'\n') {
            let complete: Vec<u8> = carry.drain(..=end).collect();
            let text = String::from_utf8_lossy(&complete);
            let out = render(&text, &o, &mut pending).concat();
            if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                return;
            }
        }
        if appended.is_empty() {
            let running = ctx
                .cri
                .runtime
                .clone()
                .container_status(ContainerStatusRequest {
                    container_id: id.clone(),
                    verbose: false,
                })
                .await
                .ok()
                .and_then(|r| r.into_inner().status)
                .is_some_and(|s| s.state == ContainerState::ContainerRunning as i32);
            if !running || tx.is_closed() {
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_partials_and_keeps_timestamps_on_request() {
        let records = "2026-01-01T00:00:00.1Z stdout P hel\n2026-01-01T00:00:00.2Z stdout F lo\n2026-01-01T00:00:01Z stderr F oops\n";
        let mut pending = String::new();
        let lines = render(records, &Options::default(), &mut pending);
        assert_eq!(lines, ["hello\n", "oops\n"]);
        let o = Options {
            timestamps: true,
            ..Default::default()
        };
        let lines = render(records, &o, &mut String::new());
        assert_eq!(lines[0], "2026-01-01T00:00:00.1Z hello\n");
        let since = Options {
            since: Some("2026-01-01T00:00:00.5Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(render(records, &since, &mut String::new()), ["oops\n"]);
        // A partial line at the end waits for its rest.
        let mut pending = String::new();
        assert!(
            render(
                "2026-01-01T00:00:00Z stdout P abc\n",
                &Options::default(),
                &mut pending
            )
            .is_empty()
        );
        assert_eq!(
            render(
                "2026-01-01T00:00:00Z stdout F def\n",
                &Options::default(),
                &mut pending
            ),
            ["abcdef\n"]
        );
    }
}
