// Package tomticket is reconcile's provider for the TomTicket helpdesk API
// v2.0: the client that plans and makes the calls (customer/update, with a
// customer/new fallback for creates), reads customers back, and a simulator
// of the documented contract, 3 requests per second included, that the
// sandbox mounts.
package tomticket
