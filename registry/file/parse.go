package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/swarmdns/swarmdns/registry"
)

// The registry file, as docs/registry-file.md describes it.
type fileRegistry struct {
	LocalNode string        `yaml:"local_node"`
	Networks  []fileNetwork `yaml:"networks"`
	Nodes     []fileNode    `yaml:"nodes"`
	Services  []fileService `yaml:"services"`
}

type fileNetwork struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`
	Subnets []string `yaml:"subnets"`
	Ingress bool     `yaml:"ingress"`
}

type fileNode struct {
	ID       string            `yaml:"id"`
	Hostname string            `yaml:"hostname"`
	Labels   map[string]string `yaml:"labels"`
}

type fileService struct {
	ID           string               `yaml:"id"`
	Name         string               `yaml:"name"`
	Mode         string               `yaml:"mode"`
	EndpointMode string               `yaml:"endpoint_mode"`
	Labels       map[string]string    `yaml:"labels"`
	Ports        []filePort           `yaml:"ports"`
	Networks     []fileServiceNetwork `yaml:"networks"`
	Tasks        []fileTask           `yaml:"tasks"`
}

type filePort struct {
	Name      string `yaml:"name"`
	Protocol  string `yaml:"protocol"`
	Target    int    `yaml:"target"`
	Published int    `yaml:"published"`
}

type fileServiceNetwork struct {
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	VIP     string   `yaml:"vip"`
}

type fileTask struct {
	ID        string              `yaml:"id"`
	Slot      int                 `yaml:"slot"`
	Node      string              `yaml:"node"`
	State     string              `yaml:"state"`
	Addresses map[string][]string `yaml:"addresses"`
}

// Load reads and validates a registry file. Errors name the file, the
// line, the field and the reason; every problem found is reported, not
// just the first.
func Load(path string) (*registry.Data, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registry %s: %w", path, err)
	}
	return Parse(path, raw)
}

// ErrEmpty is the error of a file with nothing in it but whitespace and
// comments: what an editor's truncate-then-write leaves for a moment. It
// is not a registry; one with no services says services: [].
var ErrEmpty = errors.New("the file is empty (nothing but whitespace and comments), which is not a registry; write services: [] for a registry with no services")

// Parse parses registry file contents; path only names it in errors.
func Parse(path string, raw []byte) (*registry.Data, error) {
	var f fileRegistry
	if !decodeInParts(raw, &f) {
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: %w", path, ErrEmpty)
			}
			return nil, decodeErrors(path, raw, err)
		}
	}
	v := newValidator(path, nil)
	d := v.data(&f)
	if len(v.errs) == 0 {
		return d, nil
	}
	// Lines matter only for errors, and the node tree that has them is
	// several times the size of the data: read it only now, and validate
	// again with it.
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, syntaxErrors(path, err)
	}
	v = newValidator(path, &root)
	v.data(&f)
	return nil, errors.Join(v.sorted()...)
}

// decodeErrors explains why the file did not decode: a field that does not
// exist or a value of the wrong kind, found on the node tree with its
// field path; or YAML that does not parse.
func decodeErrors(path string, raw []byte, err error) error {
	var root yaml.Node
	if yerr := yaml.Unmarshal(raw, &root); yerr != nil {
		return syntaxErrors(path, yerr)
	}
	if errs := checkShape(path, &root); len(errs) > 0 {
		return errors.Join(errs...)
	}
	return syntaxErrors(path, err)
}

// syntaxErrors turns the parser's "yaml: line 3: reason" messages into
// "path:3: YAML syntax: reason", one error per problem.
func syntaxErrors(path string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if num, reason, ok := strings.Cut(rest, ": "); ok {
				errs = append(errs, fmt.Errorf("%s:%s: YAML syntax: %s", path, num, reason))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s: YAML syntax: %s", path, m))
	}
	return errors.Join(errs...)
}
