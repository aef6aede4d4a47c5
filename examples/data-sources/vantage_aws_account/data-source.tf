data "vantage_aws_account" "this" {}

# Connect the management account first: only it shows the whole organisation's costs.
check "connect_the_management_account_first" {
  assert {
    condition     = data.vantage_aws_account.this.role != "member"
    error_message = "These credentials belong to member account ${data.vantage_aws_account.this.account_id}; connect management account ${coalesce(data.vantage_aws_account.this.management_account_id, "?")} first."
  }
}

output "member_account_ids" {
  value = [for a in data.vantage_aws_account.this.member_accounts : a.id if a.status == "ACTIVE"]
}
