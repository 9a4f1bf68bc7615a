package config

import (
	"encoding"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// encodeNode builds the canonical YAML tree by hand: yaml.v3's own
// omitempty cannot see that a netip.Addr is set (its fields are
// unexported), and lists of scalars read better in flow style.
func encodeNode(v reflect.Value) (*yaml.Node, error) {
	if m, ok := v.Interface().(yaml.Marshaler); ok {
		out, err := m.MarshalYAML()
		if err != nil {
			return nil, err
		}
		if n, ok := out.(*yaml.Node); ok {
			return n, nil
		}
		return encodeNode(reflect.ValueOf(out))
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return nil, err
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(b)}, nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		return encodeNode(v.Elem())
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		t := v.Type()
		for i := range t.NumField() {
			name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			f := v.Field(i)
			if opts == "omitempty" && isEmpty(f) {
				continue
			}
			val, err := encodeNode(f)
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, val)
		}
		if len(m.Content) == 0 {
			m.Style = yaml.FlowStyle
		}
		return m, nil
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		scalars := true
		for i := range v.Len() {
			e, err := encodeNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			if e.Kind != yaml.ScalarNode {
				scalars = false
			}
			s.Content = append(s.Content, e)
		}
		if scalars {
			s.Style = yaml.FlowStyle
		}
		return s, nil
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}, nil
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}, nil
	}
	panic("config: cannot encode " + v.Type().String())
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice:
		return v.Len() == 0
	case reflect.Pointer:
		return v.IsNil()
	}
	return v.IsZero()
}
