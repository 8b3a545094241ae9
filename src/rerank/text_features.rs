//! What a reranker sees of a (prompt, response): hashed word n-grams (the embedding bag's input)
//! and a few text statistics. Computed once per text on the CPU and shared by every model of a
//! batched run, as X is shared by a group's fits in the dissection engine.
//!
//! - **Bag**: the response is lower-cased and split on anything that is not a letter, digit or
//!   apostrophe; every word and every pair of adjacent words is hashed (FNV-1a, 64 bit) into
//!   one of `buckets` buckets, and a bucket holds `ln(1 + count)`. Bigrams let the bag tell
//!   "not sure" from "sure"; the log damps long responses.
//! - **Statistics** ([`STAT_NAMES`]): length in characters and in words, sentences, list items,
//!   headings, code blocks, apology/refusal phrases, questions back to the user, exclamations,
//!   the share of the prompt's content words the response repeats (relevance), mean word length
//!   and the share of digits. They are standardised with the training texts' mean and sd, which
//!   the model keeps, so scoring new texts uses the same scale.

use serde::{Deserialize, Serialize};

use crate::base::fingerprint::fnv;

/// Names of the text statistics, in column order.
pub const STAT_NAMES: [&str; 12] = [
    "log_chars",
    "log_words",
    "log_sentences",
    "list_items",
    "headings",
    "code_blocks",
    "apologies_refusals",
    "questions",
    "exclamations",
    "prompt_overlap",
    "mean_word_length",
    "digit_share",
];
/// Number of text statistics.
pub const N_STATS: usize = STAT_NAMES.len();

const APOLOGY_MARKERS: [&str; 7] = [
    "sorry",
    "apologize",
    "apologies",
    "i cannot",
    "i can't",
    "as an ai",
    "unable to",
];

/// The words of a text, lower-cased.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// FNV-1a of the parts, joined by a unit separator (so "ab c" and "a bc" differ).
fn fnv1a(parts: &[&str]) -> u64 {
    parts
        .iter()
        .enumerate()
        .fold(0xcbf2_9ce4_8422_2325, |h, (i, p)| {
            let h = if i > 0 { fnv(h, &[0x1f]) } else { h };
            fnv(h, p.as_bytes())
        })
}

/// `ln(1 + count)` per hashed word/bigram bucket, as `(bucket, value)` pairs sorted by bucket.
pub fn bag(text: &str, buckets: usize) -> Vec<(u32, f32)> {
    let w = words(text);
    let mut counts = std::collections::BTreeMap::<u32, u32>::new();
    let mut add = |h: u64| *counts.entry((h % buckets as u64) as u32).or_default() += 1;
    for (i, word) in w.iter().enumerate() {
        add(fnv1a(&[word]));
        if i + 1 < w.len() {
            add(fnv1a(&[word, &w[i + 1]]));
        }
    }
    counts
        .into_iter()
        .map(|(b, c)| (b, (c as f32).ln_1p()))
        .collect()
}

