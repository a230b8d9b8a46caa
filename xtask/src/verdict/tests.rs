use super::*;

#[test]
fn a_failing_cell_is_never_hidden_behind_a_timeout_an_error_or_an_inconclusive_one() {
    use Outcome::*;
    assert_eq!(Outcome::worst([Pass, Inconclusive, Fail, Timeout, Error]), Fail);
    assert_eq!(Outcome::worst([Timeout, Fail]), Fail);
    assert_eq!(Outcome::worst([Inconclusive, Error, Timeout]), Timeout);
    assert_eq!(Outcome::worst([Pass, Inconclusive]), Inconclusive);
    assert_eq!(Outcome::worst([Pass, Pass]), Pass);
    assert_eq!(Outcome::worst([]), Error);
}
