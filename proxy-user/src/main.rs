use clap::Parser as _;
use proxy_user::{agent, config::Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let cfg = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let result = if cfg.cleanup {
        agent::cleanup(&cfg).await
    } else {
        agent::run(cfg).await
    };
    if let Err(e) = result {
        eprintln!("skiff-proxy: {e:#}");
        std::process::exit(1);
    }
}
