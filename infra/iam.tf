# One role per function, with only the actions its store capabilities call
# (liveship_core::aws::{dynamodb_actions, s3_actions}; tests/tests/infra.rs
# holds these policies to them). No function can delete the bucket, a table
# or a stored file; the device functions cannot write builds, channels or
# tokens.

locals {
  table_arn = { for k, t in aws_dynamodb_table.table : k => t.arn }

  dynamodb_grants = {
    register = {
      apps           = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan"]
      tokens         = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"]
      builds         = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
      build_versions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"]
      channels       = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"]
      counters       = ["dynamodb:GetItem", "dynamodb:Query"]
      sequences      = ["dynamodb:UpdateItem"]
      usage          = ["dynamodb:Query"]
      audit          = ["dynamodb:PutItem", "dynamodb:Query"]
    }
    latest = {
      apps            = ["dynamodb:GetItem", "dynamodb:Query"]
      builds          = ["dynamodb:GetItem", "dynamodb:Query"]
      build_versions  = ["dynamodb:GetItem", "dynamodb:Query"]
      channels        = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"]
      device_channels = ["dynamodb:GetItem", "dynamodb:Query"]
      usage           = ["dynamodb:Query"]
      audit           = ["dynamodb:PutItem"]
    }
    download-complete = {
      apps            = ["dynamodb:GetItem", "dynamodb:Query"]
      builds          = ["dynamodb:GetItem", "dynamodb:Query"]
      build_versions  = ["dynamodb:GetItem", "dynamodb:Query"]
      channels        = ["dynamodb:GetItem", "dynamodb:Query"]
      device_channels = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"]
      events          = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]
      counters        = ["dynamodb:UpdateItem"]
      usage           = ["dynamodb:UpdateItem"]
    }
  }

  s3_object_grants = {
    register          = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    latest            = ["s3:GetObject"]
    download-complete = []
  }
  s3_bucket_grants = {
    register          = ["s3:ListBucket"]
    latest            = ["s3:ListBucket"]
    download-complete = []
  }
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  dynamic "statement" {
    for_each = local.dynamodb_grants[each.key]
    content {
      sid       = replace("Dynamodb${title(replace(statement.key, "_", " "))}", " ", "")
      actions   = statement.value
      resources = [local.table_arn[statement.key]]
    }
  }

  dynamic "statement" {
    for_each = length(local.s3_object_grants[each.key]) > 0 ? [1] : []
    content {
      sid       = "FileObjects"
      actions   = local.s3_object_grants[each.key]
      resources = ["${aws_s3_bucket.files.arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.s3_bucket_grants[each.key]) > 0 ? [1] : []
    content {
      sid       = "FileBucket"
      actions   = local.s3_bucket_grants[each.key]
      resources = [aws_s3_bucket.files.arn]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "${var.name_prefix}-${each.key}"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}
