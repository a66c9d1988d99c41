# The three Lambda functions: provided.al2023, arm64, handler `bootstrap`,
# each with the environment the code reads (liveship_core::env) and its
# own role (iam.tf).

locals {
  functions = {
    register          = { zip = var.register_zip }
    latest            = { zip = var.latest_zip }
    download-complete = { zip = var.download_complete_zip }
  }

  # Names exactly as liveship_core::env and AwsSettings::from_env read them.
  function_environment = {
    LIVESHIP_BUCKET               = aws_s3_bucket.files.id
    LIVESHIP_TABLE_PREFIX         = local.table_prefix
    LIVESHIP_PUBLIC_BASE_URL      = local.cdn_url
    LIVESHIP_PUBLIC_URL           = local.api_url
    LIVESHIP_EVENT_RETENTION_DAYS = tostring(var.event_retention_days)
    LIVESHIP_AUDIT_RETENTION_DAYS = tostring(var.audit_retention_days)
    LIVESHIP_CACHE_TTL_SECONDS    = tostring(var.cache_ttl_seconds)
    LIVESHIP_WEBHOOK_URL          = var.webhook_url
    LIVESHIP_WEBHOOK_SECRET       = var.webhook_secret
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:function logs hold no secrets (tokens and keys are never logged); CloudWatch's default encryption applies
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days; a year of request logs is rarely worth its cost here
}

resource "aws_lambda_function" "function" {
  for_each         = local.functions
  function_name    = "${var.name_prefix}-${each.key}"
  description      = "liveship ${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = each.value.zip
  source_code_hash = filebase64sha256(each.value.zip)
  memory_size      = local.memory_mb[each.key]
  timeout          = local.timeout_seconds[each.key]

  environment {
    variables = local.function_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = var.xray_tracing ? "Active" : "PassThrough"
  }

  #checkov:skip=CKV_AWS_116:invoked synchronously by API Gateway only; a dead-letter queue applies to asynchronous invocations
  #checkov:skip=CKV_AWS_117:the functions only call S3 and DynamoDB public endpoints; a VPC would add NAT cost and cold-start time for nothing
  #checkov:skip=CKV_AWS_115:reserved concurrency fails on new accounts (limit 10); API Gateway stage throttling caps load instead
  #checkov:skip=CKV_AWS_173:the environment holds names and URLs; the optional webhook URL and HMAC key are encrypted at rest by Lambda's AWS-managed key and readable only to those who may read the function's configuration
  #checkov:skip=CKV_AWS_50:X-Ray is var.xray_tracing, off by default: at 10M devices sampled traces cost more than the functions (docs/cost.md)
  #checkov:skip=CKV_AWS_272:the zips are built by the operator with cargo lambda; Lambda code signing needs a Signer profile they may not have

  depends_on = [aws_cloudwatch_log_group.function]
}
