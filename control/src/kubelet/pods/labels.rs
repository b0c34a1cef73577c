//! The labels and annotations the kubelet puts on CRI objects, as upstream's
//! kubelet names them, so a restarted kubelet finds its pods and containers
//! again from the runtime alone.

pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Annotation: a hash of what the container was made from (image).
pub const CONTAINER_HASH: &str = "io.kubernetes.container.hash";
/// Annotation: the grace period to stop it with when the pod is gone.
pub const GRACE: &str = "io.kubernetes.pod.terminationGracePeriod";
