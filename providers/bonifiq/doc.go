// Package bonifiq is reconcile's provider for the BonifiQ loyalty program's
// private API: the client that plans and makes the calls (upsert, PUT,
// changestatus, changetier), reads customers back, and a simulator of the
// documented contract that the sandbox mounts.
package bonifiq
