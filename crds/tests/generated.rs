//! The checked-in CRD manifests are exactly what the code generates.

use std::path::Path;

use remotion_crds::generate::generated_files;

#[test]
fn checked_in_crds_match_the_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut drift = Vec::new();
    for file in generated_files().unwrap() {
        let current = std::fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        if current != file.contents {
            drift.push(file.path);
        }
    }
    assert!(
        drift.is_empty(),
        "generated files differ from the code: {drift:?}\nrun `cargo run -p remotion-crds --bin crdgen` and commit the result"
    );
}

#[test]
fn crds_carry_names_categories_and_printer_columns() {
    for crd in remotion_crds::generate::all_crds() {
        let names = &crd.spec.names;
        assert_eq!(crd.spec.group, "remotion-operator.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(names.categories.as_deref(), Some(&["remotion".to_owned()][..]), "{}", names.kind);
        assert_eq!(names.short_names.as_ref().map(Vec::len), Some(1), "{}", names.kind);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(),
            "{} has a status subresource",
            names.kind
        );
        let columns: Vec<&str> = version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
        assert!(columns.contains(&"Age"), "{}: {columns:?}", names.kind);
    }
    let rj = remotion_crds::generate::crd_for_kind("RenderJob").unwrap();
    let columns: Vec<String> =
        rj.spec.versions[0].additional_printer_columns.iter().flatten().map(|c| c.name.clone()).collect();
    assert_eq!(columns, ["Composition", "Phase", "Progress", "Cost", "Output", "Age"]);
}
