//! The container runtime, through CRI (runtime.v1) over its unix socket.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

/// Both CRI services over one channel; clones share the connection.
#[derive(Clone)]
pub struct Cri {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    /// Connects to `unix:///path` and checks that the runtime answers.
    pub async fn connect(endpoint: &str) -> anyhow::Result<Self> {
        let path = socket_path(endpoint)?;
        let dialed = path.clone();
        // The URI is required by tonic but unused: the connector dials the socket.
        let channel = Endpoint::try_from("http://[::]:0")?
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = dialed.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .with_context(|| {
                format!(
                    "cannot reach the container runtime at {}: is containerd running? (--container-runtime-endpoint)",
                    path.display()
                )
            })?;
        let mut cri = Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        };
        cri.runtime
            .version(k8s_cri::v1::VersionRequest::default())
            .await
            .with_context(|| {
                format!(
                    "{} does not answer CRI runtime.v1: is its CRI plugin enabled?",
                    path.display()
                )
            })?;
        Ok(cri)
    }
}

fn socket_path(endpoint: &str) -> anyhow::Result<PathBuf> {
    match endpoint.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ if endpoint.starts_with('/') => Ok(PathBuf::from(endpoint)),
        _ => bail!("{endpoint}: expected unix:///path/to/socket"),
    }
}
