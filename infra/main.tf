# liveship on AWS: three Lambda functions behind an API Gateway HTTP API,
# S3 behind CloudFront for files, DynamoDB for records. See docs/deploy.md.

provider "aws" {
  region = var.region
  default_tags {
    tags = merge({ application = "liveship" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  table_prefix = "${var.name_prefix}-"
  api_url      = var.api_domain_name != null ? "https://${var.api_domain_name}" : aws_apigatewayv2_api.this.api_endpoint
  cdn_url      = var.cdn_domain_name != null ? "https://${var.cdn_domain_name}" : "https://${aws_cloudfront_distribution.files.domain_name}"
}
