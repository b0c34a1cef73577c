//! core/v1 Pod, its template and the pod-wide parts of its spec.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.Pod",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("core.v1.PodSpec")),
            (3, "status", Msg("core.v1.PodStatus")),
        ],
    ),
    (
        "core.v1.PodTemplateSpec",
        &[
            (1, "metadata", Msg("meta.v1.ObjectMeta")),
            (2, "spec", Msg("core.v1.PodSpec")),
        ],
    ),
    (
        "core.v1.PodSpec",
        &[
            (1, "volumes", List(&Msg("core.v1.Volume"))),
            (20, "initContainers", List(&Msg("core.v1.Container"))),
            (2, "containers", List(&Msg("core.v1.Container"))),
            (3, "restartPolicy", Str),
            (4, "terminationGracePeriodSeconds", KeepInt),
            (5, "activeDeadlineSeconds", KeepInt),
            (6, "dnsPolicy", Str),
            (7, "nodeSelector", Map(&Str)),
            (8, "serviceAccountName", Str),
            (9, "serviceAccount", Str),
            (21, "automountServiceAccountToken", KeepBool),
            (10, "nodeName", Str),
            (11, "hostNetwork", Bool),
            (12, "hostPID", Bool),
            (13, "hostIPC", Bool),
            (27, "shareProcessNamespace", KeepBool),
            (14, "securityContext", Msg("core.v1.PodSecurityContext")),
            (
                15,
                "imagePullSecrets",
                List(&Msg("core.v1.LocalObjectReference")),
            ),
            (16, "hostname", Str),
            (17, "subdomain", Str),
            (18, "affinity", Msg("core.v1.Affinity")),
            (19, "schedulerName", Str),
            (22, "tolerations", List(&Msg("core.v1.Toleration"))),
            (23, "hostAliases", List(&Msg("core.v1.HostAlias"))),
            (24, "priorityClassName", Str),
            (25, "priority", KeepInt),
            (26, "dnsConfig", Msg("core.v1.PodDNSConfig")),
            (28, "readinessGates", List(&Msg("core.v1.PodReadinessGate"))),
            (29, "runtimeClassName", KeepStr),
            (30, "enableServiceLinks", KeepBool),
            (31, "preemptionPolicy", KeepStr),
            (32, "overhead", Map(&Qty)),
            (
                33,
                "topologySpreadConstraints",
                List(&Msg("core.v1.TopologySpreadConstraint")),
            ),
            (35, "setHostnameAsFQDN", KeepBool),
            (36, "os", Msg("core.v1.PodOS")),
            (37, "hostUsers", KeepBool),
            (
                38,
                "schedulingGates",
                List(&Msg("core.v1.PodSchedulingGate")),
            ),
            (39, "resourceClaims", List(&Msg("core.v1.PodResourceClaim"))),
            (40, "resources", Msg("core.v1.ResourceRequirements")),
            (41, "hostnameOverride", KeepStr),
        ],
    ),
    (
        "core.v1.PodSecurityContext",
        &[
            (1, "seLinuxOptions", Msg("core.v1.SELinuxOptions")),
            (
                8,
                "windowsOptions",
                Msg("core.v1.WindowsSecurityContextOptions"),
            ),
            (2, "runAsUser", KeepInt),
            (6, "runAsGroup", KeepInt),
            (3, "runAsNonRoot", KeepBool),
            (4, "supplementalGroups", List(&Int)),
            (12, "supplementalGroupsPolicy", KeepStr),
            (5, "fsGroup", KeepInt),
            (7, "sysctls", List(&Msg("core.v1.Sysctl"))),
            (9, "fsGroupChangePolicy", KeepStr),
            (10, "seccompProfile", Msg("core.v1.SeccompProfile")),
            (11, "appArmorProfile", Msg("core.v1.AppArmorProfile")),
            (13, "seLinuxChangePolicy", KeepStr),
        ],
    ),
    (
        "core.v1.SELinuxOptions",
        &[
            (1, "user", Str),
            (2, "role", Str),
            (3, "type", Str),
            (4, "level", Str),
        ],
    ),
    (
        "core.v1.WindowsSecurityContextOptions",
        &[
            (1, "gmsaCredentialSpecName", KeepStr),
            (2, "gmsaCredentialSpec", KeepStr),
            (3, "runAsUserName", KeepStr),
            (4, "hostProcess", KeepBool),
        ],
    ),
    (
        "core.v1.Sysctl",
        &[(1, "name", KeepStr), (2, "value", KeepStr)],
    ),
    (
        "core.v1.SeccompProfile",
        &[(1, "type", KeepStr), (2, "localhostProfile", KeepStr)],
    ),
    (
        "core.v1.AppArmorProfile",
        &[(1, "type", KeepStr), (2, "localhostProfile", KeepStr)],
    ),
    (
        "core.v1.HostAlias",
        &[(1, "ip", KeepStr), (2, "hostnames", List(&Str))],
    ),
    (
        "core.v1.PodDNSConfig",
        &[
            (1, "nameservers", List(&Str)),
            (2, "searches", List(&Str)),
            (3, "options", List(&Msg("core.v1.PodDNSConfigOption"))),
        ],
    ),
    (
        "core.v1.PodDNSConfigOption",
        &[(1, "name", Str), (2, "value", KeepStr)],
    ),
    ("core.v1.PodReadinessGate", &[(1, "conditionType", KeepStr)]),
    ("core.v1.PodOS", &[(1, "name", KeepStr)]),
    (
        "core.v1.PodResourceClaim",
        &[
            (1, "name", KeepStr),
            (3, "resourceClaimName", KeepStr),
            (4, "resourceClaimTemplateName", KeepStr),
        ],
    ),
];
