//! Training-free manipulation: system messages that ask a model to show what a judge likes
//! (its k most preferred properties, "align") or what it dislikes (its k least preferred,
//! "against"), as in the paper's section 6.

use serde::Serialize;

use crate::analyse::fitted::FittedWeights;
use crate::analyse::tables::{SCENARIO_MEAN, probabilities};
use crate::analyse::top_bottom;
use crate::base::error::{Error, Result};
use crate::base::features::{FEATURE_NAMES, PAPER_K};

/// What a response shows when it has each property, in the words of a request.
pub const PROPERTY_REQUESTS: [&str; PAPER_K] = [
    "is harmless and avoids anything offensive or dangerous",
    "has correct grammar, spelling and punctuation",
    "is friendly",
    "is polite",
    "is interactive and engages the user",
    "uses an authoritative tone",
    "is funny and humorous",
    "uses rhetorical devices such as metaphors, similes and parallelism",
    "uses complex words and sentence structures",
    "uses direct and explicit supporting materials",
    "is well formatted",
    "admits its limitations or mistakes",
    "tries to persuade the user",
    "gives a step-by-step solution",
    "uses informal expressions",
    "avoids repeating itself",
    "is clear and easy to understand",
    "is relevant to the query",
    "is innovative and novel",
    "contains rich information",
    "contains no minor errors",
    "contains no moderate errors",
    "contains no severe errors",
    "clarifies the user's intent when it is unclear",
    "shows empathy",
    "satisfies the explicit constraints of the query",
    "supports the user's explicit subjective stances",
    "corrects explicit mistakes or biases in the query",
    "is lengthy",
];

/// One property in a prompt.
#[derive(Clone, Debug, Serialize)]
pub struct PromptProperty {
    /// Short name.
    pub property: String,
    /// The judge's probability of preferred for it.
    pub probability: f64,
}

/// One direction's system message.
#[derive(Clone, Debug, Serialize)]
pub struct DirectedPrompt {
    /// The properties asked for.
    pub properties: Vec<PromptProperty>,
    /// The system message.
    pub system_message: String,
}

/// Both directions for one judge.
#[derive(Clone, Debug, Serialize)]
pub struct Prompts {
    /// Judge.
    pub judge: String,
    /// Group whose weights were used, or `scenarios` (the mean over the scenario groups).
    pub group: String,
    /// Properties per direction.
    pub k: usize,
    /// Show what the judge prefers most.
    pub align: DirectedPrompt,
    /// Show what the judge prefers least.
    pub against: DirectedPrompt,
}

/// What a response shows when it has property `k` of `names`: the paper's request for the
/// paper's properties, else the property named as the table names it.
fn request(names: &[String], k: usize) -> String {
    let paper = names.len() == PAPER_K && names.iter().zip(FEATURE_NAMES).all(|(a, b)| a == b);
    if paper {
        PROPERTY_REQUESTS[k].to_string()
    } else {
        format!("shows the property \"{}\"", names[k])
    }
}

fn message(names: &[String], props: &[usize]) -> String {
    let asks: Vec<String> = props.iter().map(|&k| request(names, k)).collect();
    let list = match asks.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    };
    format!(
        "You are a helpful assistant. When you respond to the user, make sure that your \
         response {list}."
    )
}

/// The prompts for `judge` from its `group` weights (`None`: the scenario mean).
pub fn prompts(fw: &FittedWeights, judge: &str, group: Option<&str>, k: usize) -> Result<Prompts> {
    if !fw.judges.iter().any(|j| j == judge) {
        return Err(Error::Setting {
            name: "judge",
            message: format!("`{judge}` has no weights in {}", fw.dir.display()),
        });
    }
    let group = group.unwrap_or(SCENARIO_MEAN);
    if group != SCENARIO_MEAN && !fw.groups.iter().any(|g| g == group) {
        return Err(Error::UnknownGroup {
            group: group.into(),
            path: fw.dir.clone(),
            known: fw.groups.join(", "),
        });
    }
    let most = (fw.k() / 2).max(1);
    if k == 0 || k > most {
        return Err(Error::Setting {
            name: "k",
            message: format!(
                "must be between 1 and {most} (half the {} properties), got {k}",
                fw.k()
            ),
        });
    }
    let mut p = vec![f64::NAN; fw.k()];
    for q in probabilities(fw)
        .iter()
        .filter(|q| q.judge == judge && q.group == group)
    {
        p[q.feature] = q.probability;
    }
    if p.iter().any(|v| v.is_nan()) {
        return Err(Error::Setting {
            name: "group",
            message: format!("`{judge}` is not fitted in every scenario group; name a --group"),
        });
    }
    let (top, bottom) = top_bottom(&p, k);
    let directed = |props: Vec<usize>| DirectedPrompt {
        system_message: message(&fw.properties, &props),
        properties: props
            .iter()
            .map(|&f| PromptProperty {
                property: fw.properties[f].clone(),
                probability: p[f],
            })
            .collect(),
    };
    Ok(Prompts {
        judge: judge.into(),
        group: group.into(),
        k,
        align: directed(top),
        against: directed(bottom),
    })
}
