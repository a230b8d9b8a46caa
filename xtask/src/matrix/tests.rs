use super::*;

fn repo_matrix() -> MatrixFile {
    load(&default_path(&crate::paths::repo_root())).unwrap()
}

#[test]
fn the_repo_matrix_has_two_kernels_three_variants_on_two_arches_and_two_scenarios_plus_selftests() {
    let m = repo_matrix();
    let cells = plan(&m, &[], &[]);
    // 2 kernels x 2 arches x (3 variants x offline, cancel + the 2 with selftests: x selftests)
    assert_eq!(cells.len(), 32);
    let selftests: Vec<String> =
        cells.iter().filter(|c| c.scenario == Scenario::Selftests).map(|c| c.id().to_string()).collect();
    assert_eq!(selftests.len(), 8);
    assert!(selftests.iter().all(|id| !id.contains("prefix")), "{selftests:?}");
    assert!(cells.iter().all(|c| c.selftests.is_some() == (c.scenario == Scenario::Selftests)));
    // The tests' seconds are added to the arch's timeout in their cells only.
    let timeout = |id: &str| cells.iter().find(|c| c.id().to_string() == id).unwrap().timeout;
    assert_eq!(timeout("6.12-s390x-rust-selftests"), timeout("6.12-s390x-rust-offline") + 300);
    let prefix_cancel = cells.iter().find(|c| c.id().to_string() == "6.1-s390x-prefix-cancel").unwrap();
    assert_eq!(
        prefix_cancel.expectation,
        Expectation::Splat { locks: vec!["ksm_thread_mutex/1".into(), "(memory_chain).rwsem".into()] }
    );
    assert_eq!(prefix_cancel.variant.patches, vec![PathBuf::from("patches/prefix")]);
    let p612 = cells.iter().find(|c| c.id().to_string() == "6.12-arm64-prefix-offline").unwrap();
    assert_eq!(p612.variant.patches, vec![PathBuf::from("patches/6.12/prefix")], "the 6.12 series on 6.12");
    assert_eq!(p612.kernel.source, "debian:linux-source-6.12");
    assert_eq!(
        cells.iter().find(|c| c.id().to_string() == "6.1-arm64-upstream-offline").unwrap().expectation,
        Expectation::Clean
    );
}

#[test]
fn only_and_skip_filter_cells() {
    let m = repo_matrix();
    let c = plan(&m, &["s390x".into(), "prefix,upstream".into(), "6.1".into()], &["cancel,selftests".into()]);
    let ids: Vec<String> = c.iter().map(|c| c.id().to_string()).collect();
    assert_eq!(ids, vec!["6.1-s390x-prefix-offline", "6.1-s390x-upstream-offline"]);
    assert!(plan(&m, &["arch=arm64".into(), "variant=rust".into(), "scenario=cancel".into()], &[]).len() == 2);
    assert_eq!(plan(&m, &["kernel=6.12".into()], &[]).len(), 16);
}

#[test]
fn a_users_tree_runs_the_series_of_the_nearest_kernel_not_newer() {
    let mut m = repo_matrix();
    assert_eq!(m.clone().pin_kernel("6.12.7", "/src/linux").unwrap(), "6.12");
    assert_eq!(m.clone().pin_kernel("6.6.30", "/src/linux").unwrap(), "6.1");
    assert_eq!(m.clone().pin_kernel("6.18.0-rc1", "/src/linux").unwrap(), "6.12");
    let e = m.clone().pin_kernel("5.15.0", "/src/linux").unwrap_err().to_string();
    assert!(e.contains("older than the oldest kernel the matrix supports (6.1)"), "{e}");
    m.pin_kernel("6.12.7", "/src/linux").unwrap();
    let cells = plan(&m, &[], &[]);
    assert_eq!(cells.len(), 16);
    assert!(cells.iter().all(|c| c.kernel.source == "/src/linux" && c.kernel.name.as_deref() == Some("6.12")));
}

#[test]
fn errors_are_located_by_line_and_column() {
    let bad = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up:\n    expect: clean\n    patchez: []\n";
    let e = parse(bad, "m.yaml").unwrap_err().to_string();
    assert!(e.starts_with("m.yaml:9:") && e.contains("patchez"), "{e}");
    let e = parse("schema: 1\narches: [x86]\n", "m.yaml").unwrap_err().to_string();
    assert!(e.contains("m.yaml:2:"), "{e}");
    let e = parse("schema: [\n", "m.yaml").unwrap_err().to_string();
    assert!(e.starts_with("m.yaml:"), "{e}");
}

