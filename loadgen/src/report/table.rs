//! Tables of a report (settings, latency, verification, expectations, ...), built once
//! and rendered both as Markdown (`summary.md`) and as HTML (`index.html`).

use crate::measure::Report;

/// A titled table of text cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub title: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, head: &[&str]) -> Self {
        Table {
            title: title.into(),
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// GitHub-flavoured Markdown.
    pub fn to_markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = format!("## {}\n\n", self.title);
        out.push_str(&format!(
            "| {} |\n",
            self.head
                .iter()
                .map(|h| cell(h))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        out.push_str(&format!("|{}\n", "---|".repeat(self.head.len())));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            ));
        }
        out.push('\n');
        out
    }

    /// An HTML `<h2>` and `<table>`.
    pub fn to_html(&self) -> String {
        let mut out = format!("<h2>{}</h2>\n<table>\n<tr>", escape(&self.title));
        for h in &self.head {
            out.push_str(&format!("<th>{}</th>", escape(h)));
        }
        out.push_str("</tr>\n");
        for r in &self.rows {
            out.push_str("<tr>");
            for c in r {
                let class = match c.as_str() {
                    "PASS" => " class=\"pass\"",
                    "FAIL" => " class=\"fail\"",
                    _ => "",
                };
                out.push_str(&format!("<td{class}>{}</td>", escape(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }
}

/// Text safe inside HTML elements and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with at most `digits` decimals and no trailing zeros.
pub fn num(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The tables of one run, in reading order (empty ones left out).
pub fn run_tables(r: &Report) -> Vec<Table> {
    let mut out = Vec::new();
    if !r.expectations.is_empty() {
        let mut t = Table::new("Expectations", &["", "metric", "check", "measured"]);
        for e in &r.expectations {
            t.row(vec![
                if e.passed { "PASS" } else { "FAIL" }.into(),
                e.name.clone(),
                e.check.clone(),
                e.measured.to_string(),
            ]);
        }
        out.push(t);
    }
    let mut t = Table::new(
        "Latency (after warm-up)",
        &["kind", "samples", "p50 ms", "p99 ms", "p99.9 ms", "max ms"],
    );
    for (name, s) in &r.latency {
        t.row(vec![
            name.clone(),
            s.count.to_string(),
            num(s.p50_ms, 2),
            num(s.p99_ms, 2),
            num(s.p999_ms, 2),
            num(s.max_ms, 2),
        ]);
    }
    out.push(t);
    if !r.metrics.is_empty() {
        let mut t = Table::new("Measured", &["metric", "value"]);
        for (k, v) in &r.metrics {
            t.row(vec![k.clone(), num(*v, 3)]);
        }
        out.push(t);
    }
    if !r.verification.is_empty() {
        let mut t = Table::new(
            "Verification per consumer group",
            &[
                "group",
                "acked",
                "consumed",
                "lost",
                "duplicates",
                "out of order",
            ],
        );
        for v in &r.verification {
            t.row(vec![
                v.group.clone(),
                v.acked.to_string(),
                v.unique_consumed.to_string(),
                v.lost.to_string(),
                v.duplicates.to_string(),
                v.out_of_order.to_string(),
            ]);
        }
        out.push(t);
    }
    if !r.pauses.pauses.is_empty() {
        let mut t = Table::new(
            "Rebalance pauses",
            &["group", "from s", "to s", "group-wide pause s", "completed"],
        );
        for p in &r.pauses.pauses {
            t.row(vec![
                p.group.clone(),
                num(p.start_ms / 1000.0, 2),
                num(p.end_ms / 1000.0, 2),
                num(p.group_pause_ms / 1000.0, 2),
                p.completed.to_string(),
            ]);
        }
        out.push(t);
    }
    let mut t = Table::new(
        "Settings that differ from the defaults",
        &["component", "setting", "value"],
    );
    let value = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    for (who, map) in r
        .settings
        .producers
        .iter()
        .map(|(k, v)| (format!("producer {k}"), v))
        .chain(
            r.settings
                .consumer_groups
                .iter()
                .map(|(k, v)| (format!("group {k}"), v)),
        )
        .chain(std::iter::once(("broker".to_string(), &r.settings.broker)))
    {
        for (k, v) in map {
            t.row(vec![who.clone(), k.clone(), value(v)]);
        }
    }
    if !t.rows.is_empty() {
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_html_escape_their_cells() {
        let mut t = Table::new("T", &["a", "b"]);
        t.row(vec!["x|y".into(), "<b>".into()]);
        t.row(vec!["PASS".into(), "1".into()]);
        assert_eq!(
            t.to_markdown(),
            "## T\n\n| a | b |\n|---|---|\n| x\\|y | <b> |\n| PASS | 1 |\n\n"
        );
        let h = t.to_html();
        assert!(h.contains("<td>&lt;b&gt;</td>"), "{h}");
        assert!(h.contains("<td class=\"pass\">PASS</td>"), "{h}");
        assert_eq!(num(1.2500, 3), "1.25");
        assert_eq!(num(3.0, 2), "3");
        assert_eq!(num(42.0, 0), "42");
    }
}
