//! The paper's manipulation experiments (section 6): steering responses towards what a judge
//! likes or dislikes, without training (system messages, [`prompts`]) and with training data
//! labelled by the judge's fitted model ([`pairs`]).

pub mod pairs;
pub mod prompts;
