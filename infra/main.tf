# liveship on AWS: three Lambda functions behind an API Gateway HTTP API,
# S3 behind CloudFront for files, DynamoDB for records. See docs/deploy.md.

# The module takes its AWS provider (region, credentials, default tags)
# from the caller, as a reusable module must: callers can then use count,
# for_each and depends_on on it. examples/complete shows the provider block.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # Function sizes: the defaults, with the caller's overrides on top.
  memory_mb       = merge({ register = 1024, latest = 256, download-complete = 256 }, var.memory_mb)
  timeout_seconds = merge({ register = 30, latest = 10, download-complete = 10 }, var.timeout_seconds)

  table_prefix = "${var.name_prefix}-"
  api_url      = var.api_domain_name != null ? "https://${var.api_domain_name}" : aws_apigatewayv2_api.this.api_endpoint
  cdn_url      = var.cdn_domain_name != null ? "https://${var.cdn_domain_name}" : "https://${aws_cloudfront_distribution.files.domain_name}"
}
