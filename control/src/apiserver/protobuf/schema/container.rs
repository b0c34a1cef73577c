//! core/v1 Container: ports, env, resources, mounts, probes, hooks,
//! security context.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.Container",
        &[
            (1, "name", KeepStr),
            (2, "image", Str),
            (3, "command", List(&Str)),
            (4, "args", List(&Str)),
            (5, "workingDir", Str),
            (6, "ports", List(&Msg("core.v1.ContainerPort"))),
            (19, "envFrom", List(&Msg("core.v1.EnvFromSource"))),
            (7, "env", List(&Msg("core.v1.EnvVar"))),
            (8, "resources", Msg("core.v1.ResourceRequirements")),
            (
                23,
                "resizePolicy",
                List(&Msg("core.v1.ContainerResizePolicy")),
            ),
            (24, "restartPolicy", KeepStr),
            (9, "volumeMounts", List(&Msg("core.v1.VolumeMount"))),
            (21, "volumeDevices", List(&Msg("core.v1.VolumeDevice"))),
            (10, "livenessProbe", Msg("core.v1.Probe")),
            (11, "readinessProbe", Msg("core.v1.Probe")),
            (22, "startupProbe", Msg("core.v1.Probe")),
            (12, "lifecycle", Msg("core.v1.Lifecycle")),
            (13, "terminationMessagePath", Str),
            (20, "terminationMessagePolicy", Str),
            (14, "imagePullPolicy", Str),
            (15, "securityContext", Msg("core.v1.SecurityContext")),
            (16, "stdin", Bool),
            (17, "stdinOnce", Bool),
            (18, "tty", Bool),
        ],
    ),
    (
        "core.v1.ContainerPort",
        &[
            (1, "name", Str),
            (2, "hostPort", Int),
            (3, "containerPort", KeepInt),
            (4, "protocol", Str),
            (5, "hostIP", Str),
        ],
    ),
    (
        "core.v1.EnvFromSource",
        &[
            (1, "prefix", Str),
            (2, "configMapRef", Msg("core.v1.ConfigMapEnvSource")),
            (3, "secretRef", Msg("core.v1.SecretEnvSource")),
        ],
    ),
    (
        "core.v1.ConfigMapEnvSource",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.SecretEnvSource",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.EnvVar",
        &[
            (1, "name", KeepStr),
            (2, "value", Str),
            (3, "valueFrom", Msg("core.v1.EnvVarSource")),
        ],
    ),
    (
        "core.v1.EnvVarSource",
        &[
            (1, "fieldRef", Msg("core.v1.ObjectFieldSelector")),
            (2, "resourceFieldRef", Msg("core.v1.ResourceFieldSelector")),
            (3, "configMapKeyRef", Msg("core.v1.ConfigMapKeySelector")),
            (4, "secretKeyRef", Msg("core.v1.SecretKeySelector")),
            (5, "fileKeyRef", Msg("core.v1.FileKeySelector")),
        ],
    ),
    (
        "core.v1.ObjectFieldSelector",
        &[(1, "apiVersion", Str), (2, "fieldPath", KeepStr)],
    ),
    (
        "core.v1.ResourceFieldSelector",
        &[
            (1, "containerName", Str),
            (2, "resource", KeepStr),
            (3, "divisor", Qty),
        ],
    ),
    (
        "core.v1.ConfigMapKeySelector",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "key", KeepStr),
            (3, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.SecretKeySelector",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "key", KeepStr),
            (3, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.FileKeySelector",
        &[
            (1, "volumeName", KeepStr),
            (2, "path", KeepStr),
            (3, "key", KeepStr),
            (4, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.ResourceRequirements",
        &[
            (1, "limits", Map(&Qty)),
            (2, "requests", Map(&Qty)),
            (3, "claims", List(&Msg("core.v1.ResourceClaim"))),
        ],
    ),
    (
        "core.v1.ResourceClaim",
        &[(1, "name", KeepStr), (2, "request", Str)],
    ),
    (
        "core.v1.ContainerResizePolicy",
        &[(1, "resourceName", KeepStr), (2, "restartPolicy", KeepStr)],
    ),
    (
        "core.v1.VolumeMount",
        &[
            (1, "name", KeepStr),
            (2, "readOnly", Bool),
            (7, "recursiveReadOnly", KeepStr),
            (3, "mountPath", KeepStr),
            (4, "subPath", Str),
            (5, "mountPropagation", KeepStr),
            (6, "subPathExpr", Str),
        ],
    ),
    (
        "core.v1.VolumeDevice",
        &[(1, "name", KeepStr), (2, "devicePath", KeepStr)],
    ),
    (
        "core.v1.Probe",
        &[
            (1, "", Inline("core.v1.ProbeHandler")),
            (2, "initialDelaySeconds", Int),
            (3, "timeoutSeconds", Int),
            (4, "periodSeconds", Int),
            (5, "successThreshold", Int),
            (6, "failureThreshold", Int),
            (7, "terminationGracePeriodSeconds", KeepInt),
        ],
    ),
    (
        "core.v1.ProbeHandler",
        &[
            (1, "exec", Msg("core.v1.ExecAction")),
            (2, "httpGet", Msg("core.v1.HTTPGetAction")),
            (3, "tcpSocket", Msg("core.v1.TCPSocketAction")),
            (4, "grpc", Msg("core.v1.GRPCAction")),
        ],
    ),
    ("core.v1.ExecAction", &[(1, "command", List(&Str))]),
    (
        "core.v1.HTTPGetAction",
        &[
            (1, "path", Str),
            (2, "port", IntOrStr),
            (3, "host", Str),
            (4, "scheme", Str),
            (5, "httpHeaders", List(&Msg("core.v1.HTTPHeader"))),
        ],
    ),
    (
        "core.v1.HTTPHeader",
        &[(1, "name", KeepStr), (2, "value", KeepStr)],
    ),
    (
        "core.v1.TCPSocketAction",
        &[(1, "port", IntOrStr), (2, "host", Str)],
    ),
    (
        "core.v1.GRPCAction",
        &[(1, "port", KeepInt), (2, "service", KeepStr)],
    ),
    (
        "core.v1.Lifecycle",
        &[
            (1, "postStart", Msg("core.v1.LifecycleHandler")),
            (2, "preStop", Msg("core.v1.LifecycleHandler")),
            (3, "stopSignal", KeepStr),
        ],
    ),
    (
        "core.v1.LifecycleHandler",
        &[
            (1, "exec", Msg("core.v1.ExecAction")),
            (2, "httpGet", Msg("core.v1.HTTPGetAction")),
            (3, "tcpSocket", Msg("core.v1.TCPSocketAction")),
            (4, "sleep", Msg("core.v1.SleepAction")),
        ],
    ),
    ("core.v1.SleepAction", &[(1, "seconds", KeepInt)]),
    (
        "core.v1.SecurityContext",
        &[
            (1, "capabilities", Msg("core.v1.Capabilities")),
            (2, "privileged", KeepBool),
            (3, "seLinuxOptions", Msg("core.v1.SELinuxOptions")),
            (
                10,
                "windowsOptions",
                Msg("core.v1.WindowsSecurityContextOptions"),
            ),
            (4, "runAsUser", KeepInt),
            (8, "runAsGroup", KeepInt),
            (5, "runAsNonRoot", KeepBool),
            (6, "readOnlyRootFilesystem", KeepBool),
            (7, "allowPrivilegeEscalation", KeepBool),
            (9, "procMount", KeepStr),
            (11, "seccompProfile", Msg("core.v1.SeccompProfile")),
            (12, "appArmorProfile", Msg("core.v1.AppArmorProfile")),
        ],
    ),
    (
        "core.v1.Capabilities",
        &[(1, "add", List(&Str)), (2, "drop", List(&Str))],
    ),
];
