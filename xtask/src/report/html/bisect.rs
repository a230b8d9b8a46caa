//! A bisection's page (`index.html` of its folder): the answer, then every step with its
//! commit, verdict, what git was told and a link to the step's cell page.

use maud::{html, Markup};

use super::{outcome_class, seconds, shell};
use crate::bisect::{Answer, Report};

pub fn page(r: &Report) -> Markup {
    let title = format!("bisect {} {}..{}", r.cell, short(&r.good), short(&r.bad));
    shell(
        &title,
        html! {
            h1 { (title) }
            p { "Tree " code { (r.tree) } "; a good commit's cell is " strong { (r.expect) } "; "
                (r.steps.len()) " steps in " (seconds(r.seconds)) "." }
            p.answer {
                @match &r.answer {
                    Answer::FirstBad { .. } => strong { (r.answer_line()) },
                    Answer::Undecided { .. } => strong.error { (r.answer_line()) },
                }
            }
            table {
                thead { tr { th { "step" } th { "commit" } th { "subject" } th { "verdict" } th { "git was told" } th { "time" } th { "why" } } }
                tbody {
                    @for s in &r.steps {
                        tr {
                            td { (s.n) }
                            td { a href=(s.page) { code { (short(&s.rev)) } } }
                            td { (s.subject) }
                            td class=(outcome_class(s.outcome)) { (s.outcome.name()) }
                            td { (s.mark.word()) }
                            td { (seconds(s.seconds)) }
                            td { (s.reason) }
                        }
                    }
                }
            }
            p { "The bisect log (" code { "git bisect log" } ") is in " a href="bisect.log" { "bisect.log" } "." }
        },
    )
}

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}
