//! core/v1: namespaces, config maps, secrets, service accounts, endpoints,
//! events, bindings, and the object references they share.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.Namespace",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("core.v1.NamespaceSpec")),
            (3, "status", Msg("core.v1.NamespaceStatus")),
        ],
    ),
    ("core.v1.NamespaceSpec", &[(1, "finalizers", List(&Str))]),
    (
        "core.v1.NamespaceStatus",
        &[
            (1, "phase", Str),
            (2, "conditions", List(&Msg("core.v1.NamespaceCondition"))),
        ],
    ),
    (
        "core.v1.NamespaceCondition",
        &[
            (1, "type", KeepStr),
            (2, "status", KeepStr),
            (4, "lastTransitionTime", Time),
            (5, "reason", Str),
            (6, "message", Str),
        ],
    ),
    (
        "core.v1.ConfigMap",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (4, "immutable", KeepBool),
            (2, "data", Map(&Str)),
            (3, "binaryData", Map(&Bytes)),
        ],
    ),
    (
        "core.v1.Secret",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (5, "immutable", KeepBool),
            (2, "data", Map(&Bytes)),
            (4, "stringData", Map(&Str)),
            (3, "type", Str),
        ],
    ),
    (
        "core.v1.ServiceAccount",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "secrets", List(&Msg("core.v1.ObjectReference"))),
            (
                3,
                "imagePullSecrets",
                List(&Msg("core.v1.LocalObjectReference")),
            ),
            (4, "automountServiceAccountToken", KeepBool),
        ],
    ),
    (
        "core.v1.ObjectReference",
        &[
            (1, "kind", Str),
            (2, "namespace", Str),
            (3, "name", Str),
            (4, "uid", Str),
            (5, "apiVersion", Str),
            (6, "resourceVersion", Str),
            (7, "fieldPath", Str),
        ],
    ),
    ("core.v1.LocalObjectReference", &[(1, "name", Str)]),
    (
        "core.v1.Binding",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "target", Msg("core.v1.ObjectReference")),
        ],
    ),
    (
        "core.v1.Endpoints",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "subsets", List(&Msg("core.v1.EndpointSubset"))),
        ],
    ),
    (
        "core.v1.EndpointSubset",
        &[
            (1, "addresses", List(&Msg("core.v1.EndpointAddress"))),
            (
                2,
                "notReadyAddresses",
                List(&Msg("core.v1.EndpointAddress")),
            ),
            (3, "ports", List(&Msg("core.v1.EndpointPort"))),
        ],
    ),
    (
        "core.v1.EndpointAddress",
        &[
            (1, "ip", KeepStr),
            (3, "hostname", Str),
            (4, "nodeName", KeepStr),
            (2, "targetRef", Msg("core.v1.ObjectReference")),
        ],
    ),
    (
        "core.v1.EndpointPort",
        &[
            (1, "name", Str),
            (2, "port", KeepInt),
            (3, "protocol", Str),
            (4, "appProtocol", KeepStr),
        ],
    ),
    (
        "core.v1.Event",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "involvedObject", Msg("core.v1.ObjectReference")),
            (3, "reason", Str),
            (4, "message", Str),
            (5, "source", Msg("core.v1.EventSource")),
            (6, "firstTimestamp", Time),
            (7, "lastTimestamp", Time),
            (8, "count", Int),
            (9, "type", Str),
            (10, "eventTime", MicroTime),
            (11, "series", Msg("core.v1.EventSeries")),
            (12, "action", Str),
            (13, "related", Msg("core.v1.ObjectReference")),
            (14, "reportingComponent", KeepStr),
            (15, "reportingInstance", KeepStr),
        ],
    ),
    (
        "core.v1.EventSource",
        &[(1, "component", Str), (2, "host", Str)],
    ),
    (
        "core.v1.EventSeries",
        &[(1, "count", Int), (2, "lastObservedTime", MicroTime)],
    ),
];
