# The file bucket: content-addressed build files, manifests and zips
# (apps/{app}/files/{sha256}, apps/{app}/manifests/{sha256}.json). Private;
# devices read through CloudFront, CI writes through presigned PUTs that
# carry each file's SHA-256, so S3 itself refuses wrong bytes.

resource "aws_s3_bucket" "files" {
  bucket_prefix = "${var.name_prefix}-files-"
  # Only for a deliberate teardown: lets destroy delete every object version.
  force_destroy = var.allow_destroy
  #checkov:skip=CKV_AWS_18:reads go through CloudFront and writes through the register function's presigned URLs, both logged; S3 server access logs would need a second bucket
  #checkov:skip=CKV_AWS_144:every object is rebuilt from CI and addressed by its hash; versioning covers mistakes, cross-region replication would double storage cost
  #checkov:skip=CKV2_AWS_62:nothing consumes object events
  #checkov:skip=CKV_AWS_145:SSE-S3 so CloudFront's origin access control can read without a KMS key policy; the content is app code the devices verify by signature
}

resource "aws_s3_bucket_public_access_block" "files" {
  bucket                  = aws_s3_bucket.files.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "files" {
  bucket = aws_s3_bucket.files.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "files" {
  bucket = aws_s3_bucket.files.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "files" {
  bucket = aws_s3_bucket.files.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    id     = "old-versions-and-abandoned-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# Presigned PUTs come from CI (no browser, no CORS); a dashboard in a browser
# needs its origin listed.
resource "aws_s3_bucket_cors_configuration" "files" {
  count  = length(var.cors_origins) > 0 ? 1 : 0
  bucket = aws_s3_bucket.files.id
  cors_rule {
    allowed_methods = ["PUT", "GET", "HEAD"]
    allowed_origins = var.cors_origins
    allowed_headers = ["content-type", "content-length", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"]
    expose_headers  = ["etag"]
    max_age_seconds = 3600
  }
}

data "aws_iam_policy_document" "files_bucket" {
  statement {
    sid       = "CloudFrontReadsThroughOriginAccessControl"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.files.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.files.arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.files.arn, "${aws_s3_bucket.files.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "files" {
  bucket = aws_s3_bucket.files.id
  policy = data.aws_iam_policy_document.files_bucket.json
}
