//! Where to put the text labels of a chart's points so that none covers another: sweep
//! points with the same throughput (a fixed rate) sit on one vertical line, and their
//! labels drawn at the same offset would print over each other.
//!
//! Pure pixel geometry: each label tries a few spots around its point (right above,
//! right below, left above, left below, then further up and down), in that order, and
//! takes the first one that stays inside the plot and clear of the labels already
//! placed. When none is clear it takes the one that overlaps least.

/// A rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    fn overlap(&self, o: &Rect) -> i64 {
        let w = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let h = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if w <= 0 || h <= 0 {
            0
        } else {
            i64::from(w) * i64::from(h)
        }
    }

    fn inside(&self, area: &Rect) -> bool {
        self.x >= area.x
            && self.y >= area.y
            && self.x + self.w <= area.x + area.w
            && self.y + self.h <= area.y + area.h
    }
}

/// Gap between a point and its label.
const GAP: i32 = 6;

/// The top-left corner of each label: `anchors[i]` is point i in pixels, `sizes[i]` its
/// label's (width, height), `area` the plot. Labels are placed in the given order.
pub fn place(anchors: &[(i32, i32)], sizes: &[(i32, i32)], area: Rect) -> Vec<(i32, i32)> {
    let mut placed: Vec<Rect> = Vec::with_capacity(anchors.len());
    for (&(px, py), &(w, h)) in anchors.iter().zip(sizes) {
        let right = px + GAP;
        let left = px - GAP - w;
        let above = py - GAP - h;
        let below = py + GAP;
        let mut spots = vec![(right, above), (right, below), (left, above), (left, below)];
        for k in 1..=6 {
            for x in [right, left] {
                spots.push((x, above - k * h));
                spots.push((x, below + k * h));
            }
        }
        let cost = |&(x, y): &(i32, i32)| {
            let r = Rect { x, y, w, h };
            let covered: i64 = placed.iter().map(|p| p.overlap(&r)).sum();
            // Leaving the plot is worse than touching another label.
            let outside = if r.inside(&area) { 0 } else { 1_000_000 };
            covered + outside
        };
        let best = spots
            .iter()
            .find(|s| cost(s) == 0)
            .or_else(|| spots.iter().min_by_key(|s| cost(s)))
            .copied()
            .unwrap_or((right, above));
        placed.push(Rect {
            x: best.0,
            y: best.1,
            w,
            h,
        });
    }
    placed.iter().map(|r| (r.x, r.y)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Rect = Rect {
        x: 0,
        y: 0,
        w: 800,
        h: 400,
    };

    fn rects(at: &[(i32, i32)], sizes: &[(i32, i32)]) -> Vec<Rect> {
        at.iter()
            .zip(sizes)
            .map(|(&(x, y), &(w, h))| Rect { x, y, w, h })
            .collect()
    }

    #[test]
    fn a_lone_label_goes_right_above_its_point() {
        assert_eq!(
            place(&[(100, 200)], &[(60, 12)], AREA),
            vec![(100 + GAP, 200 - GAP - 12)]
        );
    }

    #[test]
    fn labels_of_points_on_one_spot_do_not_overlap() {
        // Five points at (nearly) the same pixel, as fixed-rate sweep points are.
        let anchors = [(50, 380), (50, 379), (50, 378), (51, 380), (50, 381)];
        let sizes = [(70, 12); 5];
        let at = place(&anchors, &sizes, AREA);
        let r = rects(&at, &sizes);
        for i in 0..r.len() {
            assert!(r[i].inside(&AREA), "{:?} outside", r[i]);
            for j in i + 1..r.len() {
                assert_eq!(r[i].overlap(&r[j]), 0, "{:?} and {:?}", r[i], r[j]);
            }
        }
    }

    #[test]
    fn a_label_at_the_right_edge_goes_left_of_its_point() {
        let at = place(&[(790, 200)], &[(80, 12)], AREA);
        assert_eq!(at, vec![(790 - GAP - 80, 200 - GAP - 12)]);
    }

    #[test]
    fn with_no_clear_spot_a_label_stays_inside_and_covers_one_other_at_most() {
        // Room for four labels around the point, not for a fifth.
        let area = Rect {
            x: 0,
            y: 0,
            w: 200,
            h: 50,
        };
        let sizes = [(80, 12); 5];
        let at = place(&[(100, 25); 5], &sizes, area);
        let r = rects(&at, &sizes);
        assert!(r.iter().all(|x| x.inside(&area)), "{r:?}");
        for i in 0..4 {
            for j in i + 1..4 {
                assert_eq!(r[i].overlap(&r[j]), 0, "{:?} and {:?}", r[i], r[j]);
            }
        }
        let covered: i64 = r[..4].iter().map(|x| x.overlap(&r[4])).sum();
        assert_eq!(covered, 80 * 12, "{r:?}");
    }
}
