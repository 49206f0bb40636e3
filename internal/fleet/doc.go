// Package fleet holds stackfleet's domain types — accounts, targets, stack sets, plans,
// operations, statuses and events — and the pure rules of StackSets semantics over them.
// It imports neither the AWS SDK nor database/sql: adapters depend on it, never the reverse.
package fleet
