// Package suggest finds the known word a user most likely meant when they
// typed an unknown one: a setting, a field, a scheduler name.
package suggest

// Nearest returns the word of known closest to s, or "" when none is close
// enough to be a likely typo: at most two edits away (an insertion,
// deletion, substitution, or swap of two neighbours) and fewer edits than
// s has characters. Case and the difference between '-' and '_' are
// ignored.
func Nearest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := distance(fold(s), fold(k))
		if d < bestD && d < len(s) {
			best, bestD = k, d
		}
	}
	return best
}

// Hint is Nearest as the tail of a message: "; did you mean ttl?", or ""
// when nothing is close.
func Hint(s string, known []string) string {
	if n := Nearest(s, known); n != "" {
		return "; did you mean " + n + "?"
	}
	return ""
}

func fold(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == '-':
			b[i] = '_'
		}
	}
	return string(b)
}

// distance is the optimal string alignment distance of a and b: edits
// (insert, delete, substitute, swap neighbours) that turn one into the
// other, each character edited once.
func distance(a, b string) int {
	// Three rows of the table: two back, one back, this one.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
