variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (functions, tables, roles, API). Lower case letters, digits and dashes."
  default     = "liveship"
  validation {
    # The bucket is "<name_prefix>-files-<suffix>": the provider allows a
    # bucket_prefix of at most 37 characters, so 30 here.
    condition     = can(regex("^[a-z][a-z0-9-]{1,29}$", var.name_prefix))
    error_message = "name_prefix must be 2-30 lower-case letters, digits or dashes, starting with a letter (the bucket name prefix \"<name_prefix>-files-\" may have at most 37 characters)."
  }
}

variable "register_zip" {
  type        = string
  description = "Path of the register function's bootstrap.zip (cargo lambda build --profile functions --arm64 --output-format zip)."
  default     = "../target/lambda/register/bootstrap.zip"
}

variable "latest_zip" {
  type        = string
  description = "Path of the latest function's bootstrap.zip."
  default     = "../target/lambda/latest/bootstrap.zip"
}

variable "download_complete_zip" {
  type        = string
  description = "Path of the download-complete function's bootstrap.zip."
  default     = "../target/lambda/download-complete/bootstrap.zip"
}

variable "api_domain_name" {
  type        = string
  description = "Optional custom domain of the API (updates.example.com); null uses the execute-api URL."
  default     = null
  validation {
    condition     = var.api_domain_name == null || var.api_certificate_arn != null
    error_message = "api_domain_name needs api_certificate_arn: an ACM certificate for that name in the stack's region."
  }
}

variable "api_certificate_arn" {
  type        = string
  description = "ACM certificate for api_domain_name, in the stack's region. Required with api_domain_name."
  default     = null
}

variable "cdn_domain_name" {
  type        = string
  description = "Optional custom domain of the file CDN (cdn.example.com); null uses the cloudfront.net name."
  default     = null
  validation {
    condition     = var.cdn_domain_name == null || var.cdn_certificate_arn != null
    error_message = "cdn_domain_name needs cdn_certificate_arn: an ACM certificate for that name in us-east-1."
  }
}

variable "cdn_certificate_arn" {
  type        = string
  description = "ACM certificate for cdn_domain_name, in us-east-1 (CloudFront's rule). Required with cdn_domain_name."
  default     = null
}

variable "memory_mb" {
  type        = map(number)
  description = "Memory in MB of the functions named here (register, latest, download-complete), over the defaults of 1024, 256 and 256; CPU scales with memory."
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.memory_mb) : contains(["register", "latest", "download-complete"], k)])
    error_message = "memory_mb keys must be register, latest or download-complete."
  }
}

variable "timeout_seconds" {
  type        = map(number)
  description = "Timeout in seconds of the functions named here, over the defaults of 30, 10 and 10. API Gateway answers 503 after 30 s whatever the function does, so more than 30 only wastes work."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.timeout_seconds : contains(["register", "latest", "download-complete"], k) && v >= 1 && v <= 900])
    error_message = "timeout_seconds keys must be register, latest or download-complete, each 1-900 seconds."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps function and API access logs."
  default     = 30
}

variable "event_retention_days" {
  type        = number
  description = "Days raw device events are kept before the DynamoDB TTL removes them (counters are kept)."
  default     = 30
}

variable "audit_retention_days" {
  type        = number
  description = "Days audit log entries are kept before the DynamoDB TTL removes them."
  default     = 365
}

variable "cache_ttl_seconds" {
  type        = number
  description = "Seconds a warm latest function keeps channel state: deploys reach devices within this time."
  default     = 5
}

variable "webhook_url" {
  type        = string
  description = "Where rollout guard decisions are posted (a Slack-compatible incoming webhook); empty: none. The URL is itself a secret."
  default     = ""
  sensitive   = true
}

variable "webhook_secret" {
  type        = string
  description = "Key of the HMAC-SHA256 signature (X-Liveship-Signature) on each webhook post; empty: unsigned."
  default     = ""
  sensitive   = true
}

variable "rollout_tick_minutes" {
  type        = number
  description = "Minutes between the rollout guard's scheduled runs (EventBridge to the register function), so plans step and halt on time on idle channels; 0: none (decisions then wait for the next read or write of the channel)."
  default     = 5

  validation {
    condition     = var.rollout_tick_minutes == floor(var.rollout_tick_minutes) && var.rollout_tick_minutes >= 0 && var.rollout_tick_minutes <= 1440
    error_message = "rollout_tick_minutes is a whole number of minutes from 0 (no schedule) to 1440."
  }
}

variable "xray_tracing" {
  type        = bool
  description = "Active X-Ray tracing on the functions (docs/cost.md: at millions of devices traces cost more than the functions)."
  default     = false
}

variable "throttle_rate" {
  type        = number
  description = "Stage default: steady requests per second on each route (the CI and ops routes, which need a token)."
  default     = 2000
}

variable "throttle_burst" {
  type        = number
  description = "Stage default burst on each route."
  default     = 4000
}

variable "device_throttle_rate" {
  type        = number
  description = "Tighter limit on each public device route (lookups, events, capgo and Cartona routes), requests per second. 10M devices opening the app 5 times a day average about 600 lookups/s."
  default     = 1000
  validation {
    condition     = var.device_throttle_rate <= var.throttle_rate
    error_message = "device_throttle_rate must not exceed the stage default throttle_rate: the public routes are the tighter ones."
  }
}

variable "device_throttle_burst" {
  type        = number
  description = "Tighter burst on each public device route."
  default     = 2000
}

variable "cors_origins" {
  type        = list(string)
  description = "Browser origins allowed to call the API and PUT to presigned URLs (a dashboard); CI and devices need none."
  default     = []
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days an overwritten or deleted object version is kept in the bucket."
  default     = 30
}

variable "allow_destroy" {
  type        = bool
  description = "Lets `terraform destroy` remove the stack's data: turns DynamoDB deletion protection off and lets Terraform empty the file bucket. Keep false; set true only to tear the stack down (docs/deploy.md)."
  default     = false
}
