# An AWS organisation connected to Vantage from its management account: the
# management account first, with the Cost and Usage Report (Vantage sees every
# member's costs through it), then every member account of the given OUs with
# the same read-only role, through one service-managed StackSet, each registered
# with Vantage. Run it with the management account's credentials.

terraform {
  required_version = ">= 1.5"
  required_providers {
    vantage = {
      source = "terraform.local/vantage/vantage"
    }
  }
}

provider "vantage" {}

variable "member_organizational_unit_ids" {
  description = "OUs whose member accounts get Vantage's role (child OUs included), e.g. [\"ou-ab12-11111111\"]."
  type        = set(string)
}

# The management account: role and presets, CUR bucket and report, registration.
# A StackSet never deploys into the management account, so its role is made here.
module "management" {
  source = "../modules/vantage-aws-connection"
}

# Every member account of the OUs. Accounts that join an OU later are deployed by
# CloudFormation and registered on the next apply; accounts that leave are
# deregistered. Needs the organisation's trusted access for StackSets (the plan
# says how to turn it on, or set activate_organizations_access = true).
resource "vantage_aws_member_account_roles" "members" {
  organizational_unit_ids = var.member_organizational_unit_ids
}

output "management_integration_id" {
  value = module.management.integration_id
}

output "member_accounts" {
  description = "Member account id => role ARN, stack instance status and Vantage integration status."
  value = {
    for id, m in vantage_aws_member_account_roles.members.accounts : id => {
      role_arn           = m.role_arn
      status             = m.stack_instance_status
      integration_status = m.integration_status
    }
  }
}
