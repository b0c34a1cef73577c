//! core/v1 volumes: the in-cluster sources (hostPath, emptyDir, secret,
//! configMap, persistentVolumeClaim, downwardAPI, projected, nfs, csi,
//! image); the cloud and legacy plugins are left out.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.Volume",
        &[
            (1, "name", KeepStr),
            (2, "", Inline("core.v1.VolumeSource")),
        ],
    ),
    (
        "core.v1.VolumeSource",
        &[
            (1, "hostPath", Msg("core.v1.HostPathVolumeSource")),
            (2, "emptyDir", Msg("core.v1.EmptyDirVolumeSource")),
            (6, "secret", Msg("core.v1.SecretVolumeSource")),
            (7, "nfs", Msg("core.v1.NFSVolumeSource")),
            (
                10,
                "persistentVolumeClaim",
                Msg("core.v1.PersistentVolumeClaimVolumeSource"),
            ),
            (16, "downwardAPI", Msg("core.v1.DownwardAPIVolumeSource")),
            (19, "configMap", Msg("core.v1.ConfigMapVolumeSource")),
            (26, "projected", Msg("core.v1.ProjectedVolumeSource")),
            (28, "csi", Msg("core.v1.CSIVolumeSource")),
            (30, "image", Msg("core.v1.ImageVolumeSource")),
        ],
    ),
    (
        "core.v1.HostPathVolumeSource",
        &[(1, "path", KeepStr), (2, "type", KeepStr)],
    ),
    (
        "core.v1.EmptyDirVolumeSource",
        &[(1, "medium", Str), (2, "sizeLimit", Qty)],
    ),
    (
        "core.v1.SecretVolumeSource",
        &[
            (1, "secretName", Str),
            (2, "items", List(&Msg("core.v1.KeyToPath"))),
            (3, "defaultMode", KeepInt),
            (4, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.ConfigMapVolumeSource",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "items", List(&Msg("core.v1.KeyToPath"))),
            (3, "defaultMode", KeepInt),
            (4, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.KeyToPath",
        &[
            (1, "key", KeepStr),
            (2, "path", KeepStr),
            (3, "mode", KeepInt),
        ],
    ),
    (
        "core.v1.PersistentVolumeClaimVolumeSource",
        &[(1, "claimName", KeepStr), (2, "readOnly", Bool)],
    ),
    (
        "core.v1.NFSVolumeSource",
        &[
            (1, "server", KeepStr),
            (2, "path", KeepStr),
            (3, "readOnly", Bool),
        ],
    ),
    (
        "core.v1.CSIVolumeSource",
        &[
            (1, "driver", KeepStr),
            (2, "readOnly", KeepBool),
            (3, "fsType", KeepStr),
            (4, "volumeAttributes", Map(&Str)),
            (
                5,
                "nodePublishSecretRef",
                Msg("core.v1.LocalObjectReference"),
            ),
        ],
    ),
    (
        "core.v1.ImageVolumeSource",
        &[(1, "reference", Str), (2, "pullPolicy", Str)],
    ),
    (
        "core.v1.DownwardAPIVolumeSource",
        &[
            (1, "items", List(&Msg("core.v1.DownwardAPIVolumeFile"))),
            (2, "defaultMode", KeepInt),
        ],
    ),
    (
        "core.v1.DownwardAPIVolumeFile",
        &[
            (1, "path", KeepStr),
            (2, "fieldRef", Msg("core.v1.ObjectFieldSelector")),
            (3, "resourceFieldRef", Msg("core.v1.ResourceFieldSelector")),
            (4, "mode", KeepInt),
        ],
    ),
    (
        "core.v1.ProjectedVolumeSource",
        &[
            (1, "sources", List(&Msg("core.v1.VolumeProjection"))),
            (2, "defaultMode", KeepInt),
        ],
    ),
    (
        "core.v1.VolumeProjection",
        &[
            (1, "secret", Msg("core.v1.SecretProjection")),
            (2, "downwardAPI", Msg("core.v1.DownwardAPIProjection")),
            (3, "configMap", Msg("core.v1.ConfigMapProjection")),
            (
                4,
                "serviceAccountToken",
                Msg("core.v1.ServiceAccountTokenProjection"),
            ),
        ],
    ),
    (
        "core.v1.SecretProjection",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "items", List(&Msg("core.v1.KeyToPath"))),
            (4, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.ConfigMapProjection",
        &[
            (1, "", Inline("core.v1.LocalObjectReference")),
            (2, "items", List(&Msg("core.v1.KeyToPath"))),
            (4, "optional", KeepBool),
        ],
    ),
    (
        "core.v1.DownwardAPIProjection",
        &[(1, "items", List(&Msg("core.v1.DownwardAPIVolumeFile")))],
    ),
    (
        "core.v1.ServiceAccountTokenProjection",
        &[
            (1, "audience", Str),
            (2, "expirationSeconds", KeepInt),
            (3, "path", KeepStr),
        ],
    ),
];
