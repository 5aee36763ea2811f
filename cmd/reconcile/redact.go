package main

import (
	"encoding/base64"
	"strings"
)

// credentialVars are the environment variables that hold credentials.
var credentialVars = []string{"BONIFIQ_API_TOKEN", "BONIFIQ_API_KEY", "INVISIBLECOLLECTOR_API_TOKEN", "TOMTICKET_API_TOKEN"}

// redactor removes credentials from text reconcile prints, logs or writes.
// The providers never put credentials in errors, but a service's error body
// is quoted in messages, and a service could echo what it received: this
// is the last line of defence.
func (c *cli) redactor() *strings.Replacer {
	var pairs []string
	add := func(secret string) {
		if len(secret) >= 4 {
			pairs = append(pairs, secret, "[redacted]")
		}
	}
	for _, v := range credentialVars {
		add(c.getenv(v))
	}
	if tok, key := c.getenv("BONIFIQ_API_TOKEN"), c.getenv("BONIFIQ_API_KEY"); tok != "" && key != "" {
		add(base64.StdEncoding.EncodeToString([]byte(tok + ":" + key)))
	}
	return strings.NewReplacer(pairs...)
}

// redact removes credentials from s. It is safe for concurrent use: run
// builds c.scrub, from the environment's credentials, before any command.
func (c *cli) redact(s string) string {
	if c.scrub == nil {
		return s
	}
	return c.scrub.Replace(s)
}
