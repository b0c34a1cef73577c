//! core/v1 scheduling constraints: affinity, tolerations, spread.

use super::Kind::*;
use super::Message;

pub const MESSAGES: &[Message] = &[
    (
        "core.v1.Affinity",
        &[
            (1, "nodeAffinity", Msg("core.v1.NodeAffinity")),
            (2, "podAffinity", Msg("core.v1.PodAffinity")),
            (3, "podAntiAffinity", Msg("core.v1.PodAntiAffinity")),
        ],
    ),
    (
        "core.v1.NodeAffinity",
        &[
            (
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                Msg("core.v1.NodeSelector"),
            ),
            (
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                List(&Msg("core.v1.PreferredSchedulingTerm")),
            ),
        ],
    ),
    (
        "core.v1.NodeSelector",
        &[(
            1,
            "nodeSelectorTerms",
            List(&Msg("core.v1.NodeSelectorTerm")),
        )],
    ),
    (
        "core.v1.NodeSelectorTerm",
        &[
            (
                1,
                "matchExpressions",
                List(&Msg("core.v1.NodeSelectorRequirement")),
            ),
            (
                2,
                "matchFields",
                List(&Msg("core.v1.NodeSelectorRequirement")),
            ),
        ],
    ),
    (
        "core.v1.NodeSelectorRequirement",
        &[
            (1, "key", KeepStr),
            (2, "operator", KeepStr),
            (3, "values", List(&Str)),
        ],
    ),
    (
        "core.v1.PreferredSchedulingTerm",
        &[
            (1, "weight", KeepInt),
            (2, "preference", Msg("core.v1.NodeSelectorTerm")),
        ],
    ),
    (
        "core.v1.PodAffinity",
        &[
            (
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                List(&Msg("core.v1.PodAffinityTerm")),
            ),
            (
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                List(&Msg("core.v1.WeightedPodAffinityTerm")),
            ),
        ],
    ),
    (
        "core.v1.PodAntiAffinity",
        &[
            (
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                List(&Msg("core.v1.PodAffinityTerm")),
            ),
            (
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                List(&Msg("core.v1.WeightedPodAffinityTerm")),
            ),
        ],
    ),
    (
        "core.v1.PodAffinityTerm",
        &[
            (1, "labelSelector", Msg("meta.v1.LabelSelector")),
            (2, "namespaces", List(&Str)),
            (3, "topologyKey", KeepStr),
            (4, "namespaceSelector", Msg("meta.v1.LabelSelector")),
            (5, "matchLabelKeys", List(&Str)),
            (6, "mismatchLabelKeys", List(&Str)),
        ],
    ),
    (
        "core.v1.WeightedPodAffinityTerm",
        &[
            (1, "weight", KeepInt),
            (2, "podAffinityTerm", Msg("core.v1.PodAffinityTerm")),
        ],
    ),
    (
        "core.v1.Toleration",
        &[
            (1, "key", Str),
            (2, "operator", Str),
            (3, "value", Str),
            (4, "effect", Str),
            (5, "tolerationSeconds", KeepInt),
        ],
    ),
    (
        "core.v1.TopologySpreadConstraint",
        &[
            (1, "maxSkew", KeepInt),
            (2, "topologyKey", KeepStr),
            (3, "whenUnsatisfiable", KeepStr),
            (4, "labelSelector", Msg("meta.v1.LabelSelector")),
            (5, "minDomains", KeepInt),
            (6, "nodeAffinityPolicy", KeepStr),
            (7, "nodeTaintsPolicy", KeepStr),
            (8, "matchLabelKeys", List(&Str)),
        ],
    ),
    ("core.v1.PodSchedulingGate", &[(1, "name", KeepStr)]),
];
