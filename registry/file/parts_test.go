package file

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// decodeWhole is the decoder decodeInParts stands in for.
func decodeWhole(raw []byte) (fileRegistry, error) {
	var f fileRegistry
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return f, err
	}
	return f, nil
}

const partsServices = `services:
  - name: web
    id: id-web
    networks: [{name: appnet, vip: 10.0.9.2}]
    tasks:
      - {id: t1, slot: 1, node: n1, addresses: {appnet: [10.0.9.3]}}
      - id: t2
        slot: 2
        node: n1
        addresses:
          appnet: [10.0.9.4]
  # a comment between services
  - name: api
    endpoint_mode: dnsrr
    labels: {swarmdns.ttl: "5"}
    networks: [{name: appnet}]
    tasks: [{id: t3, slot: 1, node: n1, addresses: {appnet: [10.0.9.5]}}]
`

const partsHead = `local_node: n1
networks:
  - {name: appnet, id: net-app, subnets: [10.0.9.0/24]}
nodes:
  - {id: n1, hostname: one}
`

// partsCases are files decodeInParts takes (split) or leaves to the
// whole decoder.
var partsCases = []struct {
	name  string
	body  string
	split bool
}{
	{"services last", partsHead + partsServices, true},
	{"services first, other keys after them", partsServices + partsHead, true},
	{"items at column 0", partsHead + "services:\n- name: web\n  tasks: [{id: t1, slot: 1, node: n1}]\n- name: api\nnodes2: x\n", false},
	{"items at column 0 then a key", "services:\n- name: web\n- name: api\n" + partsHead, true},
	{"windows line ends", strings.ReplaceAll(partsHead+partsServices, "\n", "\r\n"), true},
	{"a comment after the services key", partsHead + "services: # all of them\n  - name: web\n", true},
	{"a quoted value over two lines", partsHead + "services:\n  - name: web\n    labels: {a: \"one\n      two\"}\n", true},
	{"a block scalar", partsHead + "services:\n  - name: web\n    labels:\n      note: |\n        - not an item\n        # not a comment\n", true},
	{"flow-style services", partsHead + "services: [{name: web}, {name: api}]\n", false},
	{"no services", partsHead, false},
	{"empty services", partsHead + "services: []\n", false},
	{"services key without items", partsHead + "services:\n", false},
	{"an anchor and an alias", partsHead + "services:\n  - name: web\n    labels: &l {a: b}\n  - name: api\n    labels: *l\n", false},
	{"a tag", partsHead + "services:\n  - name: !!str web\n", false},
	{"a document marker", "---\n" + partsHead + partsServices, false},
	{"services twice", partsHead + partsServices + partsServices, false},
	{"an unknown field in a service", partsHead + "services:\n  - name: web\n    colour: blue\n", false},
	{"an unknown top-level key", "colour: blue\n" + partsHead + partsServices, false},
	{"a tab in the indentation", partsHead + "services:\n  - name: web\n\ttasks: []\n", false},
	{"a line less indented than the items", partsHead + "services:\n    - name: web\n  - name: api\n", false},
	{"a service that is not a mapping", partsHead + "services:\n  - web\n", false},
}

func TestDecodeInPartsDecodesWhatTheWholeDecoderDoes(t *testing.T) {
	example, err := os.ReadFile("../../examples/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := append(partsCases[:0:0], partsCases...)
	cases = append(cases, struct {
		name  string
		body  string
		split bool
	}{"the example registry", string(example), true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got fileRegistry
			split := decodeInParts([]byte(tc.body), &got)
			if split != tc.split {
				t.Fatalf("decodeInParts took the file: %v, want %v", split, tc.split)
			}
			if !split {
				return
			}
			sameAsWhole(t, tc.body, got)
		})
	}
}

// FuzzDecodeInParts holds decodeInParts to the whole decoder on whatever
// it takes.
func FuzzDecodeInParts(f *testing.F) {
	for _, tc := range partsCases {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got fileRegistry
		if decodeInParts([]byte(body), &got) {
			sameAsWhole(t, body, got)
		}
	})
}

func sameAsWhole(t *testing.T, body string, got fileRegistry) {
	t.Helper()
	want, err := decodeWhole([]byte(body))
	if err != nil {
		t.Fatalf("the whole decoder fails on a file decoded in parts: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded in parts:\n%+v\nwhole:\n%+v", got, want)
	}
}

func TestParseReportsLinesOfAFileItCouldDecodeInParts(t *testing.T) {
	body := partsHead + partsServices + "  - name: db\n    networks: [{name: nonet}]\n"
	_, err := Parse("reg.yaml", []byte(body))
	if err == nil || !strings.Contains(err.Error(), "reg.yaml:24:") {
		t.Fatalf("Parse: %v, want an error at reg.yaml:24 (the db service's network)", err)
	}
}
