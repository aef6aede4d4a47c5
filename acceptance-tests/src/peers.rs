//! The tools users run today, beside this provider: hashicorp/aws from the
//! machine image's filesystem mirror, and this provider's binary under
//! Vantage's own source address (`vantage-sh/vantage`), standing in for the
//! official provider the way a user's configuration names it.
//!
//! A missing hashicorp/aws fails the test with what to install, never skips it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::aws::{ACCESS_KEY, REGION, SECRET_KEY};
use crate::{Devstack, Run, SOURCE_ADDRESS, Workspace, binaries_dir};

/// The hashicorp/aws release the machine image carries.
pub const AWS_PROVIDER_VERSION: &str = provider_packaging::hashicorp_aws::VERSION;

/// Vantage's official provider, as `moved` blocks and state name it.
pub const VANTAGE_OFFICIAL_SOURCE: &str = "registry.terraform.io/vantage-sh/vantage";

/// The columns Vantage's module selects in its CUR 2.0 export, in its order, as the
/// reference lists them (written here independently of the provider's list).
pub const VANTAGE_CUR2_COLUMNS_TEXT: &str = "bill_bill_type, bill_billing_entity, bill_billing_period_end_date, \
     bill_billing_period_start_date, bill_invoice_id, bill_invoicing_entity, \
     bill_payer_account_id, bill_payer_account_name, cost_category, discount, \
     discount_bundled_discount, discount_total_discount, identity_line_item_id, \
     identity_time_interval, line_item_availability_zone, line_item_blended_cost, \
     line_item_blended_rate, line_item_currency_code, line_item_iam_principal, \
     line_item_legal_entity, line_item_line_item_description, line_item_line_item_type, \
     line_item_net_unblended_cost, line_item_net_unblended_rate, \
     line_item_normalization_factor, line_item_normalized_usage_amount, line_item_operation, \
     line_item_product_code, line_item_resource_id, line_item_tax_type, \
     line_item_unblended_cost, line_item_unblended_rate, line_item_usage_account_id, \
     line_item_usage_account_name, line_item_usage_amount, line_item_usage_end_date, \
     line_item_usage_start_date, line_item_usage_type, pricing_currency, \
     pricing_lease_contract_length, pricing_offering_class, pricing_public_on_demand_cost, \
     pricing_public_on_demand_rate, pricing_purchase_option, pricing_rate_code, \
     pricing_rate_id, pricing_term, pricing_unit, product, product_comment, product_fee_code, \
     product_fee_description, product_from_location, product_from_location_type, \
     product_from_region_code, product_instance_family, product_instance_type, \
     product_instancesku, product_location, product_location_type, product_operation, \
     product_pricing_unit, product_product_family, product_region_code, product_servicecode, \
     product_sku, product_to_location, product_to_location_type, product_to_region_code, \
     product_usagetype, reservation_amortized_upfront_cost_for_usage, \
     reservation_amortized_upfront_fee_for_billing_period, reservation_availability_zone, \
     reservation_effective_cost, reservation_end_time, reservation_modification_status, \
     reservation_net_amortized_upfront_cost_for_usage, \
     reservation_net_amortized_upfront_fee_for_billing_period, reservation_net_effective_cost, \
     reservation_net_recurring_fee_for_usage, \
     reservation_net_unused_amortized_upfront_fee_for_billing_period, \
     reservation_net_unused_recurring_fee, reservation_net_upfront_value, \
     reservation_normalized_units_per_reservation, reservation_number_of_reservations, \
     reservation_recurring_fee_for_usage, reservation_reservation_a_r_n, \
     reservation_start_time, reservation_subscription_id, \
     reservation_total_reserved_normalized_units, reservation_total_reserved_units, \
     reservation_units_per_reservation, \
     reservation_unused_amortized_upfront_fee_for_billing_period, \
     reservation_unused_normalized_unit_quantity, reservation_unused_quantity, \
     reservation_unused_recurring_fee, reservation_upfront_value, resource_tags, \
     savings_plan_amortized_upfront_commitment_for_billing_period, savings_plan_end_time, \
     savings_plan_instance_type_family, \
     savings_plan_net_amortized_upfront_commitment_for_billing_period, \
     savings_plan_net_recurring_commitment_for_billing_period, \
     savings_plan_net_savings_plan_effective_cost, savings_plan_offering_type, \
     savings_plan_payment_option, savings_plan_purchase_term, \
     savings_plan_recurring_commitment_for_billing_period, savings_plan_region, \
     savings_plan_savings_plan_a_r_n, savings_plan_savings_plan_effective_cost, \
     savings_plan_savings_plan_rate, savings_plan_start_time, \
     savings_plan_total_commitment_to_date, savings_plan_used_commitment, tags";

/// [`VANTAGE_CUR2_COLUMNS_TEXT`] as a list.
pub fn vantage_cur2_columns() -> Vec<&'static str> {
    VANTAGE_CUR2_COLUMNS_TEXT.split(", ").collect()
}

