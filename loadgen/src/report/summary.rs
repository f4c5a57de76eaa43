//! `summary.md`: the report as Markdown, for a terminal, a pull request or a wiki:
//! the context, each chart's reading guide with a link to its SVG, and the tables.

use super::chart::Chart;
use super::table::Table;

/// The Markdown page.
pub fn markdown(title: &str, meta: &[String], charts: &[Chart], tables: &[Table]) -> String {
    let mut out = format!("# {title}\n\n");
    for m in meta {
        out.push_str(&format!("{m}  \n"));
    }
    out.push('\n');
    if !charts.is_empty() {
        out.push_str("## Charts\n\n");
        for c in charts {
            out.push_str(&format!(
                "- **{}**: {} ([svg]({id}.svg), [png]({id}.png))\n",
                c.title,
                c.guide,
                id = c.id
            ));
        }
        out.push('\n');
    }
    for t in tables {
        out.push_str(&t.to_markdown());
    }
    out
}
