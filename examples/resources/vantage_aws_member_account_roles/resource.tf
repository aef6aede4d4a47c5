# Run with the management account's credentials. The management account gets its
# role from vantage_aws_cross_account_role (a StackSet never deploys into it);
# every member account of these OUs gets the same read-only role, and is
# registered with Vantage, through one service-managed StackSet.
resource "vantage_aws_member_account_roles" "members" {
  organizational_unit_ids = ["ou-ab12-11111111", "ou-ab12-22222222"]
}

# Everything but two accounts of the root, kept when an account leaves,
# rolled out ten percent at a time.
resource "vantage_aws_member_account_roles" "careful" {
  name                          = "VantageMemberAccountRolesCareful"
  organizational_unit_ids       = ["r-ab12"]
  activate_organizations_access = true

  account_filter {
    type     = "DIFFERENCE"
    accounts = ["111111111111", "222222222222"]
  }

  auto_deployment {
    retain_stacks_on_account_removal = true
  }

  operation_preferences {
    max_concurrent_percentage    = 10
    failure_tolerance_percentage = 10
  }

  timeouts {
    create = "60m"
  }
}

output "member_roles" {
  value = { for id, m in vantage_aws_member_account_roles.members.accounts : id => m.role_arn }
}
