//! core/v1 PodStatus, as node agents write it.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.PodStatus",
        &[
            (17, "observedGeneration", Int),
            (1, "phase", Str),
            (2, "conditions", List(&Msg("core.v1.PodCondition"))),
            (3, "message", Str),
            (4, "reason", Str),
            (11, "nominatedNodeName", Str),
            (5, "hostIP", Str),
            (16, "hostIPs", List(&Msg("core.v1.HostIP"))),
            (6, "podIP", Str),
            (12, "podIPs", List(&Msg("core.v1.PodIP"))),
            (7, "startTime", Time),
            (
                10,
                "initContainerStatuses",
                List(&Msg("core.v1.ContainerStatus")),
            ),
            (
                8,
                "containerStatuses",
                List(&Msg("core.v1.ContainerStatus")),
            ),
            (9, "qosClass", Str),
            (
                13,
                "ephemeralContainerStatuses",
                List(&Msg("core.v1.ContainerStatus")),
            ),
            (14, "resize", Str),
            (19, "allocatedResources", Map(&Qty)),
            (20, "resources", Msg("core.v1.ResourceRequirements")),
        ],
    ),
    (
        "core.v1.PodCondition",
        &[
            (1, "type", KeepStr),
            (7, "observedGeneration", Int),
            (2, "status", KeepStr),
            (3, "lastProbeTime", Time),
            (4, "lastTransitionTime", Time),
            (5, "reason", Str),
            (6, "message", Str),
        ],
    ),
    ("core.v1.HostIP", &[(1, "ip", KeepStr)]),
    ("core.v1.PodIP", &[(1, "ip", KeepStr)]),
    (
        "core.v1.ContainerStatus",
        &[
            (1, "name", KeepStr),
            (2, "state", Msg("core.v1.ContainerState")),
            (3, "lastState", Msg("core.v1.ContainerState")),
            (4, "ready", KeepBool),
            (5, "restartCount", KeepInt),
            (6, "image", KeepStr),
            (7, "imageID", KeepStr),
            (8, "containerID", Str),
            (9, "started", KeepBool),
            (10, "allocatedResources", Map(&Qty)),
            (11, "resources", Msg("core.v1.ResourceRequirements")),
            (15, "stopSignal", KeepStr),
        ],
    ),
    (
        "core.v1.ContainerState",
        &[
            (1, "waiting", Msg("core.v1.ContainerStateWaiting")),
            (2, "running", Msg("core.v1.ContainerStateRunning")),
            (3, "terminated", Msg("core.v1.ContainerStateTerminated")),
        ],
    ),
    (
        "core.v1.ContainerStateWaiting",
        &[(1, "reason", Str), (2, "message", Str)],
    ),
    ("core.v1.ContainerStateRunning", &[(1, "startedAt", Time)]),
    (
        "core.v1.ContainerStateTerminated",
        &[
            (1, "exitCode", KeepInt),
            (2, "signal", Int),
            (3, "reason", Str),
            (4, "message", Str),
            (5, "startedAt", Time),
            (6, "finishedAt", Time),
            (7, "containerID", Str),
        ],
    ),
];
