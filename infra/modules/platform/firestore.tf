# Firestore indexes, read from infra/firestore/indexes.json (Firebase's format): the file that
# tests/unit/test_firestore_indexes.py checks against the queries the code builds. Change indexes
# there, not here. Production refuses a query without its index; the emulator does not.

locals {
  firestore_declarations = jsondecode(file("${path.module}/../../firestore/indexes.json"))

  # Keyed by content, not position: reordering the file changes nothing, and an edited index is
  # replaced (index fields cannot be updated in place). A duplicate declaration fails here.
  firestore_indexes = {
    for index in local.firestore_declarations.indexes :
    "${index.collectionGroup}/${try(index.queryScope, "COLLECTION")}/${join(",", [for f in index.fields : "${f.fieldPath}:${try(f.order, f.arrayConfig)}"])}" => index
  }

  # Single-field settings: exemptions of large fields (bodies, long lists no query filters on) and of
  # a field that grows with time (contacts' last_contact_ms), whose single-field index would be a
  # write hot spot; composite indexes still serve every query on it. messages' received_at grows too,
  # but the purge ranges over it alone. tests/unit/test_firestore_indexes.py refuses an exemption of
  # a field some query needs without a composite index.
  firestore_field_overrides = {
    for override in local.firestore_declarations.fieldOverrides :
    "${override.collectionGroup}/${override.fieldPath}" => {
      collection = override.collectionGroup
      field      = override.fieldPath
      ttl        = try(tobool(override.ttl), false)
      indexes = [
        for i in override.indexes : {
          query_scope  = try(i.queryScope, "COLLECTION")
          order        = try(i.order, null)
          array_config = try(i.arrayConfig, null)
        }
      ]
    }
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = google_firestore_database.default.name
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }
}

resource "google_firestore_field" "override" {
  for_each = local.firestore_field_overrides

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.value.collection
  field      = each.value.field

  # An empty block (indexes: [] in the file) exempts the field from single-field indexing: large text
  # and bytes cost index writes and can exceed index entry limits.
  index_config {
    dynamic "indexes" {
      for_each = each.value.indexes
      content {
        query_scope  = indexes.value.query_scope
        order        = indexes.value.order
        array_config = indexes.value.array_config
      }
    }
  }

  dynamic "ttl_config" {
    for_each = each.value.ttl ? [true] : []
    content {}
  }
}
