//! A set of `u64` stored as disjoint, non-adjacent half-open ranges. Memory grows with
//! the number of gaps, not the number of members: a stream of sequence numbers
//! 0, 1, 2, ... is one range however long the run.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent `[start, end)` ranges.
#[derive(Debug, Clone, Default)]
pub(crate) struct RangeSet {
    /// start -> end (exclusive)
    ranges: BTreeMap<u64, u64>,
    len: u64,
}

impl RangeSet {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Members.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Number of ranges (gaps + 1 when non-empty).
    pub(crate) fn range_count(&self) -> usize {
        self.ranges.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }

    pub(crate) fn contains(&self, v: u64) -> bool {
        matches!(self.ranges.range(..=v).next_back(), Some((_, &e)) if v < e)
    }

    /// Inserts `v`; true when it was not yet a member. `u64::MAX` is ignored.
    pub(crate) fn insert(&mut self, v: u64) -> bool {
        let Some(next) = v.checked_add(1) else {
            return false;
        };
        let prev = self.ranges.range(..=v).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, e)) = prev {
            if v < e {
                return false;
            }
        }
        let follow = self.ranges.get(&next).copied();
        match (prev, follow) {
            (Some((s, e)), Some(fe)) if e == v => {
                self.ranges.remove(&next);
                self.ranges.insert(s, fe);
            }
            (Some((s, e)), None) if e == v => {
                self.ranges.insert(s, next);
            }
            (_, Some(fe)) => {
                self.ranges.remove(&next);
                self.ranges.insert(v, fe);
            }
            (_, None) => {
                self.ranges.insert(v, next);
            }
        }
        self.len += 1;
        true
    }

    /// Inserts `[start, end)`; returns how many values were new.
    pub(crate) fn insert_range(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let (mut lo, mut hi) = (start, end);
        let mut covered = 0;
        // Absorb every range overlapping or touching [lo, hi).
        while let Some((s, e)) = self
            .ranges
            .range(..=hi)
            .next_back()
            .map(|(&s, &e)| (s, e))
            .filter(|&(_, e)| e >= lo)
        {
            self.ranges.remove(&s);
            covered += overlap(s, e, start, end);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.ranges.insert(lo, hi);
        let added = (end - start) - covered;
        self.len += added;
        added
    }

    /// How many of `[start, end)` are members.
    pub(crate) fn count_within(&self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let mut n = 0;
        for (&s, &e) in self.ranges.range(..end).rev() {
            if e <= start {
                break;
            }
            n += overlap(s, e, start, end);
        }
        n
    }

    /// Calls `f` for each maximal sub-range of `[start, end)` that is *not* in the set,
    /// in ascending order.
    pub(crate) fn for_each_gap(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
        if start >= end {
            return;
        }
        let mut cursor = start;
        if let Some((_, &e)) = self.ranges.range(..=start).next_back() {
            cursor = cursor.max(e);
        }
        if cursor >= end {
            return;
        }
        for (&s, &e) in self.ranges.range(cursor..end) {
            if s > cursor {
                f(cursor, s);
            }
            cursor = e;
            if cursor >= end {
                return;
            }
        }
        if cursor < end {
            f(cursor, end);
        }
    }

    /// `|self \ other|`.
    pub(crate) fn count_not_in(&self, other: &RangeSet) -> u64 {
        self.iter()
            .map(|(s, e)| (e - s) - other.count_within(s, e))
            .sum()
    }

    /// `|self ∩ other|`.
    pub(crate) fn count_in(&self, other: &RangeSet) -> u64 {
        self.iter().map(|(s, e)| other.count_within(s, e)).sum()
    }

    /// Bounds memory: fills the lowest gap (merging the two lowest ranges) and returns
    /// it as `[start, end)`, or `None` with fewer than two ranges.
    pub(crate) fn collapse_lowest_gap(&mut self) -> Option<(u64, u64)> {
        let mut it = self.ranges.iter();
        let (&s1, &e1) = it.next()?;
        let (&s2, &e2) = it.next()?;
        self.ranges.remove(&s2);
        self.ranges.insert(s1, e2);
        self.len += s2 - e1;
        Some((e1, s2))
    }
}

fn overlap(s: u64, e: u64, a: u64, b: u64) -> u64 {
    let lo = s.max(a);
    let hi = e.min(b);
    hi.saturating_sub(lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn model_check(set: &RangeSet, model: &BTreeSet<u64>) {
        assert_eq!(set.len(), model.len() as u64);
        let mut prev_end = None;
        for (s, e) in set.iter() {
            assert!(s < e);
            if let Some(pe) = prev_end {
                assert!(s > pe, "ranges must be disjoint and non-adjacent");
            }
            prev_end = Some(e);
            for v in s..e {
                assert!(model.contains(&v));
            }
        }
    }

    #[test]
    fn matches_a_btreeset_model() {
        let mut set = RangeSet::new();
        let mut model = BTreeSet::new();
        let mut x: u64 = 12345;
        for i in 0..4_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (x >> 33) % 600;
            if i % 5 == 0 {
                let len = (x >> 20) % 9;
                let added = set.insert_range(v, v + len);
                let before = model.len();
                model.extend(v..v + len);
                assert_eq!(added, (model.len() - before) as u64);
            } else {
                assert_eq!(set.insert(v), model.insert(v));
            }
            if i % 97 == 0 {
                model_check(&set, &model);
                let (a, b) = (v / 2, v + 50);
                let within = model.range(a..b).count() as u64;
                assert_eq!(set.count_within(a, b), within);
                let mut gaps = 0;
                set.for_each_gap(a, b, |s, e| {
                    assert!(s < e && s >= a && e <= b);
                    for g in s..e {
                        assert!(!model.contains(&g));
                    }
                    gaps += e - s;
                });
                assert_eq!(gaps + within, b - a);
                assert_eq!(set.contains(v), model.contains(&v));
            }
        }
        model_check(&set, &model);
    }

    #[test]
    fn set_algebra_and_collapse() {
        let mut a = RangeSet::new();
        a.insert_range(0, 10);
        a.insert_range(20, 30);
        let mut b = RangeSet::new();
        b.insert_range(5, 25);
        assert_eq!(a.count_not_in(&b), 10);
        assert_eq!(a.count_in(&b), 10);
        assert_eq!(a.collapse_lowest_gap(), Some((10, 20)));
        assert_eq!((a.len(), a.range_count()), (30, 1));
        assert_eq!(a.collapse_lowest_gap(), None);
        assert!(!a.insert(u64::MAX));
        assert_eq!(a.insert_range(5, 5), 0);
    }

    #[test]
    fn sequential_inserts_stay_one_range() {
        let mut s = RangeSet::new();
        for v in 0..100_000 {
            assert!(s.insert(v));
        }
        assert_eq!(s.range_count(), 1);
        assert!(!s.insert(500));
    }
}
