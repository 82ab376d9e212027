package registry

import (
	"fmt"
	"os"
)

// The registry's tests read registry files (examples/registry.yaml, the
// fuzz inputs) with the file source's parser. registry/file imports
// registry, so only the external test package may import it: it hands the
// parser over in an init (fileparser_ext_test.go), which runs before any
// test does.
var parseFile func(path string, raw []byte) (*Data, error)

// SetFileParser takes the parser of registry/file.
func SetFileParser(parse func(path string, raw []byte) (*Data, error)) { parseFile = parse }

// ParseFile parses registry file contents as registry/file does.
func ParseFile(path string, raw []byte) (*Data, error) { return parseFile(path, raw) }

// LoadFile reads and parses a registry file as registry/file does.
func LoadFile(path string) (*Data, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registry %s: %w", path, err)
	}
	return parseFile(path, raw)
}
