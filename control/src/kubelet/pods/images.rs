//! Images: asked of the runtime first, pulled only when absent (or when the
//! policy says Always); a pull that fails says why, and the pod shows
//! ErrImagePull, then ImagePullBackOff, never a hang.

use k8s_cri::v1::{ImageSpec, ImageStatusRequest, PullImageRequest};
use k8s_openapi::api::core::v1::Container;

use super::Failure;

/// A pull that has not finished by then fails (and is retried with back-off)
/// instead of leaving the pod waiting without a word.
const PULL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
use crate::kubelet::cri::Cri;

/// The pull policy upstream defaults to: Always for `:latest` or no tag.
fn policy(c: &Container) -> &str {
    match c.image_pull_policy.as_deref() {
        Some(p) => p,
        None => {
            let image = c.image.as_deref().unwrap_or_default();
            let last = image.rsplit('/').next().unwrap_or(image);
            if image.contains('@') {
                "IfNotPresent"
            } else if !last.contains(':') || last.ends_with(":latest") {
                "Always"
            } else {
                "IfNotPresent"
            }
        }
    }
}

/// The image reference the runtime knows the image by.
pub async fn ensure(cri: &Cri, c: &Container) -> Result<String, Failure> {
    let image = c.image.clone().unwrap_or_default();
    if image.is_empty() {
        return Err(Failure::new(
            "InvalidImageName",
            "the container has no image",
        ));
    }
    let spec = ImageSpec {
        image: image.clone(),
        ..Default::default()
    };
    let present = cri
        .images
        .clone()
        .image_status(ImageStatusRequest {
            image: Some(spec.clone()),
            verbose: false,
        })
        .await
        .map_err(|s| {
            Failure::new(
                "ErrImagePull",
                format!("image status of {image}: {}", s.message()),
            )
        })?
        .into_inner()
        .image;
    let policy = policy(c);
    if let Some(found) = present.as_ref().filter(|_| policy != "Always") {
        return Ok(found.id.clone());
    }
    if policy == "Never" {
        return Err(Failure::new(
            "ErrImageNeverPull",
            format!("Container image \"{image}\" is not present with pull policy of Never"),
        ));
    }
    let mut images = cri.images.clone();
    let pull = images.pull_image(PullImageRequest {
        image: Some(spec),
        ..Default::default()
    });
    let pulled = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
        Ok(r) => r,
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "no answer from the registry in {}s",
            PULL_TIMEOUT.as_secs()
        ))),
    };
    match pulled {
        Ok(r) => Ok(r.into_inner().image_ref),
        // An image present locally still serves when a pull (policy
        // Always) cannot reach its registry.
        Err(_) if present.is_some() => Ok(present.map(|p| p.id).unwrap_or_default()),
        Err(s) => Err(Failure::new(
            "ErrImagePull",
            format!("failed to pull image \"{image}\": {}", s.message()),
        )),
    }
}
