package file

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// decodeInParts decodes a registry file as Decode would, but service by
// service: yaml.v3 builds the node tree of what it decodes, and for the
// whole of a large file (100,000 tasks) that tree is several times the
// size of the data. Here each service's tree is garbage once the service
// is decoded, so loading peaks near the size of the data.
//
// It takes only the layout it can split for sure: a block mapping at
// column 0 whose services key holds a block sequence, with no document
// markers, anchors, aliases, tags or tabs in indentation. For anything
// else, and for any part that does not decode, it returns false and the
// caller decodes the whole file, which reports problems with their lines.
func decodeInParts(raw []byte, f *fileRegistry) bool {
	if bytes.ContainsAny(raw, "&*!") {
		return false // anchors, aliases and tags can tie the parts together
	}
	if !utf8.Valid(raw) {
		return false // the whole decoder says where, and refuses it
	}
	if bytes.Count(raw, []byte("\r")) != bytes.Count(raw, []byte("\r\n")) || bytes.ContainsRune(raw, '\u0085') || bytes.ContainsRune(raw, '\u2028') || bytes.ContainsRune(raw, '\u2029') {
		return false // YAML line breaks other than \n and \r\n: the parts are cut at \n
	}
	header, items, ok := splitServices(raw)
	if !ok {
		return false
	}
	var out fileRegistry
	if !decodeStrict(header, &out) || out.Services != nil {
		return false
	}
	out.Services = make([]fileService, 0, len(items))
	for _, item := range items {
		var one []fileService
		if !decodeStrict(item, &one) || len(one) != 1 {
			return false
		}
		out.Services = append(out.Services, one[0])
	}
	*f = out
	return true
}

// decodeStrict decodes one document of b into v with unknown fields
// refused, as Parse does.
func decodeStrict(b []byte, v any) bool {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(v)
	return err == nil || errors.Is(err, io.EOF)
}

// splitServices cuts raw into the file without the services' items, and
// each item (its lines, from its "- "). ok is false when raw is not laid
// out as decodeInParts requires or has no service items.
func splitServices(raw []byte) (header []byte, items [][]byte, ok bool) {
	var (
		start, end = -1, -1 // the items' byte range
		indent     = -1     // the items' "- " column
		itemAt     = -1     // where the current item began
		seen       bool     // a column-0 "services:" line was seen
	)
	for off := 0; off < len(raw); {
		nl := bytes.IndexByte(raw[off:], '\n')
		next := len(raw)
		if nl >= 0 {
			next = off + nl + 1
		}
		line := raw[off:next]
		body := bytes.TrimLeft(line, " ")
		col := len(line) - len(body)
		blank := len(bytes.TrimSpace(body)) == 0 || body[0] == '#'
		switch {
		case bytes.HasPrefix(body, []byte("\t")) || bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")):
			return nil, nil, false
		case blank:
		case start >= 0 && end < 0:
			// Inside the services' items.
			if indent < 0 {
				indent = col
			}
			switch {
			case col == indent && isItem(body):
				if itemAt >= 0 {
					items = append(items, raw[itemAt:off])
				}
				itemAt = off
			case col > indent:
			case col == 0 && !isItem(body):
				end = off // the next top-level key
			default:
				return nil, nil, false
			}
		case col == 0:
			if isServicesKey(body) {
				if seen {
					return nil, nil, false
				}
				seen, start = true, next
			}
		}
		off = next
	}
	if start < 0 || itemAt < 0 {
		return nil, nil, false
	}
	if end < 0 {
		end = len(raw)
	}
	items = append(items, raw[itemAt:end])
	header = append(append(append([]byte(nil), raw[:start]...), '\n'), raw[end:]...)
	return header, items, true
}

// isItem tells whether a line's text (after its indentation) begins a
// block sequence item.
func isItem(body []byte) bool {
	return len(body) >= 2 && body[0] == '-' && (body[1] == ' ' || body[1] == '\n' || body[1] == '\r')
}

// isServicesKey tells whether a column-0 line is "services:" with nothing
// after it but a comment: a block sequence follows.
func isServicesKey(body []byte) bool {
	rest, ok := bytes.CutPrefix(body, []byte("services:"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}
