package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// exactMembers refuses what encoding/json lets through into v's type t: a member whose name
// is a field's only in another case ("USERNAME" for "username"), and a name given twice in
// one object (the last would win). Either would let something in front of Twofold read the
// body otherwise than Twofold does. Nested objects are checked against their fields too. raw
// has been decoded into a value of t already, so it is valid JSON.
func exactMembers(raw []byte, t reflect.Type) error {
	return exactValue(json.NewDecoder(bytes.NewReader(raw)), t)
}

// badMember says which member of a body exactMembers refused: a name the body holds, which is
// not its content, and so may be told back.
type badMember string

func (b badMember) Error() string { return string(b) }

func exactValue(dec *json.Decoder, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		fields := fieldTypes(t)
		var seen []string // a body's objects have a few members
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			if slices.Contains(seen, name) {
				return badMember(fmt.Sprintf("the field %q is given twice", name))
			}
			seen = append(seen, name)
			var ft reflect.Type
			switch {
			case fields != nil:
				if ft = fields[name]; ft == nil {
					return badMember(fmt.Sprintf("unknown field %q", name))
				}
			case t != nil && t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if err := exactValue(dec, ft); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := exactValue(dec, elem); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// knownFields holds fieldTypes' answer for each type met, since every request of an endpoint
// asks it of the same type.
var knownFields sync.Map // reflect.Type → map[string]reflect.Type

// fieldTypes answers the JSON names of struct type t's fields, as encoding/json names them,
// with their types; nil when t is no struct (a map, an interface: any name is taken).
func fieldTypes(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := knownFields.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Tag.Get("json") == "" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	knownFields.Store(t, fields)
	return fields
}
