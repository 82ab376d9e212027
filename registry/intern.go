package registry

// interner hands out one copy of each string it is given, so that the
// many tasks that name the same service, node, state or network share it
// instead of each keeping the copy its decoder made.
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	in[s] = s
	return s
}
