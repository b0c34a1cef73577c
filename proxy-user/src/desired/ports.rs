//! Matching a service port to EndpointSlice ports.
//!
//! The EndpointSlice controller has already resolved `targetPort` (numeric or
//! named, per pod) into each slice port's number, so upstream never looks at
//! `targetPort`: it joins on (name, protocol) and takes the slice's number.

use k8s_openapi::api::discovery::v1::EndpointPort;

use super::Protocol;

/// The API server defaults an absent protocol to TCP. SCTP (and anything
/// unknown) gives `None`: it is not balanced at the socket level.
pub(crate) fn protocol(p: Option<&str>) -> Option<Protocol> {
    match p.unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        _ => None,
    }
}

/// A usable port number; 0 and out-of-range values are not.
pub(crate) fn number(port: i32) -> Option<u16> {
    u16::try_from(port).ok().filter(|p| *p != 0)
}

/// The backend port if `slice_port` serves the service port `name`/`protocol`.
/// An absent name equals the empty name: single-port services leave it unset.
pub(crate) fn backend_port(
    slice_port: &EndpointPort,
    name: &str,
    protocol: Protocol,
) -> Option<u16> {
    let same_name = slice_port.name.as_deref().unwrap_or("") == name;
    let same_protocol = self::protocol(slice_port.protocol.as_deref()) == Some(protocol);
    if !(same_name && same_protocol) {
        return None;
    }
    // Upstream skips number-less ports (meant as "all ports", never implemented).
    number(slice_port.port?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backend_port_table() {
        // (case, slice port, service port name, protocol, backend port)
        let cases = [
            (
                "named match",
                json!({"name": "http", "port": 8080, "protocol": "TCP"}),
                "http",
                Protocol::Tcp,
                Some(8080),
            ),
            (
                "name differs",
                json!({"name": "https", "port": 8443, "protocol": "TCP"}),
                "http",
                Protocol::Tcp,
                None,
            ),
            (
                "protocol differs",
                json!({"name": "dns", "port": 53, "protocol": "UDP"}),
                "dns",
                Protocol::Tcp,
                None,
            ),
            (
                "empty name matches absent",
                json!({"port": 80, "protocol": "TCP"}),
                "",
                Protocol::Tcp,
                Some(80),
            ),
            (
                "empty name matches empty",
                json!({"name": "", "port": 80}),
                "",
                Protocol::Tcp,
                Some(80),
            ),
            (
                "absent name is not a named port",
                json!({"port": 80}),
                "http",
                Protocol::Tcp,
                None,
            ),
            (
                "no port number",
                json!({"name": "http", "protocol": "TCP"}),
                "http",
                Protocol::Tcp,
                None,
            ),
            (
                "port 0",
                json!({"name": "http", "port": 0}),
                "http",
                Protocol::Tcp,
                None,
            ),
            (
                "SCTP never matches",
                json!({"name": "s", "port": 9, "protocol": "SCTP"}),
                "s",
                Protocol::Tcp,
                None,
            ),
        ];
        for (case, port, name, proto, want) in cases {
            let port: EndpointPort = serde_json::from_value(port).unwrap();
            assert_eq!(backend_port(&port, name, proto), want, "{case}");
        }
    }
}
