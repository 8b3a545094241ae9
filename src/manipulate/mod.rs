//! The paper's manipulation experiments (section 6): steering responses towards what a judge
//! likes or dislikes, without training (system messages, [`prompts`]) and with training data
//! labelled by the judge's fitted model ([`pairs`]); and an end-to-end experiment that needs no
//! LLM ([`experiment`]): simulated candidates ([`candidates`]), rerankers trained on a judge's
//! labels, win rates of their picks ([`experiment_report`]).

pub mod candidates;
pub mod experiment;
pub mod experiment_report;
pub mod pairs;
pub mod prompts;
pub mod rerank_benchmark;
