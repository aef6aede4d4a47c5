variable "cross_account_role_name" {
  description = "Name of the role Vantage assumes."
  type        = string
  default     = "vantage_cross_account_connection"
}

variable "permissions_boundary" {
  description = "ARN of a managed policy to use as the role's permissions boundary."
  type        = string
  default     = null
}

variable "enable_autopilot" {
  description = "Attach Vantage's Autopilot policy (write actions: reservation purchases). Off by default: the connection is read-only."
  type        = bool
  default     = false
}

variable "additional_inline_policies" {
  description = "Extra inline policies for the role, name => JSON document. Write actions and data reads are refused."
  type        = map(string)
  default     = {}
}

variable "member_account" {
  description = "Connect a member account: the role only, no Cost and Usage Report (the management account's covers it)."
  type        = bool
  default     = false
}

variable "cur_enabled" {
  description = "Create the Cost and Usage Report and its bucket (management account)."
  type        = bool
  default     = true
}

variable "cur_bucket_name" {
  description = "Name of the CUR bucket. Defaults to vantage-cur-<account id>."
  type        = string
  default     = null
}

variable "cur_version" {
  description = "1 for a CUR 1.0 report definition, 2 for a CUR 2.0 data export (BCM Data Exports)."
  type        = number
  default     = 1
  validation {
    condition     = contains([1, 2], var.cur_version)
    error_message = "cur_version is 1 (CUR 1.0 report) or 2 (CUR 2.0 data export)."
  }
}

variable "cur_report_name" {
  description = "Name of the CUR report definition or data export."
  type        = string
  default     = "VantageReport"
}

variable "cur_report_time_unit" {
  description = "Granularity of the report: DAILY or HOURLY."
  type        = string
  default     = "DAILY"
}

variable "tags" {
  description = "Tags for the role, bucket and report."
  type        = map(string)
  default     = {}
}