/// The raw (unstandardised) statistics of a response to a prompt.
pub fn statistics(prompt: &str, response: &str) -> [f32; N_STATS] {
    let w = words(response);
    let lower = response.to_lowercase();
    let lines: Vec<&str> = response.lines().map(str::trim_start).collect();
    let list_items = lines
        .iter()
        .filter(|l| {
            l.starts_with("- ")
                || l.starts_with("* ")
                || l.split_once(". ")
                    .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .count();
    let headings = lines.iter().filter(|l| l.starts_with('#')).count();
    let code_blocks = response.matches("```").count() / 2;
    let apologies: usize = APOLOGY_MARKERS
        .iter()
        .map(|m| lower.matches(m).count())
        .sum();
    let sentences = response
        .split(['.', '!', '?', '\n'])
        .filter(|s| s.trim().len() > 1)
        .count();
    let content: std::collections::BTreeSet<String> =
        words(prompt).into_iter().filter(|w| w.len() > 3).collect();
    let said: std::collections::BTreeSet<&str> = w.iter().map(String::as_str).collect();
    let overlap = if content.is_empty() {
        0.0
    } else {
        content.iter().filter(|c| said.contains(c.as_str())).count() as f32 / content.len() as f32
    };
    let chars = response.chars().count();
    let mean_len = if w.is_empty() {
        0.0
    } else {
        w.iter().map(|x| x.chars().count()).sum::<usize>() as f32 / w.len() as f32
    };
    let digits = response.chars().filter(char::is_ascii_digit).count();
    [
        (chars as f32).ln_1p(),
        (w.len() as f32).ln_1p(),
        (sentences as f32).ln_1p(),
        list_items as f32,
        headings as f32,
        code_blocks as f32,
        apologies as f32,
        response.matches('?').count() as f32,
        response.matches('!').count() as f32,
        overlap,
        mean_len,
        digits as f32 / chars.max(1) as f32,
    ]
}

/// How texts are turned into features; saved with the model so scoring repeats it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Featurizer {
    /// Hash buckets of the bag.
    pub buckets: usize,
    /// Mean of each statistic over the training texts.
    pub stat_mean: Vec<f32>,
    /// Sd of each statistic over the training texts (1 where constant).
    pub stat_sd: Vec<f32>,
}

/// Features of a list of texts, dense and row-major, ready for tensors.
#[derive(Clone, Debug)]
pub struct TextMatrix {
    /// Texts.
    pub n: usize,
    /// `n × buckets` bag values.
    pub bag: Vec<f32>,
    /// `n × N_STATS` standardised statistics.
    pub stats: Vec<f32>,
}

impl Featurizer {
    /// A featurizer whose statistics are standardised on `texts` (prompt, response).
    pub fn fit(buckets: usize, texts: &[(&str, &str)]) -> Featurizer {
        let raw: Vec<[f32; N_STATS]> = texts.iter().map(|(p, r)| statistics(p, r)).collect();
        let n = raw.len().max(1) as f64;
        let mut stat_mean = vec![0f32; N_STATS];
        let mut stat_sd = vec![1f32; N_STATS];
        for k in 0..N_STATS {
            let mean = raw.iter().map(|s| s[k] as f64).sum::<f64>() / n;
            let var = raw
                .iter()
                .map(|s| (s[k] as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            stat_mean[k] = mean as f32;
            stat_sd[k] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
        }
        Featurizer {
            buckets,
            stat_mean,
            stat_sd,
        }
    }

    /// The features of `texts` (prompt, response).
    pub fn matrix(&self, texts: &[(&str, &str)]) -> TextMatrix {
        let n = texts.len();
        let mut bag_m = vec![0f32; n * self.buckets];
        let mut stats = vec![0f32; n * N_STATS];
        for (i, (p, r)) in texts.iter().enumerate() {
            for (b, v) in bag(r, self.buckets) {
                bag_m[i * self.buckets + b as usize] = v;
            }
            let s = statistics(p, r);
            for k in 0..N_STATS {
                stats[i * N_STATS + k] = (s[k] - self.stat_mean[k]) / self.stat_sd[k];
            }
        }
        TextMatrix {
            n,
            bag: bag_m,
            stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_count_what_they_name() {
        let s = statistics(
            "How do I bake bread quickly?",
            "# Bread\n- Mix flour\n- Bake it\n1. Wait\nSorry, I cannot help more. Do you want yeast?",
        );
        assert_eq!(s[3], 3.0, "list items");
        assert_eq!(s[4], 1.0, "headings");
        assert_eq!(s[6], 2.0, "sorry + i cannot");
        assert_eq!(s[7], 1.0, "questions");
        assert!(
            (s[9] - 2.0 / 3.0).abs() < 1e-6,
            "bake, bread of bake/bread/quickly"
        );
    }

    #[test]
    fn bag_counts_words_and_bigrams() {
        let b = bag("very very good", 1 << 20);
        let total: f32 = b.iter().map(|(_, v)| v.exp_m1()).sum();
        assert_eq!(total.round(), 5.0, "3 words + 2 bigrams");
    }
}
