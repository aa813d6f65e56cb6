//! Client-side validation: every sample is valid, and every schema rule accepts its valid
//! variant and rejects its invalid one with the expected message (no server needed).

use anyhow::{Result, bail};
use remotion_crds::generate::{all_crds, crd_for_kind};
use remotion_crds::validation::validate_value;
use remotion_tests::cases::{self, Expect, Phase, client_side_matches};
use remotion_tests::merge::merged;
use remotion_tests::samples::{all_samples, sample};

#[test]
fn every_sample_is_valid_client_side() -> Result<()> {
    let samples = all_samples()?;
    assert!(samples.len() >= 10, "expected a realistic sample set, found {}", samples.len());
    let mut kinds: Vec<&str> = samples.iter().map(|s| s.kind()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, ["LambdaBucket", "RemotionSite", "RenderFunction", "RenderJob"]);
    for s in &samples {
        let crd = crd_for_kind(s.kind()).unwrap_or_else(|| panic!("{}: unknown kind {}", s.file, s.kind()));
        if let Err(e) = validate_value(&crd, &s.object, None) {
            bail!("{}: {e}", s.file);
        }
    }
    Ok(())
}

#[test]
fn every_rule_accepts_and_rejects_client_side() -> Result<()> {
    let mut failures = Vec::new();
    for case in cases::all() {
        let base = sample(case.sample)?;
        let kind = base["kind"].as_str().unwrap_or_default().to_owned();
        let crd = crd_for_kind(&kind).expect("sample of a known kind");
        let valid = merged(&base, &case.valid);
        let (invalid, old) = match case.phase {
            Phase::Create => (merged(&base, &case.invalid), None),
            Phase::Update => (merged(&valid, &case.invalid), Some(&valid)),
        };
        let valid_old = match case.phase {
            Phase::Create => None,
            Phase::Update => Some(&base),
        };
        if let Err(e) = validate_value(&crd, &valid, valid_old) {
            failures.push(format!("{}: the valid variant was rejected: {e}", case.name));
        }
        match validate_value(&crd, &invalid, old) {
            Ok(()) => failures.push(format!("{}: the invalid variant was accepted", case.name)),
            Err(e) if !client_side_matches(case.expect, e.violations()) => {
                failures.push(format!("{}: rejected, but not with {:?}: {e}", case.name, case.expect))
            }
            Err(_) => {}
        }
    }
    if !failures.is_empty() {
        bail!("{} of {} cases failed:\n{}", failures.len(), cases::all().len(), failures.join("\n"));
    }
    Ok(())
}

#[test]
fn every_cel_rule_has_a_case() {
    let declared = cases::declared_rule_messages(&all_crds());
    assert!(declared.len() >= 20, "expected the full rule set, found {}", declared.len());
    let tested: Vec<&str> = cases::all()
        .iter()
        .filter_map(|c| match c.expect {
            Expect::Rule(m) => Some(m),
            Expect::Field(_) => None,
        })
        .collect();
    let untested: Vec<&String> = declared.iter().filter(|m| !tested.contains(&m.as_str())).collect();
    assert!(untested.is_empty(), "CEL rules without a case: {untested:#?}");
    let unknown: Vec<&&str> = tested.iter().filter(|m| !declared.iter().any(|d| d == **m)).collect();
    assert!(unknown.is_empty(), "cases expect messages no rule has: {unknown:#?}");
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = cases::all().iter().map(|c| c.name).collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n);
}
