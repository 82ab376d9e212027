package suggest

import "testing"

func TestNearest(t *testing.T) {
	settings := []string{"ttl", "tcp-idle-timeout", "domain", "log-level"}
	fields := []string{"id", "name", "mode", "endpoint_mode", "labels", "ports", "networks", "tasks"}
	tests := []struct {
		name  string
		s     string
		known []string
		want  string
	}{
		{"two swapped letters", "tll", settings, "ttl"},
		{"a missing underscore", "endpointmode", fields, "endpoint_mode"},
		{"a dash for an underscore counts as no edit", "endpoint-mode", fields, "endpoint_mode"},
		{"case counts as no edit", "Domain", settings, "domain"},
		{"a missing letter", "servces", []string{"services", "networks"}, "services"},
		{"a swap in a scheduler name", "weigthed", []string{"random", "roundrobin", "weighted"}, "weighted"},
		{"nothing close suggests nothing", "colour", settings, ""},
		{"a one-letter word is not a typo of a two-letter one", "x", []string{"id"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Nearest(tt.s, tt.known); got != tt.want {
				t.Errorf("Nearest(%q) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}

func TestHintSaysDidYouMean(t *testing.T) {
	if got := Hint("tll", []string{"ttl"}); got != "; did you mean ttl?" {
		t.Errorf("Hint = %q", got)
	}
	if got := Hint("zzz", []string{"ttl"}); got != "" {
		t.Errorf("Hint = %q, want none", got)
	}
}
