package engine

import (
	"strings"
	"testing"
)

func TestRailProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sum    Summary
		state  int
		rails  Rails
		expect string
	}{
		{"within limits", Summary{Disable: 10, Forget: 5}, 10, Rails{MaxDisable: 10}, ""},
		{"too many disables", Summary{Disable: 11}, 100, Rails{MaxDisable: 10}, "disables 11 customers, more than -max-disable 10"},
		{"raised limit", Summary{Disable: 11}, 100, Rails{MaxDisable: 11}, ""},
		{"mass forget", Summary{Forget: 6}, 10, Rails{MaxDisable: 10}, "forgets 6 of the state's 10 addresses"},
		{"mass forget allowed", Summary{Forget: 6}, 10, Rails{MaxDisable: 10, AllowMassForget: true}, ""},
		{"exactly half", Summary{Forget: 5}, 10, Rails{MaxDisable: 10}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(RailProblems(&Plan{Summary: tc.sum}, tc.state, tc.rails), "\n")
			if (tc.expect == "") != (got == "") || !strings.Contains(got, tc.expect) {
				t.Errorf("got %q, want %q", got, tc.expect)
			}
		})
	}
}