#[test]
fn a_splat_variant_must_name_its_locks_for_every_scenario_it_runs() {
    let head = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline, cancel]\nworkload: {mib: 32}\nvariants:\n";
    let e = parse(&format!("{head}  pre:\n    expect: splat\n    splat_locks: {{offline: [a]}}\n"), "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("variant pre") && e.contains("scenario cancel"), "{e}");
    let e = parse(&format!("{head}  pre:\n    expect: splat\n    splat_locks: {{offline: [a], cancel: []}}\n"), "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("scenario cancel"), "{e}");
    assert!(parse(&format!("{head}  pre:\n    expect: splat\n    splat_locks: {{offline: [a], cancel: [b]}}\n"), "m")
        .is_ok());
}

#[test]
fn mutants_must_break_a_known_variant_and_never_expect_pass() {
    let head = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up: {expect: clean}\nmutants:\n";
    let e = parse(&format!("{head}  m1: {{base: nope, patches: [x.patch], outcome: FAIL, check: c}}\n"), "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("base variant \"nope\""), "{e}");
    let e = parse(&format!("{head}  m1: {{base: up, outcome: FAIL, check: c}}\n"), "m").unwrap_err().to_string();
    assert!(e.contains("no patches"), "{e}");
    let e = parse(&format!("{head}  m1: {{base: up, patches: [x.patch], outcome: PASS, check: c}}\n"), "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("expects PASS"), "{e}");
    let m = parse(&format!("{head}  m1: {{base: up, patches: [x.patch], outcome: INCONCLUSIVE, check: c}}\n"), "m")
        .unwrap();
    assert_eq!(m.mutants["m1"].variant(&m, &m.first_kernel().1).name, "mutant-m1");
}

#[test]
fn impossible_cells_are_refused() {
    let bad = "schema: 1\nkernel: {source: debian}\narches: [s390x]\nscenarios: [offline]\nworkload: {mib: 32}\nvariants:\n  up:\n    expect: clean\n    splat_locks: {offline: [a]}\n";
    assert!(parse(bad, "m").unwrap_err().to_string().contains("impossible"));
}

fn selection(shard: Option<(usize, usize)>) -> Selection {
    Selection { shard, ..Default::default() }
}

#[test]
fn shards_partition_the_matrix() {
    let m = repo_matrix();
    let all: Vec<CellId> = select(&m, &selection(None)).unwrap().iter().map(Cell::id).collect();
    for n in 1..=5 {
        let mut joined: Vec<CellId> = Vec::new();
        for i in 1..=n {
            joined.extend(select(&m, &selection(Some((i, n)))).unwrap().iter().map(Cell::id));
        }
        assert_eq!(joined, all, "{n} shards");
    }
    assert!(parse_shard("0/2").is_err() && parse_shard("3/2").is_err() && parse_shard("x").is_err());
    assert_eq!(parse_shard("2/3"), Ok((2, 3)));
}

#[test]
fn an_unknown_cell_is_an_error_naming_it() {
    let m = repo_matrix();
    let s = Selection { cells: vec!["s390x-nope-offline".into()], ..Default::default() };
    assert!(select(&m, &s).unwrap_err().to_string().contains("s390x-nope-offline"));
}

#[test]
fn duplicates_zero_timeouts_and_missing_paths_are_refused_with_their_line() {
    let base =
        "schema: 1\nkernel: {source: debian}\narches: [s390x, arm64]\nscenarios: [offline]\nworkload: {mib: 32}\n";
    let vars = "variants:\n  up:\n    expect: clean\n";
    let e = parse(&format!("{}{vars}", base.replace("arm64]", "s390x]")), "m.yaml").unwrap_err().to_string();
    assert!(e.starts_with("m.yaml:3:") && e.contains("s390x is listed twice"), "{e}");
    let e = parse(&format!("{}{vars}", base.replace("[offline]", "[offline, cancel, offline]")), "m.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("m.yaml:4:") && e.contains("offline is listed twice"), "{e}");
    let e = parse(&format!("{base}timeouts:\n  s390x: 300\n  arm64: 0\n{vars}"), "m.yaml").unwrap_err().to_string();
    assert!(e.starts_with("m.yaml:8:") && e.contains("timeouts.arm64 is 0"), "{e}");
    let text = format!(
        "{base}variants:\n  up:\n    expect: clean\n  fix:\n    patches: [patches/no-such.patch]\n    expect: clean\n"
    );
    let m = parse(&text, "m.yaml").unwrap();
    let e = check_paths(&m, &text, "m.yaml", &crate::paths::repo_root()).unwrap_err().to_string();
    assert!(e.starts_with("m.yaml:10:") && e.contains("fix patches/no-such.patch does not exist"), "{e}");
    let ok = format!("{base}variants:\n  fix:\n    patches: [patches/prefix]\n    expect: clean\n");
    check_paths(&parse(&ok, "m.yaml").unwrap(), &ok, "m.yaml", &crate::paths::repo_root()).unwrap();
}
