package main

import (
	"strings"
)

// redactor removes credentials from text reconcile prints, logs or writes:
// every registered service's credential variables, and the other forms they
// take on the wire (Service.SecretForms). The providers never put
// credentials in errors, but a service's error body is quoted in messages,
// and a service could echo what it received: this is the last line of
// defence.
func (c *cli) redactor() *strings.Replacer {
	var pairs []string
	add := func(secret string) {
		if len(secret) >= 4 {
			pairs = append(pairs, secret, "[redacted]")
		}
	}
	for _, svc := range c.reg.Services() {
		for _, v := range svc.CredentialVars() {
			add(c.getenv(v))
		}
		if svc.SecretForms != nil {
			for _, s := range svc.SecretForms(c.getenv) {
				add(s)
			}
		}
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
