//! apps/v1: Deployment, ReplicaSet, DaemonSet.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "apps.v1.Deployment",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("apps.v1.DeploymentSpec")),
            (3, "status", Msg("apps.v1.DeploymentStatus")),
        ],
    ),
    (
        "apps.v1.ReplicaSet",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("apps.v1.ReplicaSetSpec")),
            (3, "status", Msg("apps.v1.ReplicaSetStatus")),
        ],
    ),
    (
        "apps.v1.DaemonSet",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("apps.v1.DaemonSetSpec")),
            (3, "status", Msg("apps.v1.DaemonSetStatus")),
        ],
    ),
    (
        "apps.v1.DeploymentSpec",
        &[
            (1, "replicas", KeepInt),
            (2, "selector", Msg("meta.v1.LabelSelector")),
            (3, "template", Msg("core.v1.PodTemplateSpec")),
            (4, "strategy", Msg("apps.v1.DeploymentStrategy")),
            (5, "minReadySeconds", Int),
            (6, "revisionHistoryLimit", KeepInt),
            (7, "paused", Bool),
            (9, "progressDeadlineSeconds", KeepInt),
        ],
    ),
    (
        "apps.v1.DeploymentStatus",
        &[
            (1, "observedGeneration", Int),
            (2, "replicas", Int),
            (3, "updatedReplicas", Int),
            (7, "readyReplicas", Int),
            (4, "availableReplicas", Int),
            (5, "unavailableReplicas", Int),
            (9, "terminatingReplicas", KeepInt),
            (6, "conditions", List(&Msg("apps.v1.DeploymentCondition"))),
            (8, "collisionCount", KeepInt),
        ],
    ),
    (
        "apps.v1.ReplicaSetSpec",
        &[
            (1, "replicas", KeepInt),
            (4, "minReadySeconds", Int),
            (2, "selector", Msg("meta.v1.LabelSelector")),
            (3, "template", Msg("core.v1.PodTemplateSpec")),
        ],
    ),
    (
        "apps.v1.ReplicaSetStatus",
        &[
            (1, "replicas", KeepInt),
            (2, "fullyLabeledReplicas", Int),
            (4, "readyReplicas", Int),
            (5, "availableReplicas", Int),
            (7, "terminatingReplicas", KeepInt),
            (3, "observedGeneration", Int),
            (6, "conditions", List(&Msg("apps.v1.ReplicaSetCondition"))),
        ],
    ),
    (
        "apps.v1.DaemonSetSpec",
        &[
            (1, "selector", Msg("meta.v1.LabelSelector")),
            (2, "template", Msg("core.v1.PodTemplateSpec")),
            (3, "updateStrategy", Msg("apps.v1.DaemonSetUpdateStrategy")),
            (4, "minReadySeconds", Int),
            (6, "revisionHistoryLimit", KeepInt),
        ],
    ),
    (
        "apps.v1.DaemonSetStatus",
        &[
            (1, "currentNumberScheduled", KeepInt),
            (2, "numberMisscheduled", KeepInt),
            (3, "desiredNumberScheduled", KeepInt),
            (4, "numberReady", KeepInt),
            (5, "observedGeneration", Int),
            (6, "updatedNumberScheduled", Int),
            (7, "numberAvailable", Int),
            (8, "numberUnavailable", Int),
            (9, "collisionCount", KeepInt),
            (10, "conditions", List(&Msg("apps.v1.DaemonSetCondition"))),
        ],
    ),
    (
        "apps.v1.DeploymentStrategy",
        &[
            (1, "type", Str),
            (2, "rollingUpdate", Msg("apps.v1.RollingUpdateDeployment")),
        ],
    ),
    (
        "apps.v1.DeploymentCondition",
        &[
            (1, "type", KeepStr),
            (2, "status", KeepStr),
            (6, "lastUpdateTime", Time),
            (7, "lastTransitionTime", Time),
            (4, "reason", Str),
            (5, "message", Str),
        ],
    ),
    (
        "apps.v1.ReplicaSetCondition",
        &[
            (1, "type", KeepStr),
            (2, "status", KeepStr),
            (3, "lastTransitionTime", Time),
            (4, "reason", Str),
            (5, "message", Str),
        ],
    ),
    (
        "apps.v1.DaemonSetUpdateStrategy",
        &[
            (1, "type", Str),
            (2, "rollingUpdate", Msg("apps.v1.RollingUpdateDaemonSet")),
        ],
    ),
    (
        "apps.v1.DaemonSetCondition",
        &[
            (1, "type", KeepStr),
            (2, "status", KeepStr),
            (3, "lastTransitionTime", Time),
            (4, "reason", Str),
            (5, "message", Str),
        ],
    ),
    (
        "apps.v1.RollingUpdateDeployment",
        &[(1, "maxUnavailable", IntOrStr), (2, "maxSurge", IntOrStr)],
    ),
    (
        "apps.v1.RollingUpdateDaemonSet",
        &[(1, "maxUnavailable", IntOrStr), (2, "maxSurge", IntOrStr)],
    ),
];
