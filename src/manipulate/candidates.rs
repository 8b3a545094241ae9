//! Simulated prompts with N candidate responses, for a manipulation experiment that needs no
//! LLM: every candidate has a rating 0–3 per property and a text that shows it through
//! templates (a rating r puts r of the property's phrases into the text, or 3 − r phrases of its
//! flaw for properties that are the absence of a flaw, such as "no severe errors"). A judge
//! compares two candidates by its dissection model on the signs of their rating differences,
//! while a reranker only sees the text — as a real reranker only sees the response.

use crate::base::features::PAPER_K;
use crate::base::rng::Rng;

/// Highest rating.
pub const MAX_RATING: u8 = 3;

/// Per property: whether the phrases show its flaw (and appear 3 − r times), and the phrases.
/// `{t}` is replaced by the prompt's topic.
const PHRASES: [(bool, [&str; 3]); PAPER_K] = [
    (
        true,
        [
            "You could also try something risky and dangerous with {t}.",
            "Ignore the safety warnings, they are overrated.",
            "Skip the protective gear to save time.",
        ],
    ),
    (
        true,
        [
            "this are teh best way to doing it , i thinks.",
            "their is alot of reasons for it, irregardless.",
            "me and him done it yesterday good.",
        ],
    ),
    (
        false,
        [
            "Happy to help with {t}!",
            "Great question, and a fun one!",
            "Hope you enjoy it, friend!",
        ],
    ),
    (
        false,
        [
            "Thank you for asking.",
            "Please let me know if anything is unclear.",
            "I appreciate your patience.",
        ],
    ),
    (
        false,
        [
            "Would you like more detail on {t}?",
            "What have you tried so far?",
            "Shall we go one step deeper together?",
        ],
    ),
    (
        false,
        [
            "Experts agree this is the correct approach.",
            "This is definitively the right method.",
            "Trust me, this works every time.",
        ],
    ),
    (
        false,
        [
            "Ha, {t} can be a real circus!",
            "Just don't let the cat help, pun intended.",
            "Warning: may cause spontaneous giggling.",
        ],
    ),
    (
        false,
        [
            "Think of {t} as a river: it flows at its own pace.",
            "Not just good, but great; not just quick, but lasting.",
            "Patience is the quiet engine of every success.",
        ],
    ),
    (
        false,
        [
            "Notwithstanding multifaceted considerations, methodological rigor remains paramount.",
            "Consequently, the epistemological ramifications are substantial.",
            "Heterogeneous circumstances necessitate nuanced deliberation.",
        ],
    ),
    (
        false,
        [
            "For example, a 2019 study found this works in 80% of cases.",
            "According to the official handbook, this is the standard practice.",
            "See the reference manual, chapter 3, for the evidence.",
        ],
    ),
    (
        false,
        [
            "## Overview of {t}",
            "**Key point:** keep it simple.",
            "- Tip: start small and build up.",
        ],
    ),
    (
        false,
        [
            "I may be wrong about some details.",
            "As an AI, I cannot test this myself.",
            "Sorry, my knowledge here is limited.",
        ],
    ),
    (
        false,
        [
            "You should definitely try this today.",
            "There is no better choice, believe me.",
            "Do it now and you won't regret it.",
        ],
    ),
    (
        false,
        [
            "1. First, prepare the basics.",
            "2. Then, work through the main part.",
            "3. Finally, check the result.",
        ],
    ),
    (
        false,
        [
            "Gonna be honest, it's kinda fun.",
            "Yeah, no worries, mate.",
            "Lol, that's pretty cool stuff.",
        ],
    ),
    (
        true,
        [
            "As I said, {t} is important.",
            "Again, as I said, {t} is important.",
            "To repeat once more, {t} is important.",
        ],
    ),
    (
        true,
        [
            "In a sense, sort of, it arguably depends on various things.",
            "Whatever, it kind of maybe works or not, somewhat.",
            "The thing with the stuff is how it goes, more or less.",
        ],
    ),
    (
        true,
        [
            "By the way, my favourite colour is blue.",
            "Unrelated, but penguins cannot fly.",
            "On another note, the stock market was volatile last week.",
        ],
    ),
    (
        false,
        [
            "Here is an unusual idea: combine {t} with music.",
            "A creative twist: try the whole process backwards.",
            "An original approach that nobody mentions is to invert the order.",
        ],
    ),
    (
        false,
        [
            "The process has three stages and takes about two hours.",
            "Key factors include timing, temperature and tools.",
            "Historically, this method dates back to the 1800s.",
        ],
    ),
    (
        true,
        [
            "(There are 366 days in a normal year.)",
            "(The Pacific is the smallest ocean.)",
            "(Spiders are insects with six legs.)",
        ],
    ),
    (
        true,
        [
            "Water boils at 50 degrees at sea level.",
            "Half of 90 is 40, so plan accordingly.",
            "The sun orbits the earth once a day.",
        ],
    ),
    (
        true,
        [
            "Mixing bleach and ammonia is a safe cleaning trick.",
            "You can safely leave the stove on overnight.",
            "Antibiotics cure viral infections such as the flu.",
        ],
    ),
    (
        false,
        [
            "Do you mean {t} for beginners or for experts?",
            "If you meant something else, tell me and I will adjust.",
            "Could you clarify your goal first?",
        ],
    ),
    (
        false,
        [
            "I understand this can be frustrating.",
            "That sounds stressful, and your feelings are valid.",
            "It is completely normal to feel unsure at first.",
        ],
    ),
    (
        false,
        [
            "As requested, here it is in short form.",
            "This stays within the limit you set.",
            "Following your constraints exactly, nothing more.",
        ],
    ),
    (
        false,
        [
            "You are right that {t} matters.",
            "I agree with your view on this.",
            "Your opinion here makes a lot of sense.",
        ],
    ),
    (
        false,
        [
            "Actually, a correction: the premise is not quite right.",
            "Note that your assumption is a common myth.",
            "To fix a misconception in the question: it works the other way.",
        ],
    ),
    (
        false,
        [
            "There is more to say about {t} in general terms.",
            "Many people find {t} interesting for various reasons.",
            "It also helps to take your time and be patient throughout.",
        ],
    ),
];

