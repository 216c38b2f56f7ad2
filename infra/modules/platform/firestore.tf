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

  # Single-field exemptions the file does not declare (yet). An entry of the file with the same
  # collection/field key replaces one here, so moving an entry into the file changes nothing.
  firestore_extra_field_overrides = {
    # Long lists on a message that no query filters or orders on (correspondents serves address
    # queries): every element would be an index entry written with each copy.
    "messages/references"  = { collectionGroup = "messages", fieldPath = "references", indexes = [] }
    "messages/to"          = { collectionGroup = "messages", fieldPath = "to", indexes = [] }
    "messages/cc"          = { collectionGroup = "messages", fieldPath = "cc", indexes = [] }
    "messages/attachments" = { collectionGroup = "messages", fieldPath = "attachments", indexes = [] }
  }

  firestore_field_overrides = {
    for key, override in merge(
      local.firestore_extra_field_overrides,
      { for o in local.firestore_declarations.fieldOverrides : "${o.collectionGroup}/${o.fieldPath}" => o },
    ) :
    key => {
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
