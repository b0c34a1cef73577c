//! core/v1 Service.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.Service",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("core.v1.ServiceSpec")),
            (3, "status", Msg("core.v1.ServiceStatus")),
        ],
    ),
    (
        "core.v1.ServiceSpec",
        &[
            (1, "ports", List(&Msg("core.v1.ServicePort"))),
            (2, "selector", Map(&Str)),
            (3, "clusterIP", Str),
            (18, "clusterIPs", List(&Str)),
            (4, "type", Str),
            (5, "externalIPs", List(&Str)),
            (7, "sessionAffinity", Str),
            (8, "loadBalancerIP", Str),
            (9, "loadBalancerSourceRanges", List(&Str)),
            (10, "externalName", Str),
            (11, "externalTrafficPolicy", Str),
            (12, "healthCheckNodePort", Int),
            (13, "publishNotReadyAddresses", Bool),
            (
                14,
                "sessionAffinityConfig",
                Msg("core.v1.SessionAffinityConfig"),
            ),
            (19, "ipFamilies", List(&Str)),
            (17, "ipFamilyPolicy", KeepStr),
            (20, "allocateLoadBalancerNodePorts", KeepBool),
            (21, "loadBalancerClass", KeepStr),
            (22, "internalTrafficPolicy", KeepStr),
            (23, "trafficDistribution", KeepStr),
        ],
    ),
    (
        "core.v1.ServicePort",
        &[
            (1, "name", Str),
            (2, "protocol", Str),
            (6, "appProtocol", KeepStr),
            (3, "port", KeepInt),
            (4, "targetPort", IntOrStr),
            (5, "nodePort", Int),
        ],
    ),
    (
        "core.v1.ServiceStatus",
        &[
            (1, "loadBalancer", Msg("core.v1.LoadBalancerStatus")),
            (2, "conditions", List(&Msg("meta.v1.Condition"))),
        ],
    ),
    (
        "core.v1.SessionAffinityConfig",
        &[(1, "clientIP", Msg("core.v1.ClientIPConfig"))],
    ),
    ("core.v1.ClientIPConfig", &[(1, "timeoutSeconds", KeepInt)]),
    (
        "core.v1.LoadBalancerStatus",
        &[(1, "ingress", List(&Msg("core.v1.LoadBalancerIngress")))],
    ),
    (
        "core.v1.LoadBalancerIngress",
        &[
            (1, "ip", Str),
            (2, "hostname", Str),
            (3, "ipMode", KeepStr),
            (4, "ports", List(&Msg("core.v1.PortStatus"))),
        ],
    ),
    (
        "core.v1.PortStatus",
        &[
            (1, "port", KeepInt),
            (2, "protocol", KeepStr),
            (3, "error", KeepStr),
        ],
    ),
];