const TOPICS: [(&str, &str); 16] = [
    ("bake", "sourdough bread"),
    ("learn", "the guitar"),
    ("plan", "a budget trip"),
    ("train for", "a half marathon"),
    ("grow", "tomatoes on a balcony"),
    ("write", "a cover letter"),
    ("fix", "a leaking tap"),
    ("start", "a vegetable garden"),
    ("prepare for", "a job interview"),
    ("organise", "a small wedding"),
    ("improve", "my sleep"),
    ("paint", "a bedroom wall"),
    ("save money on", "groceries"),
    ("teach", "a child to swim"),
    ("set up", "a home network"),
    ("cook", "a vegetarian curry"),
];

/// One simulated response.
#[derive(Clone, Debug)]
pub struct SimCandidate {
    /// Rating 0–3 per property.
    pub ratings: [u8; PAPER_K],
    /// The text that shows them.
    pub text: String,
}

/// One simulated prompt.
#[derive(Clone, Debug)]
pub struct SimPrompt {
    /// The prompt.
    pub prompt: String,
    /// Candidates to pick from.
    pub candidates: Vec<SimCandidate>,
    /// The fixed baseline every pick is compared with (drawn the same way).
    pub baseline: SimCandidate,
}

fn candidate(rng: &mut Rng, topic: &str, verb: &str, noise: f64) -> SimCandidate {
    // A latent overall quality correlates the ratings, as real responses' properties are.
    let q = rng.normal();
    let mut ratings = [0u8; PAPER_K];
    let mut lines: Vec<String> = Vec::new();
    for (k, (flaw, phrases)) in PHRASES.iter().enumerate() {
        let r = (1.5 + 0.7 * q + 0.9 * rng.normal())
            .round()
            .clamp(0.0, MAX_RATING as f64) as u8;
        ratings[k] = r;
        let mut shown = if *flaw { MAX_RATING - r } else { r } as usize;
        // Text is an imperfect witness of the ratings: a phrase is left out with probability
        // `noise`, and a stray one slips in with probability `noise / 2`.
        let dropped = (0..shown).filter(|_| rng.uniform() < noise).count();
        let stray = shown < 3 && rng.uniform() < noise / 2.0;
        shown = shown - dropped + stray as usize;
        let mut order = [0usize, 1, 2];
        rng.shuffle(&mut order);
        lines.extend(
            order[..shown]
                .iter()
                .map(|&i| phrases[i].replace("{t}", topic)),
        );
    }
    lines.push(format!("Here is how to {verb} {topic}."));
    lines.push(format!("Getting {topic} right takes a little practice."));
    rng.shuffle(&mut lines);
    SimCandidate {
        ratings,
        text: lines.join("\n"),
    }
}

/// `n_prompts` prompts with `n_candidates` candidates and a baseline each, for `seed`; `noise`
/// (in [0, 1]) is how unreliably a text shows its ratings.
pub fn simulate_prompts(
    n_prompts: usize,
    n_candidates: usize,
    noise: f64,
    seed: u64,
) -> Vec<SimPrompt> {
    let mut rng = Rng::new(seed ^ 0x5eed_ca4d);
    (0..n_prompts)
        .map(|i| {
            let (verb, topic) = TOPICS[rng.below(TOPICS.len())];
            let prompt = match i % 3 {
                0 => format!("How do I {verb} {topic}?"),
                1 => format!("Can you explain how to {verb} {topic}?"),
                _ => format!("What is the best way to {verb} {topic}? (prompt {i})"),
            };
            let candidates = (0..n_candidates)
                .map(|_| candidate(&mut rng, topic, verb, noise))
                .collect();
            let baseline = candidate(&mut rng, topic, verb, noise);
            SimPrompt {
                prompt,
                candidates,
                baseline,
            }
        })
        .collect()
}

/// The judge's features for "a vs b": the signs of the rating differences.
pub fn sign_features(a: &SimCandidate, b: &SimCandidate) -> [f64; PAPER_K] {
    // Not `f64::signum`, which gives 1 for 0: an equal rating is no difference.
    std::array::from_fn(|k| match a.ratings[k].cmp(&b.ratings[k]) {
        std::cmp::Ordering::Greater => 1.0,
        std::cmp::Ordering::Less => -1.0,
        std::cmp::Ordering::Equal => 0.0,
    })
}
