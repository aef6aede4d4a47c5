//! Every resource's and data source's model struct matches its schema in
//! attribute names, types and optionality (`tfplugin::check_model`), so a
//! field renamed on one side fails here instead of at apply time.

use terraform_provider_vantage::VantageProvider;
use tfplugin::Provider;

fn report(kind: &str, checked: usize, problems: &[String]) {
    assert!(checked > 0, "the provider lists no {kind}");
    assert!(
        problems.is_empty(),
        "{} problem(s) between {kind} models and their schemas:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_resource_model_matches_its_schema() {
    let resources = VantageProvider.resources();
    let problems: Vec<String> = resources
        .iter()
        .filter_map(|r| r.check_model().err())
        .flatten()
        .collect();
    report("resource", resources.len(), &problems);
}

#[test]
fn every_data_source_model_matches_its_schema() {
    let data_sources = VantageProvider.data_sources();
    let problems: Vec<String> = data_sources
        .iter()
        .filter_map(|d| d.check_model().err())
        .flatten()
        .collect();
    report("data source", data_sources.len(), &problems);
}
