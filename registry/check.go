package registry

import "fmt"

// The checks below are the builder's own: it skips, with a warning, a name
// or label value that fails them. A source that validates its input (the
// registry file, for `swarmdns check`) reports them as errors instead.

// CheckLabel reports whether l can be one label of a served name: 1 to 63
// bytes, no dot, space, control or zone-file special character.
func CheckLabel(l string) error { return checkLabel(l) }

// CheckName reports whether a bare name (an alias) can be served: labels
// that pass CheckLabel, 253 bytes at most.
func CheckName(n string) error { return checkName(n) }

// CheckPort reports whether a port can have SRV records: a protocol of
// tcp, udp or sctp, and a name, if any, that passes CheckLabel.
func CheckPort(p Port) error { return checkPort(p) }

// CheckLabelValue reports whether value is valid for the swarmdns label
// key: LabelWeight, LabelPorts, LabelTTL or LabelResolve. Other keys pass;
// a LabelScheduler value is a policy name, which only the build's
// configuration can tell.
func CheckLabelValue(key, value string) error {
	var err error
	switch key {
	case LabelWeight:
		_, err = parseWeight(value)
	case LabelPorts:
		_, err = ParsePorts(value)
	case LabelTTL:
		_, err = parseTTL(value)
	case LabelResolve:
		if value != "tasks" && value != "vip" {
			err = fmt.Errorf("%q: want tasks or vip", value)
		}
	}
	return err
}
