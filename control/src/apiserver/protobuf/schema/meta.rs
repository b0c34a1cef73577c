//! meta/v1: object metadata, label selectors, conditions, DeleteOptions.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "meta.v1.DeleteOptions",
        &[
            (1, "gracePeriodSeconds", KeepInt),
            (2, "preconditions", Msg("meta.v1.Preconditions")),
            (3, "orphanDependents", KeepBool),
            (4, "propagationPolicy", KeepStr),
            (5, "dryRun", List(&Str)),
            (
                6,
                "ignoreStoreReadErrorWithClusterBreakingPotential",
                KeepBool,
            ),
        ],
    ),
    (
        "meta.v1.ObjectMeta",
        &[
            (1, "name", Str),
            (2, "generateName", Str),
            (3, "namespace", Str),
            (4, "selfLink", Str),
            (5, "uid", Str),
            (6, "resourceVersion", Str),
            (7, "generation", Int),
            (8, "creationTimestamp", Time),
            (9, "deletionTimestamp", Time),
            (10, "deletionGracePeriodSeconds", KeepInt),
            (11, "labels", Map(&Str)),
            (12, "annotations", Map(&Str)),
            (13, "ownerReferences", List(&Msg("meta.v1.OwnerReference"))),
            (14, "finalizers", List(&Str)),
            (
                17,
                "managedFields",
                List(&Msg("meta.v1.ManagedFieldsEntry")),
            ),
        ],
    ),
    (
        "meta.v1.Preconditions",
        &[(1, "uid", KeepStr), (2, "resourceVersion", KeepStr)],
    ),
    (
        "meta.v1.OwnerReference",
        &[
            (5, "apiVersion", KeepStr),
            (1, "kind", KeepStr),
            (3, "name", KeepStr),
            (4, "uid", KeepStr),
            (6, "controller", KeepBool),
            (7, "blockOwnerDeletion", KeepBool),
        ],
    ),
    (
        "meta.v1.ManagedFieldsEntry",
        &[
            (1, "manager", Str),
            (2, "operation", Str),
            (3, "apiVersion", Str),
            (4, "time", Time),
            (6, "fieldsType", Str),
            (7, "fieldsV1", FieldsV1),
            (8, "subresource", Str),
        ],
    ),
    (
        "meta.v1.Condition",
        &[
            (1, "type", KeepStr),
            (2, "status", KeepStr),
            (3, "observedGeneration", Int),
            (4, "lastTransitionTime", Time),
            (5, "reason", KeepStr),
            (6, "message", KeepStr),
        ],
    ),
    (
        "meta.v1.LabelSelector",
        &[
            (1, "matchLabels", Map(&Str)),
            (
                2,
                "matchExpressions",
                List(&Msg("meta.v1.LabelSelectorRequirement")),
            ),
        ],
    ),
    (
        "meta.v1.LabelSelectorRequirement",
        &[
            (1, "key", KeepStr),
            (2, "operator", KeepStr),
            (3, "values", List(&Str)),
        ],
    ),
];
