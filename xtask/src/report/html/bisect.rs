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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bisect::{Mark, Step};
    use crate::outcome::Outcome;

    #[test]
    fn the_page_gives_the_answer_and_links_every_step() {
        let step = |n, rev: &str, outcome, mark| Step {
            n,
            rev: rev.into(),
            subject: format!("subject {n}"),
            outcome,
            reason: "why".into(),
            mark,
            seconds: 20.0,
            page: format!("step-0{n}-{}/x/index.html", &rev[..12]),
        };
        let mut r = Report {
            tree: "/src/linux".into(),
            good: "41285e09802c0000".into(),
            bad: "5909ef6f162a0000".into(),
            cell: "s390x-upstream-offline".into(),
            expect: "clean".into(),
            steps: vec![
                step(1, "c94d69774536aaaa", Outcome::Fail, Mark::Bad),
                step(2, "8df921e4fc2abbbb", Outcome::Error, Mark::Skip),
            ],
            answer: Answer::FirstBad { rev: "c94d69774536aaaa".into(), subject: "mm/ksm: the bug".into() },
            seconds: 200.0,
        };
        let html = page(&r).into_string();
        assert!(
            html.contains("the first commit where the cell is not clean: c94d69774536aaaa mm/ksm: the bug"),
            "{html}"
        );
        assert!(
            html.contains(r#"href="step-01-c94d69774536/x/index.html""#)
                && html.contains(r#"href="step-02-8df921e4fc2a/x/index.html""#)
        );
        assert!(html.contains(">skip<") && html.contains(r#"href="bisect.log""#));
        r.answer = Answer::Undecided { revs: vec![("8df921e4fc2abbbb".into(), "subject 2".into())] };
        assert!(page(&r).into_string().contains("could not decide between these commits"));
    }
}
