//! The small groups: discovery/v1 EndpointSlice, coordination/v1 Lease,
//! policy/v1 Eviction, autoscaling/v1 Scale, authentication/v1 TokenRequest.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "authentication.v1.TokenRequest",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("authentication.v1.TokenRequestSpec")),
            (3, "status", Msg("authentication.v1.TokenRequestStatus")),
        ],
    ),
    (
        "authentication.v1.TokenRequestSpec",
        &[
            (1, "audiences", List(&Str)),
            (4, "expirationSeconds", Int),
            (
                3,
                "boundObjectRef",
                Msg("authentication.v1.BoundObjectReference"),
            ),
        ],
    ),
    (
        "authentication.v1.BoundObjectReference",
        &[
            (1, "kind", Str),
            (2, "apiVersion", Str),
            (3, "name", Str),
            (4, "uid", Str),
        ],
    ),
    (
        "authentication.v1.TokenRequestStatus",
        &[(1, "token", KeepStr), (2, "expirationTimestamp", Time)],
    ),
    (
        "discovery.v1.EndpointSlice",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (4, "addressType", KeepStr),
            (2, "endpoints", List(&Msg("discovery.v1.Endpoint"))),
            (3, "ports", List(&Msg("discovery.v1.EndpointPort"))),
        ],
    ),
    (
        "coordination.v1.Lease",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("coordination.v1.LeaseSpec")),
        ],
    ),
    (
        "policy.v1.Eviction",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "deleteOptions", Msg("meta.v1.DeleteOptions")),
        ],
    ),
    (
        "autoscaling.v1.Scale",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("autoscaling.v1.ScaleSpec")),
            (3, "status", Msg("autoscaling.v1.ScaleStatus")),
        ],
    ),
    (
        "discovery.v1.Endpoint",
        &[
            (1, "addresses", List(&Str)),
            (2, "conditions", Msg("discovery.v1.EndpointConditions")),
            (3, "hostname", KeepStr),
            (4, "targetRef", Msg("core.v1.ObjectReference")),
            (5, "deprecatedTopology", Map(&Str)),
            (6, "nodeName", KeepStr),
            (7, "zone", KeepStr),
            (8, "hints", Msg("discovery.v1.EndpointHints")),
        ],
    ),
    (
        "discovery.v1.EndpointPort",
        &[
            (1, "name", KeepStr),
            (2, "protocol", KeepStr),
            (3, "port", KeepInt),
            (4, "appProtocol", KeepStr),
        ],
    ),
    (
        "coordination.v1.LeaseSpec",
        &[
            (1, "holderIdentity", KeepStr),
            (2, "leaseDurationSeconds", KeepInt),
            (3, "acquireTime", MicroTime),
            (4, "renewTime", MicroTime),
            (5, "leaseTransitions", KeepInt),
            (6, "strategy", KeepStr),
            (7, "preferredHolder", KeepStr),
        ],
    ),
    ("autoscaling.v1.ScaleSpec", &[(1, "replicas", Int)]),
    (
        "autoscaling.v1.ScaleStatus",
        &[(1, "replicas", KeepInt), (2, "selector", Str)],
    ),
    (
        "discovery.v1.EndpointConditions",
        &[
            (1, "ready", KeepBool),
            (2, "serving", KeepBool),
            (3, "terminating", KeepBool),
        ],
    ),
    (
        "discovery.v1.EndpointHints",
        &[
            (1, "forZones", List(&Msg("discovery.v1.ForZone"))),
            (2, "forNodes", List(&Msg("discovery.v1.ForNode"))),
        ],
    ),
    ("discovery.v1.ForZone", &[(1, "name", KeepStr)]),
    ("discovery.v1.ForNode", &[(1, "name", KeepStr)]),
];