fn binary_name() -> String {
    provider_packaging::hashicorp_aws::binary_name()
}

/// Why a test that runs hashicorp/aws runs in the moto pass only (`require_moto!`).
pub const MOTO_PASS_ONLY: &str = "runs hashicorp/aws, checked in the moto pass only: it tests the tools \
     (hashicorp/aws against the devstack's CUR and Data Exports, moving its state to ours), our provider's \
     LocalStack behaviour is the rest of the pass, and its hashicorp/aws start-ups cost ~100 CPU-seconds a test";

/// The root of a filesystem mirror holding hashicorp/aws (`provider_packaging::hashicorp_aws`
/// says where it looks); a missing one fails the test with how to make one.
pub fn aws_provider_mirror() -> &'static Path {
    static MIRROR: OnceLock<PathBuf> = OnceLock::new();
    MIRROR.get_or_init(|| {
        provider_packaging::hashicorp_aws::find_mirror("linux_amd64")
            .unwrap_or_else(|why| panic!("{why} (the tests that run hashicorp/aws beside this provider need it)"))
    })
}

/// A workspace on `ds` whose Terraform installs hashicorp/aws and this provider (under both
/// its own source address and Vantage's, `vantage-sh/vantage`) from a filesystem mirror, as a
/// user's `terraform init` installs registry providers. Run [`init`] after writing the
/// configuration. (`dev_overrides` would not do: `terraform init` still asks the registry for
/// an overridden provider.)
pub fn workspace(ds: &Devstack, name: &str) -> Workspace {
    let mut ws = Workspace::on(ds, name);
    // hashicorp/aws builds the schemas of its ~1,400 types at each start (three starts per
    // terraform command), and Go's collector runs through it: GOGC=400 takes a fifth off that
    // CPU (3.3 -> 2.6 s per start, measured here) for ~140 MB more per process. It changes
    // when memory is collected, nothing the provider does.
    ws.env("GOGC", "400");
    let mirror = ws.path().join(".mirror");
    // Terraform's walk of a mirror follows links to files, not to directories.
    let platform = "registry.terraform.io/hashicorp/aws/".to_string() + AWS_PROVIDER_VERSION + "/linux_amd64";
    std::fs::create_dir_all(mirror.join(&platform)).expect("creating the mirror");
    std::os::unix::fs::symlink(
        aws_provider_mirror().join(&platform).join(binary_name()),
        mirror.join(&platform).join(binary_name()),
    )
    .expect("linking hashicorp/aws into the mirror");
    let version = env!("CARGO_PKG_VERSION");
    for source in [SOURCE_ADDRESS, VANTAGE_OFFICIAL_SOURCE] {
        let dir = mirror.join(source).join(version).join("linux_amd64");
        std::fs::create_dir_all(&dir).expect("creating the mirror");
        std::os::unix::fs::symlink(
            binaries_dir().join("terraform-provider-vantage"),
            dir.join(format!("terraform-provider-vantage_v{version}")),
        )
        .expect("linking this provider into the mirror");
    }
    let cli_config = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
        mirror.display()
    );
    std::fs::write(ws.path().join("terraform.rc"), cli_config).expect("writing the CLI config");
    ws
}

/// `terraform init`: installs the providers the configuration names from the mirror.
pub fn init(ws: &Workspace) -> Run {
    ws.run(&["init", "-no-color", "-input=false"])
}

/// Writes `main.tf` with `required_providers` naming hashicorp/aws and `vantage` at `vantage_source`.
pub fn config(ws: &Workspace, vantage_source: &str, body: &str) {
    let text = format!(
        "terraform {{\n  required_providers {{\n    aws = {{\n      source  = \"hashicorp/aws\"\n      \
         version = \"{AWS_PROVIDER_VERSION}\"\n    }}\n    vantage = {{ source = \"{vantage_source}\" }}\n  }}\n}}\n\n{body}\n"
    );
    std::fs::write(ws.path().join("main.tf"), text).expect("writing main.tf");
}

/// hashicorp/aws pointed at the devstack's AWS front door, acting in `account` through
/// AssumeRole like [`crate::aws_billing::provider_block`] does for this provider.
pub fn aws_provider_block(ds: &Devstack, account: &str) -> String {
    let url = &ds.info.aws_url;
    let role = crate::aws_billing::role_in(account);
    format!(
        r#"provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "{ACCESS_KEY}"
  secret_key                  = "{SECRET_KEY}"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
  assume_role {{
    role_arn = "{role}"
  }}
  endpoints {{
    iam            = "{url}"
    sts            = "{url}"
    s3             = "{url}"
    cur            = "{url}"
    bcmdataexports = "{url}"
    sns            = "{url}"
  }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_module_selects_116_distinct_columns() {
        let columns = super::vantage_cur2_columns();
        let distinct: std::collections::BTreeSet<_> = columns.iter().collect();
        assert_eq!((columns.len(), distinct.len()), (116, 116));
        assert!(columns.iter().all(|c| !c.contains(' ')));
    }
}
