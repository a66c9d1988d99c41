# CloudFront in front of the bucket: HTTPS only, modern TLS, compression,
# a year of caching (every object is addressed by its SHA-256, so it never
# changes), and security headers.

resource "aws_cloudfront_origin_access_control" "files" {
  name                              = "${var.name_prefix}-files"
  description                       = "liveship file bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_cache_policy" "immutable" {
  name        = "${var.name_prefix}-immutable"
  comment     = "Content-addressed files: cache for a year, no cookies, headers or query strings in the key"
  min_ttl     = 86400
  default_ttl = 31536000
  max_ttl     = 31536000
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "files" {
  name    = "${var.name_prefix}-files"
  comment = "Security headers; any origin may GET (devices' web views fetch files)"
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD"]
    }
    access_control_allow_origins {
      items = ["*"]
    }
    origin_override = true
  }
  security_headers_config {
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
  }
  custom_headers_config {
    items {
      header   = "cache-control"
      value    = "public, max-age=31536000, immutable"
      override = true
    }
  }
}

resource "aws_cloudfront_distribution" "files" {
  enabled         = true
  comment         = "${var.name_prefix} files"
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = "PriceClass_All"
  aliases         = var.cdn_domain_name != null ? [var.cdn_domain_name] : []

  origin {
    origin_id                = "files"
    domain_name              = aws_s3_bucket.files.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.files.id
  }

  default_cache_behavior {
    target_origin_id           = "files"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.immutable.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.files.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.cdn_domain_name == null
    acm_certificate_arn            = var.cdn_certificate_arn
    ssl_support_method             = var.cdn_domain_name != null ? "sni-only" : null
    minimum_protocol_version       = var.cdn_domain_name != null ? "TLSv1.2_2021" : "TLSv1"
  }

  #checkov:skip=CKV_AWS_68:files are public, signed app code served read-only; add a WAF web ACL if your threat model needs one
  #checkov:skip=CKV2_AWS_47:no WAF (see CKV_AWS_68); the origin is S3, not an application that could be exploited
  #checkov:skip=CKV_AWS_86:CloudFront standard logs need a separate ACL-enabled bucket; enable them if you need per-download logs (device events already count downloads)
  #checkov:skip=CKV_AWS_310:one S3 origin; a failover origin would need a replicated bucket
  #checkov:skip=CKV_AWS_305:not a website; there is no root object
  #checkov:skip=CKV_AWS_174:TLSv1.2_2021 is set whenever a custom domain is; the cloudfront.net default certificate does not allow choosing
  #checkov:skip=CKV2_AWS_42:a custom certificate is used whenever cdn_domain_name is set
  #checkov:skip=CKV_AWS_374:devices worldwide, no geo restriction
}
