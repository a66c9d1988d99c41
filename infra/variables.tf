variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (functions, tables, roles, API). Lower case letters, digits and dashes."
  default     = "liveship"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "AWS region of the stack (CloudFront is global)."
  default     = "eu-west-1"
}

variable "register_zip" {
  type        = string
  description = "Path of the register function's bootstrap.zip (cargo lambda build --release --arm64 --output-format zip)."
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
}

variable "cdn_certificate_arn" {
  type        = string
  description = "ACM certificate for cdn_domain_name, in us-east-1 (CloudFront's rule). Required with cdn_domain_name."
  default     = null
}

variable "memory_mb" {
  type        = map(number)
  description = "Memory of each function in MB (CPU scales with it)."
  default = {
    register          = 1024
    latest            = 256
    download-complete = 256
  }
}

variable "timeout_seconds" {
  type        = map(number)
  description = "Timeout of each function in seconds. register builds server-side zips of hosted builds, so it gets longer."
  default = {
    register          = 120
    latest            = 10
    download-complete = 10
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

variable "cache_ttl_seconds" {
  type        = number
  description = "Seconds a warm latest function keeps channel state: deploys reach devices within this time."
  default     = 5
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

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = {}
}
