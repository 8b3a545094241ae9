//! The paper's 29 properties (their order, the annotation keys they come from, their short
//! names) and the engine's property slots.
//!
//! The authors' files index features by the paper's order, which is the order of their released
//! `fitted_paras` files; a pairs table brings its own names and order (1 to [`MAX_K`]).

/// The paper's number of properties: the authors' data directory always has these 29.
pub const PAPER_K: usize = 29;

/// The most properties one fit may have: the engine's slots, and the length of every per-fit
/// weight array. A design of K properties computes with [`slots`]`(K)` of them; the slots past
/// those stay zero and are never written.
pub const MAX_K: usize = 64;

/// The slots a design of `k` properties computes with: the paper's 29 for any K ≤ 29 (so a
/// narrow set runs the exact arithmetic of the paper's, also on the wgpu kernels, which hold
/// 29), else K itself.
pub const fn slots(k: usize) -> usize {
    if k <= PAPER_K { PAPER_K } else { k }
}

/// Short names, index order (as in the paper's figures).
pub const FEATURE_NAMES: [&str; PAPER_K] = [
    "harmless",
    "grammarly correct",
    "friendly",
    "polite",
    "interactive",
    "authoritative",
    "funny",
    "use rhetorical devices",
    "complex word & sentence",
    "use supporting materials",
    "well formatted",
    "admit limits",
    "persuasive",
    "step-by-step",
    "use informal expressions",
    "non-repetitive",
    "clear",
    "relevant",
    "novel",
    "contain rich info",
    "no minor errors",
    "no moderate errors",
    "no severe errors",
    "clarify intent",
    "show empathetic",
    "satisfy constraints",
    "support stances",
    "correct mistakes",
    "lengthy",
];

/// Where a feature's sign comes from in a `resolved.jsonl` record.
#[derive(Clone, Copy, Debug)]
pub enum FeatureSource {
    /// `comparison[key].comparison`, used as is.
    Key(&'static str),
    /// `comparison[key].comparison`, sign flipped (`repetitive` → non-repetitive).
    Flipped(&'static str),
    /// `comparison.accuracy.comparison[severity]` (+1 = response 1 has fewer such errors).
    Accuracy(&'static str),
}

/// The annotation source of each feature, index order.
pub const FEATURE_SOURCES: [FeatureSource; PAPER_K] = {
    use FeatureSource::*;
    [
        Key("harmlessness"),
        Key("grammar, spelling, punctuation, and code-switching"),
        Key("friendly"),
        Key("polite"),
        Key("interactive"),
        Key("authoritative tone"),
        Key("funny and humorous"),
        Key("metaphors, personification, similes, hyperboles, irony, parallelism"),
        Key("complex word usage and sentence structure"),
        Key("use of direct and explicit supporting materials"),
        Key("well formatted"),
        Key("admit limitations or mistakes"),
        Key("persuade user"),
        Key("step by step solution"),
        Key("use of informal expressions"),
        Flipped("repetitive"),
        Key("clear and understandable"),
        Key("relevance without considering inaccuracy"),
        Key("innovative and novel"),
        Key("information richness without considering inaccuracy"),
        Accuracy("Minor"),
        Accuracy("Moderate"),
        Accuracy("Severe"),
        Key("clarify user intent"),
        Key("showing empathetic"),
        Key("satisfying explicit constraints"),
        Key("supporting explicit subjective stances"),
        Key("correcting explicit mistakes or biases"),
        Key("length"),
    ]
};

/// The value of `accuracy.comparison` that marks a sample whose accuracy could not be checked.
pub const ACCURACY_SENTINEL: i64 = 999;

/// The 11 scenario groups, which partition the samples (the paper averages over these).
pub const SCENARIO_GROUPS: [&str; 11] = [
    "Advice",
    "Code",
    "Communication",
    "Creative Writing",
    "Daily Tasks",
    "Exam Questions",
    "Functional Writing",
    "Knowledge-aware",
    "NLP Tasks",
    "Others",
    "Unsafe Queries",
];

/// The 5 query-specific groups, which overlap the scenarios.
pub const QUERY_GROUPS: [&str; 5] = [
    "w_constraints",
    "intent_unclear",
    "w_mistakes",
    "w_stances",
    "express_feeling",
];

/// The key of `query_aware_idxs.json` that lists every sample; it is not a group to fit.
pub const ALL_KEY: &str = "all";
