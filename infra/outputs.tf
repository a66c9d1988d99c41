output "api_url" {
  description = "Base URL of the API: LIVESHIP_SERVER for the CLI, and the update URL apps use."
  value       = local.api_url
}

output "cdn_domain" {
  description = "Domain of the CloudFront distribution that serves files (point cdn_domain_name's DNS here)."
  value       = aws_cloudfront_distribution.files.domain_name
}

output "cdn_url" {
  description = "Public base URL of the files (LIVESHIP_PUBLIC_BASE_URL of the functions)."
  value       = local.cdn_url
}

output "bucket" {
  description = "The file bucket (LIVESHIP_BUCKET)."
  value       = aws_s3_bucket.files.id
}

output "table_prefix" {
  description = "Prefix of every table name (LIVESHIP_TABLE_PREFIX)."
  value       = local.table_prefix
}

output "table_names" {
  description = "Every DynamoDB table."
  value       = { for k, t in aws_dynamodb_table.table : k => t.name }
}

output "function_names" {
  description = "The three Lambda functions."
  value       = { for k, f in aws_lambda_function.function : k => f.function_name }
}

output "api_domain_target" {
  description = "With api_domain_name: the host name to point its DNS (CNAME or alias) at."
  value       = var.api_domain_name != null ? aws_apigatewayv2_domain_name.api[0].domain_name_configuration[0].target_domain_name : null
}
