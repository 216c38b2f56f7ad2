output "name" {
  description = "Short topic name, as the code publishes to it."
  value       = google_pubsub_topic.this.name
}

output "id" {
  description = "Full topic id, projects/<project>/topics/<name>."
  value       = google_pubsub_topic.this.id
}
