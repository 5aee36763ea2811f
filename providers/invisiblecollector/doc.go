// Package invisiblecollector is reconcile's provider for InvisibleCollector:
// the client that plans and makes the calls (PUT /customers/{id}, with a
// POST /customers fallback for creates), reads customers back, and a
// simulator of the documented contract that the sandbox mounts.
package invisiblecollector
