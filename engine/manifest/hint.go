package manifest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// suggest returns the candidate closest to word: one that matches it
// ignoring case, or else the nearest within a Levenshtein distance of 2
// (ignoring case), or "" when none is close. Very short words need a closer
// match, so that "x" does not suggest "id".
func suggest(word string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(word, c) {
			return c
		}
	}
	lw := strings.ToLower(word)
	n := utf8.RuneCountInString(word)
	best, bestD := "", 3
	for _, c := range candidates {
		// The distance is at least the difference in length: a long word
		// (a 100 MB heading) is far from every candidate, without the
		// quadratic cost of measuring it.
		if m := utf8.RuneCountInString(c); n > m+2 || m > n+2 {
			continue
		}
		if d := levenshtein(lw, strings.ToLower(c)); d < bestD && d < n {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean renders suggest's answer as a hint, or "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return ""
}

// levenshtein returns the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
