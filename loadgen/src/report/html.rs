//! `index.html`: one self-contained page (charts inlined as SVG, styles inline, no
//! scripts or external files), so a report opens from disk or as a CI artefact.

use super::chart::Chart;
use super::table::{escape, Table};

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto;border:1px solid #ddd}\
figcaption{color:#555;font-size:.9em}\
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f4f4f4}td.pass{color:#1a7f37;font-weight:bold}td.fail{color:#cf222e;font-weight:bold}\
p.meta{color:#555}";

/// The page: title, lines of context, every chart (with its SVG) and the tables.
pub fn page(title: &str, meta: &[String], charts: &[(&Chart, &str)], tables: &[Table]) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!(
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    ));
    out.push_str(&format!("<h1>{}</h1>\n", escape(title)));
    for m in meta {
        out.push_str(&format!("<p class=\"meta\">{}</p>\n", escape(m)));
    }
    for (chart, svg) in charts {
        out.push_str(&format!("<figure id=\"{}\">\n", escape(&chart.id)));
        // plotters writes a bare <svg> element (no XML prolog), fit for inlining.
        out.push_str(svg.trim());
        out.push_str(&format!(
            "\n<figcaption>{} (also <a href=\"{id}.svg\">{id}.svg</a>, <a href=\"{id}.png\">{id}.png</a>)</figcaption>\n</figure>\n",
            escape(&chart.guide),
            id = escape(&chart.id)
        ));
    }
    for t in tables {
        out.push_str(&t.to_html());
    }
    out.push_str("</body>\n</html>\n");
    out
}
