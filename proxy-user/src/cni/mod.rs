//! `skiff-cni`, a CNI 1.0 plugin: pod interfaces, addresses from the node's
//! pod CIDR, and the pod's place in the agent's eBPF datapath. Invoked as
//! `loopback` (or with that type) it brings the pod's `lo` up instead.

mod add;
mod check;
pub mod config;
mod del;
mod endpoint;
pub mod env;
pub mod error;
pub mod ipam;
mod loopback;
pub mod pod;
pub mod result;
pub mod version;

use std::io::Read as _;

use env::{Command, Env};
use error::{CniError, CniResult, code};

/// What the plugin prints on stdout, and its exit status.
pub struct Outcome {
    pub stdout: String,
    pub status: i32,
}

/// Runs one invocation. `program` is the name it was invoked under.
pub fn main(program: &str) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return failure(CniError::new(code::IO_FAILURE, format!("tokio: {e}"))),
    };
    match runtime.block_on(run(program)) {
        Ok(out) => Outcome {
            stdout: out.map(|o| o + "\n").unwrap_or_default(),
            status: 0,
        },
        Err(e) => failure(e),
    }
}

fn failure(e: CniError) -> Outcome {
    Outcome {
        stdout: json(&e) + "\n",
        status: 1,
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializable")
}

async fn run(program: &str) -> CniResult<Option<String>> {
    let command = env::command()?;
    let mut stdin = Vec::new();
    std::io::stdin()
        .read_to_end(&mut stdin)
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("reading stdin: {e}")))?;
    if command == Command::Version {
        return Ok(Some(json(&version::info())));
    }
    let conf = config::parse(&stdin)?;
    let in_version = |mut e: CniError| {
        e.cni_version = conf.cni_version.clone();
        e
    };
    version::check(&conf.cni_version).map_err(in_version)?;
    let env = Env::read(command).map_err(in_version)?;
    if program == config::LOOPBACK_TYPE || conf.kind == config::LOOPBACK_TYPE {
        let out = loopback::run(&env, &conf.cni_version)
            .await
            .map_err(in_version)?;
        return Ok(out.map(|o| json(&o)));
    }
    if conf.kind != config::TYPE {
        return Err(in_version(CniError::new(
            code::INVALID_CONFIG,
            format!(
                "this plugin is type {:?} or {:?}, not {:?}",
                config::TYPE,
                config::LOOPBACK_TYPE,
                conf.kind
            ),
        )));
    }
    let pod = conf.pod().map_err(in_version)?;
    match command {
        Command::Add => add::add(&env, &conf.cni_version, &pod)
            .await
            .map(|o| Some(json(&o))),
        Command::Del => del::del(&env, &pod).await.map(|()| None),
        Command::Check => check::check(&env, &pod).await.map(|()| None),
        Command::Version => unreachable!("answered above"),
    }
    .map_err(in_version)
}
