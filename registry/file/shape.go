package file

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/swarmdns/swarmdns/internal/suggest"
)

// What each part of the file is, in the words of docs/registry-file.md.
var shapeNames = map[reflect.Type]string{
	reflect.TypeFor[fileRegistry]():       "the registry",
	reflect.TypeFor[fileNetwork]():        "a network",
	reflect.TypeFor[fileNode]():           "a node",
	reflect.TypeFor[fileService]():        "a service",
	reflect.TypeFor[filePort]():           "a port",
	reflect.TypeFor[fileServiceNetwork](): "a service's network",
	reflect.TypeFor[fileTask]():           "a task",
}

// checkShape finds where a file's node tree does not fit the schema: a
// field that does not exist (with the nearest one that does), a list where
// a value goes, a value that is not a number. These are the decoder's
// errors, told with the field path.
func checkShape(path string, root *yaml.Node) []error {
	s := shapeCheck{path: path}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	s.walk(n, reflect.TypeFor[fileRegistry](), nil)
	return s.errs
}

type shapeCheck struct {
	path string
	errs []error
}

func (s *shapeCheck) errorf(n *yaml.Node, where at, format string, args ...any) {
	place := ""
	if len(where) > 0 {
		place = where.String() + ": "
	}
	s.errs = append(s.errs, fmt.Errorf("%s:%d: %s%s", s.path, n.Line, place, fmt.Sprintf(format, args...)))
}

func (s *shapeCheck) walk(n *yaml.Node, t reflect.Type, where at) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // nothing: the zero value
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			s.errorf(n, where, "%s is a mapping of its fields (%s), not %s", shapeNames[t], strings.Join(fieldNames(t), ", "), kindOf(n))
			return
		}
		names := fieldNames(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			f, ok := fieldByTag(t, key)
			if !ok {
				hint := suggest.Hint(key, names)
				if hint == "" {
					hint = "; the fields of " + shapeNames[t] + " are " + strings.Join(names, ", ")
				}
				s.errorf(n.Content[i], append(where[:len(where):len(where)], key), "no such field in %s%s", shapeNames[t], hint)
				continue
			}
			s.walk(val, f.Type, append(where[:len(where):len(where)], key))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			s.errorf(n, where, "want a list, not %s", kindOf(n))
			return
		}
		for i, el := range n.Content {
			s.walk(el, t.Elem(), append(where[:len(where):len(where)], i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			s.errorf(n, where, "want a mapping of names to values, not %s", kindOf(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			s.walk(n.Content[i+1], t.Elem(), append(where[:len(where):len(where)], n.Content[i].Value))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			s.errorf(n, where, "want a single value, not %s", kindOf(n))
		}
	case reflect.Int:
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && isDigits(n.Value):
			s.errorf(n, where, "%q is quoted, which makes it text; write the number without quotes", n.Value)
		case n.Kind != yaml.ScalarNode || n.Tag != "!!int":
			s.errorf(n, where, "%s is not a whole number", describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			s.errorf(n, where, "%s is not true or false", describe(n))
		}
	}
}

// fieldNames are the YAML names of a struct's fields, in schema order.
func fieldNames(t reflect.Type) []string {
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			names = append(names, tag)
		}
	}
	return names
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("the value %q", n.Value)
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return strings.ToUpper(kindOf(n)[:1]) + kindOf(n)[1:]
}

func isDigits(v string) bool {
	return v != "" && strings.Trim(v, "0123456789") == ""
}
