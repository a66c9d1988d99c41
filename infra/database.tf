# DynamoDB tables (docs/dynamodb.md): on demand, point-in-time recovery,
# encrypted, TTL on raw device events, audit entries and console sessions. Keys match
# liveship_core::store::dynamodb::TABLES (tests/tests/infra.rs checks it).

locals {
  tables = {
    apps            = { hash_key = "app_id", hash_type = "S", range_key = null, range_type = null }
    tokens          = { hash_key = "secret_sha256", hash_type = "S", range_key = null, range_type = null }
    builds          = { hash_key = "app_id", hash_type = "S", range_key = "build_id", range_type = "N" }
    build_versions  = { hash_key = "app_id", hash_type = "S", range_key = "version", range_type = "S" }
    channels        = { hash_key = "app_id", hash_type = "S", range_key = "name", range_type = "S" }
    events          = { hash_key = "app_build", hash_type = "S", range_key = "event_key", range_type = "S" }
    counters        = { hash_key = "app_build", hash_type = "S", range_key = "kind_shard", range_type = "S" }
    device_channels = { hash_key = "app_id", hash_type = "S", range_key = "device_id", range_type = "S" }
    sequences       = { hash_key = "name", hash_type = "S", range_key = null, range_type = null }
    usage           = { hash_key = "app_channel", hash_type = "S", range_key = "bucket", range_type = "S" }
    audit           = { hash_key = "app_id", hash_type = "S", range_key = "id", range_type = "S" }
  }
  # Raw events (and their distinct-device markers), audit entries and console
  # sessions expire through this attribute; counters and usage are kept.
  ttl_attribute = "expires_at"
  ttl_tables    = ["events", "audit", "tokens"]
}

resource "aws_dynamodb_table" "table" {
  for_each     = local.tables
  name         = "${local.table_prefix}${each.key}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = each.value.hash_key
  range_key    = each.value.range_key

  attribute {
    name = each.value.hash_key
    type = each.value.hash_type
  }

  dynamic "attribute" {
    for_each = each.value.range_key != null ? [1] : []
    content {
      name = each.value.range_key
      type = each.value.range_type
    }
  }

  dynamic "ttl" {
    for_each = contains(local.ttl_tables, each.key) ? [1] : []
    content {
      attribute_name = local.ttl_attribute
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = !var.allow_destroy
  #checkov:skip=CKV_AWS_119:encrypted with the AWS managed DynamoDB key; a customer managed key costs $1/month per key and needs a key policy, for no gain on this data
}
