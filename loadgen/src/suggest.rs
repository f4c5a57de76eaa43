//! "Did you mean ...?" suggestions for misspelt keys, metric names and event kinds
//! (scenario files) and client properties.

/// Levenshtein distance over `char`s (insert, delete, substitute each cost 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo:
/// within a third of the input's length (at least 2 edits), or a candidate that starts
/// with the input (`crash` → `crash-consumer`). Ties go to the earlier candidate.
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input_lc = input.to_ascii_lowercase();
    let limit = (input_lc.chars().count() / 3).max(2);
    let mut best: Option<(usize, usize, &'a str)> = None;
    for cand in candidates {
        if cand == input {
            continue;
        }
        let cand_lc = cand.to_ascii_lowercase();
        let d = edit_distance(&input_lc, &cand_lc);
        let prefix = input_lc.chars().count() >= 3 && cand_lc.starts_with(&input_lc);
        if d > limit && !prefix {
            continue;
        }
        // A prefix match ranks as if it were one edit away.
        let score = if prefix { d.min(1) } else { d };
        // Equal scores go to the fewer real edits (`batchin`: `batching`, not
        // `batching-sweep`), then to the earlier candidate.
        let better = match best {
            None => true,
            Some((s, bd, _)) => (score, d) < (s, bd),
        };
        if better {
            best = Some((score, d, cand));
        }
    }
    best.map(|(_, _, c)| c)
}

/// `"; did you mean 'x'?"` or an empty string.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(input, candidates) {
        Some(c) => format!("; did you mean '{c}'?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_suggest_distance() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("rebalance", "rebalances"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn scenario_suggest_closest() {
        let names = ["rebalances", "lost", "duplicates"];
        assert_eq!(closest("rebalance", names), Some("rebalances"));
        assert_eq!(closest("lots", names), Some("lost"));
        assert_eq!(closest("throughput", names), None);
        let kinds = ["add-consumer", "crash-consumer", "set-rate"];
        assert_eq!(closest("crash", kinds), Some("crash-consumer"));
        assert_eq!(closest("setrate", kinds), Some("set-rate"));
    }
}
