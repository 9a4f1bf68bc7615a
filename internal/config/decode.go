package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder walks yaml.Node trees by hand instead of calling
// yaml.Unmarshal so that every error can carry the line of the offending
// value, unknown keys are rejected with a suggestion, and all problems in a
// file are reported at once rather than only the first.

// nodeUnmarshaler is implemented by the types whose YAML form is not a plain
// struct (remote-as accepts a number, a keyword or a range; bfd accepts a bool
// or a map).
type nodeUnmarshaler interface {
	unmarshalNode(n *yaml.Node) error
}

// nodeDecoder is implemented by types that decode part of their YAML with
// the decoder itself, so that fields nested in them keep their own lines.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

type decoder struct {
	file  string
	errs  []string
	lines map[string]int // field path -> line of its value, for validation errors
}

func (d *decoder) errorf(line int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		d.errs = append(d.errs, fmt.Sprintf("%s:%d: %s", d.file, line, msg))
		return
	}
	d.errs = append(d.errs, fmt.Sprintf("%s:%d: %s: %s", d.file, line, path, msg))
}

var (
	unmarshalerType = reflect.TypeFor[nodeUnmarshaler]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.Tag == "!!null" {
		return "an empty value"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.errorf(n.Line, path, "YAML aliases are not supported; write the value out")
		return
	}
	d.lines[path] = n.Line
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(nodeUnmarshaler).unmarshalNode(n); err != nil {
			d.errorf(n.Line, path, "%v", err)
		}
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textType) {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.errorf(n.Line, path, "got %s; want %s", kindName(n), describe(v.Type()))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.errorf(n.Line, path, "invalid %s %q; want %s", describe(v.Type()), n.Value, describe(v.Type()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n.Line, path, "got %s; want a list", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.errorf(n.Line, path, "got %s; want a string", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n.Line, path, "got %s; want true or false", kindName(n))
			return
		}
		switch n.Value {
		case "true", "True", "TRUE":
			v.SetBool(true)
		case "false", "False", "FALSE":
			v.SetBool(false)
		default:
			d.errorf(n.Line, path, "got %s; want true or false", kindName(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		i, err := parseInt(n, bits)
		if err != nil {
			d.errorf(n.Line, path, "got %s; want an integer %d..%d", kindName(n), -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := v.Type().Bits()
		u, err := parseUint(n, bits)
		if err != nil {
			d.errorf(n.Line, path, "got %s; want an integer 0..%d", kindName(n), uint64(1)<<bits-1)
			return
		}
		v.SetUint(u)
	default:
		panic("config: unsupported field type " + v.Type().String())
	}
}

func parseInt(n *yaml.Node, bits int) (int64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return 0, fmt.Errorf("not an integer")
	}
	return strconv.ParseInt(n.Value, 10, bits)
}

func parseUint(n *yaml.Node, bits int) (uint64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return 0, fmt.Errorf("not an integer")
	}
	return strconv.ParseUint(n.Value, 10, bits)
}

type fieldInfo struct {
	name  string
	index int
}

func fieldsOf(t reflect.Type) []fieldInfo {
	var fs []fieldInfo
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		fs = append(fs, fieldInfo{name, i})
	}
	return fs
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return // an empty section ("log:") means all defaults
		}
		d.errorf(n.Line, path, "got %s; want a map", kindName(n))
		return
	}
	fs := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kp := k.Value
		if path != "" {
			kp = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be plain names, got %s", kindName(k))
			continue
		}
		var f *fieldInfo
		for j := range fs {
			if fs[j].name == k.Value {
				f = &fs[j]
			}
		}
		if f == nil {
			sep := "; valid: "
			sug := suggest(k.Value, fs)
			if sug != "" {
				sep = " valid: "
			}
			d.errorf(k.Line, kp, "unknown field%s%s%s", sug, sep, validNames(fs))
			continue
		}
		if seen[k.Value] {
			d.errorf(k.Line, kp, "given twice; give each field once")
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.Field(f.index), kp)
	}
}

func validNames(fs []fieldInfo) string {
	var ns []string
	for _, f := range fs {
		ns = append(ns, f.name)
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

// suggest names the closest valid key, which catches the usual slips:
// snake_case for kebab-case, a missing letter, a swapped pair.
func suggest(key string, fs []fieldInfo) string {
	norm := strings.ReplaceAll(strings.ToLower(key), "_", "-")
	best, bestD := "", 4
	for _, f := range fs {
		if f.name == norm {
			return "; did you mean " + f.name + "?"
		}
		if dd := editDistance(norm, f.name); dd < bestD {
			best, bestD = f.name, dd
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names what a value of type t must look like, for error messages.
func describe(t reflect.Type) string {
	switch t.String() {
	case "netip.Addr":
		return "an IP address like 10.0.0.1 or fd00::1"
	case "netip.Prefix":
		return "a prefix like 10.0.0.0/24 or fd00::/64"
	}
	return t.String()
}
