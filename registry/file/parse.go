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

// taskStates are Swarm's task states; only running is published.
// Load reads and validates a registry file. Errors name the file, the
// line and the reason; every problem found is reported, not just the first.
func Load(path string) (*registry.Data, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registry %s: %w", path, err)
	}
	return Parse(path, raw)
}

// Parse parses registry file contents; path only names it in errors.
func Parse(path string, raw []byte) (*registry.Data, error) {
	var f fileRegistry
	if !decodeInParts(raw, &f) {
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlErrors(path, err)
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
		return nil, yamlErrors(path, err)
	}
	v = newValidator(path, &root)
	v.data(&f)
	return nil, errors.Join(v.errs...)
}

// yamlErrors turns the decoder's "yaml: line 3: reason" messages into
// "path:3: reason", one error per problem.
func yamlErrors(path string, err error) error {
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
				errs = append(errs, fmt.Errorf("%s:%s: %s", path, num, reason))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, m))
	}
	return errors.Join(errs...)
}
